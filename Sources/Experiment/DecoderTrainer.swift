import Foundation
import FinchModels
import FinchOptim
import FinchPEFT
import FinchTensor
import FinchTokenizers

/// Trains a decoder: as a causal LM on tokenized examples (loss on trained tokens only, the prompt
/// masked; right-padded or packed batches; perplexity on a validation set every `evalEvery` steps), or as
/// a sequence classifier. Seeded shuffling, gradient accumulation, clipping, the optimizer and
/// learning-rate schedule of `options`.
/// A loss or gradient that is not finite stops the run before the optimizer touches the weights.
public final class DecoderTrainer {
    public let model: DecoderModel
    public let parameters: [Parameter]
    public let options: TrainingOptions
    public let adapters: DecoderLoRA?
    public let padId: Int
    /// Set from another thread to stop at the next micro-batch boundary.
    public var cancellation: CancellationToken?
    public internal(set) var state: TrainerState
    public let optimizer: any Optimizer
    /// Validation perplexities so far (step, loss, perplexity).
    public private(set) var evaluations: [(step: Int, loss: Double, perplexity: Double)] = []
    private let activations = DecoderActivations(keepsEveryLayer: true)

    public init(model: DecoderModel, parameters: [Parameter], adapters: DecoderLoRA?, padId: Int, options: TrainingOptions) throws {
        try options.validate()
        guard !parameters.isEmpty else { throw TrainingError("nothing to train: every parameter is frozen") }
        self.model = model
        self.parameters = parameters
        self.adapters = adapters
        self.padId = padId
        self.options = options
        do {
            optimizer = try makeOptimizer(options.optimizer, parameters: parameters, weightDecay: options.weightDecay)
        } catch {
            throw TrainingError("optim=\(options.optimizer.name): \(error)")
        }
        state = TrainerState(seed: options.seed)
    }

    /// Trains from where the run stands to its last step.
    @discardableResult
    public func train(_ data: CausalExamples, validation: CausalExamples? = nil,
                      progress: (TrainingEvent) -> TrainingDecision = { _ in .proceed }) throws -> TrainingSummary {
        let rows = data.trainable
        guard !rows.isEmpty else {
            throw TrainingError("no example has a token to learn: every response is empty or cut off by max_length=\(options.maxLength)")
        }
        return try run(rows: rows, progress: progress, evaluate: validation.map { validation in
            { [unowned self] in
                let loss = try self.evaluate(validation)
                self.evaluations.append((self.state.step, loss.mean, exp(loss.mean)))
            }
        }) { [unowned self] chosen in
            let batch = options.pack ? data.packedBatch(chosen, padId: padId, maxLength: options.maxLength) : data.batch(chosen, padId: padId)
            try model.forward(batch, activations: activations)
            let loss = model.languageModelLoss(batch, activations: activations, gradient: true, gradientScale: 1 / Float(options.accumulate))
            guard loss.mean.isFinite else { return loss.mean }
            model.backward(batch, activations: activations)
            return loss.mean
        }
    }

    /// Trains the decoder as a sequence classifier (its score head on each text's last token) on token ids
    /// and class labels; the mean cross-entropy of each micro-batch is its loss.
    @discardableResult
    public func train(classification texts: [[Int32]], labels: [Int], progress: (TrainingEvent) -> TrainingDecision = { _ in .proceed }) throws -> TrainingSummary {
        guard !texts.isEmpty else { throw TrainingError("no training rows") }
        return try run(rows: Array(texts.indices), progress: progress, evaluate: nil) { [unowned self] chosen in
            let batch = DecoderClassification.batch(chosen.map { texts[$0] }, padId: padId)
            try model.forward(batch, activations: activations)
            let logits = try model.classificationLogits(batch, activations: activations)
            let (loss, gradient) = try options.loss.lossAndGradient(logits: logits, labels: chosen.map { labels[$0] })
            guard loss.isFinite else { return loss }
            Kernels.scale(gradient.data, by: 1 / Float(options.accumulate), count: gradient.count)
            try model.classificationBackward(batch, activations: activations, logitsGradient: gradient)
            return loss
        }
    }

    /// The loop both tasks share: `microStep` runs forward and backward on the chosen rows and returns the loss.
    private func run(rows: [Int], progress: (TrainingEvent) -> TrainingDecision, evaluate: (() throws -> Void)?,
                     microStep: ([Int]) throws -> Double) throws -> TrainingSummary {
        if state.totalSteps == 0 {
            let batchesPerEpoch = (rows.count + options.batchSize - 1) / options.batchSize
            state.totalSteps = options.maxSteps ?? max(1, batchesPerEpoch / options.accumulate) * options.epochs
        }
        let schedule = try LearningRateSchedule(kind: options.schedule, baseRate: options.learningRate,
                                                warmup: options.warmup, totalSteps: state.totalSteps)
        let started = DispatchTime.now().uptimeNanoseconds
        adapters?.setTraining(true)
        defer { adapters?.setTraining(false) }
        for p in parameters { p.zeroGradient() }
        var stopReason: String?
        let firstStep = state.step
        while state.step < state.totalSteps {
            guard let report = try trainStep(rows: rows, schedule: schedule, firstStep: firstStep, started: started, microStep: microStep) else {
                stopReason = "interrupted"
                break
            }
            let decision = progress(.step(report))
            if let evaluate, let every = options.evalEvery, state.step % every == 0 || state.step == state.totalSteps {
                adapters?.setTraining(false)
                try evaluate()
                adapters?.setTraining(true)
            }
            if decision == .stop, state.step < state.totalSteps { stopReason = "stopped" }
            if stopReason != nil { break }
        }
        let summary = TrainingSummary(steps: state.step, losses: state.losses,
                                      seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
                                      stopReason: stopReason, restoredBestStep: nil)
        _ = progress(.finished(summary))
        return summary
    }

    /// One optimizer step over `accumulate` micro-batches, each micro-batch's loss weighted equally;
    /// nil when cancelled before the step finished (nothing changed).
    private func trainStep(rows: [Int], schedule: LearningRateSchedule, firstStep: Int, started: UInt64,
                           microStep: ([Int]) throws -> Double) throws -> TrainingStepReport? {
        let stepStart = DispatchTime.now().uptimeNanoseconds
        let stepNumber = state.step + 1
        var stepLoss = 0.0, examples = 0
        let positionBefore = (state.order, state.cursor, state.epoch, state.dataRandom)
        for _ in 0..<options.accumulate {
            if cancellation?.isCancelled == true {
                for p in parameters { p.zeroGradient() }
                (state.order, state.cursor, state.epoch, state.dataRandom) = positionBefore
                return nil
            }
            if state.cursor >= state.order.count {
                var order = rows
                state.dataRandom.shuffle(&order)
                state.order = order
                state.cursor = 0
                state.epoch += 1
            }
            let chosen = Array(state.order[state.cursor..<min(state.cursor + options.batchSize, state.order.count)])
            state.cursor += chosen.count
            let loss = try microStep(chosen)
            guard loss.isFinite else {
                for p in parameters { p.zeroGradient() }
                throw TrainingError("step \(stepNumber): the loss is \(loss). The weights are as they were before step \(stepNumber); try a lower lr or clip=1.0")
            }
            stepLoss += loss
            examples += chosen.count
        }
        let norm = options.clip.map { GradientClipping.clip(parameters, maxNorm: $0) } ?? GradientClipping.globalNorm(parameters)
        guard norm.isFinite else {
            for p in parameters { p.zeroGradient() }
            throw TrainingError("step \(stepNumber): the gradient norm is \(norm). The weights are as they were before step \(stepNumber); try a lower lr")
        }
        let rate = schedule.rate(at: state.step)
        optimizer.step(learningRate: rate)
        for p in parameters { p.zeroGradient() }
        state.step = stepNumber
        state.losses.append(stepLoss / Double(options.accumulate))
        let now = DispatchTime.now().uptimeNanoseconds
        let perStep = Double(now - started) / 1e9 / Double(stepNumber - firstStep)
        return TrainingStepReport(step: stepNumber, totalSteps: state.totalSteps, epoch: state.epoch, loss: state.losses.last!,
                                  learningRate: rate, gradientNorm: norm,
                                  samplesPerSecond: Double(examples) / (Double(now - stepStart) / 1e9),
                                  secondsRemaining: perStep * Double(state.totalSteps - stepNumber))
    }

    /// Mean token loss over `data` (adapter dropout off), in batches of `options.batchSize`.
    public func evaluate(_ data: CausalExamples) throws -> LanguageModelLoss {
        adapters?.setTraining(false)
        defer { adapters?.setTraining(true) }
        return try CausalLMEvaluation.loss(model: model, data: data, padId: padId, batchSize: options.batchSize)
    }
}

/// Held-out loss and perplexity of a causal LM.
public enum CausalLMEvaluation {
    /// Total token loss over every example with a trained token (sum over tokens, so the mean is per token).
    public static func loss(model: DecoderModel, data: CausalExamples, padId: Int, batchSize: Int) throws -> LanguageModelLoss {
        let rows = data.trainable
        let activations = DecoderActivations(keepsEveryLayer: false)
        var total = LanguageModelLoss()
        for start in stride(from: 0, to: rows.count, by: max(1, batchSize)) {
            let batch = data.batch(Array(rows[start..<min(start + batchSize, rows.count)]), padId: padId)
            try model.forward(batch, activations: activations)
            let part = model.languageModelLoss(batch, activations: activations, gradient: false)
            total.sum += part.sum
            total.tokens += part.tokens
        }
        return total
    }
}

/// A decoder used as a sequence classifier: batches, predictions.
public enum DecoderClassification {
    /// Texts tokenized as the model's tokenizer does (special tokens added), cut to `maxLength`.
    public static func tokenize(_ texts: [String], tokenizer: any Tokenizer, maxLength: Int) -> [[Int32]] {
        texts.map { tokenizer.encode($0, pair: nil, addSpecialTokens: true, maxLength: maxLength).ids.map { Int32($0) } }
    }

    /// Right-padded rows (an empty text keeps one pad token so every row has a last token).
    public static func batch(_ rows: [[Int32]], padId: Int) -> DecoderBatch {
        let length = max(1, rows.map(\.count).max() ?? 1)
        var ids = [Int32](repeating: Int32(padId), count: rows.count * length)
        for (r, row) in rows.enumerated() { for (s, id) in row.enumerated() { ids[r * length + s] = id } }
        return DecoderBatch(batchSize: rows.count, sequenceLength: length, ids: ids,
                            mask: CausalMask(batch: rows.count, sequence: length, lengths: rows.map { max(1, $0.count) }))
    }

    /// Class probabilities and predicted labels of every text.
    public static func predict(_ texts: [[Int32]], model: DecoderModel, padId: Int, batchSize: Int = 16) throws -> ClassifierPredictions {
        let activations = DecoderActivations(keepsEveryLayer: false)
        var predictions = ClassifierPredictions()
        for start in stride(from: 0, to: texts.count, by: batchSize) {
            let batch = Self.batch(Array(texts[start..<min(start + batchSize, texts.count)]), padId: padId)
            try model.forward(batch, activations: activations)
            predictions.append(logits: try model.classificationLogits(batch, activations: activations))
        }
        return predictions
    }
}
