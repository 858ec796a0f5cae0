import Foundation
import FinchCheckpoint
import FinchData
import FinchModels
import FinchOptim
import FinchPEFT
import FinchTensor
import FinchTokenizers

/// What training reports as it goes; the callback answers whether to go on.
public enum TrainingEvent: Sendable {
    case step(TrainingStepReport)
    case evaluated(EvaluationReport)
    case checkpointed(URL)
    case finished(TrainingSummary)
}

public enum TrainingDecision: Sendable { case proceed, stop }

/// One optimizer step.
public struct TrainingStepReport: Sendable, Equatable {
    public let step: Int
    public let totalSteps: Int
    public let epoch: Int
    /// Mean loss over the step's examples.
    public let loss: Double
    public let learningRate: Double
    /// Global gradient norm before clipping.
    public let gradientNorm: Double
    public let samplesPerSecond: Double
    /// Estimated seconds to the last step, from the mean step time of this run so far.
    public let secondsRemaining: Double
}

/// How a run ended.
public struct TrainingSummary: Sendable, Equatable {
    public let steps: Int
    public let losses: [Double]
    public let seconds: Double
    /// Why the run ended before its last step: "stopped" (the callback), "early stopping", or nil.
    public let stopReason: String?
    /// The step whose weights the model holds at the end when the best were restored.
    public let restoredBestStep: Int?
    public var stoppedEarly: Bool { stopReason != nil }
}

/// Trains a sequence classifier: seeded shuffling, dynamically padded batches, gradient accumulation,
/// clipping, AdamW (or 8-bit or paged AdamW, `options.optimizer`) with a learning-rate schedule, the model's dropout, evaluation every N steps with
/// early stopping and keep-the-best, and checkpoints from which `resume` continues bit-identically.
/// A loss or gradient that is not finite stops the run before the optimizer touches the weights.
public final class ClassifierTrainer {
    public let encoder: Encoder
    public let tokenizer: any Tokenizer
    public let parameters: [Parameter]
    public let options: TrainingOptions
    /// LoRA adapters being trained, if any (their dropout follows train/eval mode and their generators
    /// are checkpointed).
    public let adapters: LoRAModel?
    /// Where checkpoints go when `options.saveEvery` is set.
    public var checkpointFolder: URL?
    /// Set from another thread to stop the run at the next micro-batch boundary (the step in progress
    /// is abandoned, so the weights stay those of the last finished step).
    public var cancellation: CancellationToken?
    /// Recorded as base_model_name_or_path in saved adapters.
    public var baseModelName = ""
    public internal(set) var state: TrainerState
    /// The optimizer `options.optimizer` names; its state is checkpointed with the run.
    public let optimizer: any Optimizer
    private let step: ClassifierStep
    /// The trained parameters' values at the best evaluation so far.
    var bestParameterValues: [Tensor]?

    /// The model-dropout generator's state (nil without model dropout).
    var dropoutRandom: SeededRandom? {
        get { step.dropout?.random }
        set { if let newValue { step.dropout?.random = newValue } }
    }

    public init(encoder: Encoder, tokenizer: any Tokenizer, parameters: [Parameter], adapters: LoRAModel? = nil,
                options: TrainingOptions) throws {
        try options.validate()
        guard !parameters.isEmpty else { throw TrainingError("nothing to train: every parameter is frozen") }
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.parameters = parameters
        self.adapters = adapters
        self.options = options
        do {
            optimizer = try makeOptimizer(options.optimizer, parameters: parameters, weightDecay: options.weightDecay)
        } catch {
            throw TrainingError("optim=\(options.optimizer.name): \(error)")
        }
        step = ClassifierStep(config: encoder.config)
        state = TrainerState(seed: options.seed)
        if options.modelDropout {
            step.dropout = Dropout(seed: state.dataRandom.next(), config: encoder.config)
        }
    }

    /// Trains on `data` from where the run stands (step 0, or a restored checkpoint) to its last step,
    /// evaluating on `validation` when given.
    @discardableResult
    public func train(_ data: LabeledTexts, validation: LabeledTexts? = nil,
                      progress: (TrainingEvent) -> TrainingDecision = { _ in .proceed }) throws -> TrainingSummary {
        guard data.count > 0 else { throw TrainingError("no training rows") }
        guard let head = encoder.head, head.labelCount == data.labelNames.count else {
            throw TrainingError("the model's head has \(encoder.head?.labelCount ?? 0) labels but the data has \(data.labelNames.count) (\(data.labelNames.joined(separator: ", ")))")
        }
        let fingerprint = Self.fingerprint(data)
        if state.step > 0, state.dataFingerprint != fingerprint {
            throw TrainingError("the checkpoint was trained on other data (\(state.dataFingerprint)); this data is \(fingerprint)")
        }
        state.dataFingerprint = fingerprint
        let encoded = try TokenizedTexts(texts: data.texts, tokenizer: tokenizer, maxLength: options.maxLength, config: encoder.config)
        let validationRows = try validation.map {
            try TokenizedTexts(texts: $0.texts, tokenizer: tokenizer, maxLength: options.maxLength, config: encoder.config)
        }
        if state.totalSteps == 0 {
            let batchesPerEpoch = (data.count + options.batchSize - 1) / options.batchSize
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
            guard let report = try trainStep(data: data, encoded: encoded, schedule: schedule, firstStep: firstStep, started: started) else {
                stopReason = "interrupted"
                break
            }
            var decision = progress(.step(report))
            if let validation, let validationRows, let every = options.evalEvery,
               state.step % every == 0 || state.step == state.totalSteps {
                let evaluation = try evaluateNow(validation, encoded: validationRows)
                if progress(.evaluated(evaluation)) == .stop { decision = .stop }
                if let patience = options.patience, state.evaluationsWithoutImprovement >= patience {
                    stopReason = "early stopping: no better \(options.best.rawValue) for \(patience) evaluations"
                }
            }
            if let every = options.saveEvery, let folder = checkpointFolder, state.step % every == 0 || state.step == state.totalSteps {
                _ = progress(.checkpointed(try saveCheckpoint(in: folder)))
            }
            if decision == .stop, stopReason == nil, state.step < state.totalSteps { stopReason = "stopped" }
            if stopReason != nil { break }
        }
        if let validation, let validationRows, options.evalEvery == nil, stopReason == nil {
            _ = progress(.evaluated(try evaluateNow(validation, encoded: validationRows)))
        }
        var restored: Int?
        if options.restoreBest, let bestWeights = bestParameterValues, let bestStep = state.bestStep, bestStep != state.step {
            for (p, w) in zip(parameters, bestWeights) { p.value.data.update(from: w.data, count: w.count) }
            restored = bestStep
        }
        let summary = TrainingSummary(steps: state.step, losses: state.losses,
                                      seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
                                      stopReason: stopReason, restoredBestStep: restored)
        _ = progress(.finished(summary))
        return summary
    }

    /// One optimizer step over `accumulate` micro-batches; nil when cancelled (nothing changed, the data
    /// position included).
    private func trainStep(data: LabeledTexts, encoded: TokenizedTexts, schedule: LearningRateSchedule,
                           firstStep: Int, started: UInt64) throws -> TrainingStepReport? {
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
                var order = Array(0..<data.count)
                state.dataRandom.shuffle(&order)
                if options.groupByLength { order = encoded.groupedByLength(order, batchSize: options.batchSize) }
                state.order = order
                state.cursor = 0
                state.epoch += 1
            }
            let rows = Array(state.order[state.cursor..<min(state.cursor + options.batchSize, state.order.count)])
            state.cursor += rows.count
            let batch = encoded.batch(rows, padId: tokenizer.padId)
            let logits = try step.forward(encoder, batch)
            let (loss, gradient) = try options.loss.lossAndGradient(logits: logits, labels: rows.map { data.labels[$0] })
            guard loss.isFinite else {
                for p in parameters { p.zeroGradient() }
                throw TrainingError("step \(stepNumber): the loss is \(loss)\(state.losses.last.map { "; the last finite loss was \(String(format: "%.4f", $0)) at step \(state.losses.count)" } ?? ""). The weights are as they were before step \(stepNumber); try a lower lr or clip=1.0")
            }
            Kernels.scale(gradient.data, by: 1 / Float(options.accumulate), count: gradient.count)
            step.backward(encoder, batch, logitsGradient: gradient)
            stepLoss += loss * Double(rows.count)
            examples += rows.count
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
        state.losses.append(stepLoss / Double(examples))
        let now = DispatchTime.now().uptimeNanoseconds
        let seconds = Double(now - stepStart) / 1e9
        let perStep = Double(now - started) / 1e9 / Double(stepNumber - firstStep)
        return TrainingStepReport(step: stepNumber, totalSteps: state.totalSteps, epoch: state.epoch, loss: state.losses.last!,
                                  learningRate: rate, gradientNorm: norm, samplesPerSecond: Double(examples) / seconds,
                                  secondsRemaining: perStep * Double(state.totalSteps - stepNumber))
    }

    /// Evaluates on `validation` (tokenized once per run; dropout off), records it, and keeps the best weights.
    private func evaluateNow(_ validation: LabeledTexts, encoded: TokenizedTexts) throws -> EvaluationReport {
        adapters?.setTraining(false)
        defer { adapters?.setTraining(true) }
        let predictions = try predict(encoded, encoder: encoder, padId: tokenizer.padId)
        let report = EvaluationReport(step: state.step, metrics: ValidationMetrics(labels: validation.labels, predictions: predictions,
                                                                                   labelNames: validation.labelNames))
        state.evaluations.append(report)
        let value = report.metrics.value(of: options.best)
        if let best = state.bestMetric, !(options.best.higherIsBetter ? value > best : value < best) {
            state.evaluationsWithoutImprovement += 1
        } else {
            state.bestMetric = value
            state.bestStep = state.step
            state.evaluationsWithoutImprovement = 0
            if options.restoreBest { bestParameterValues = parameters.map { $0.value.copy() } }
        }
        return report
    }

    /// "rows · hash" of the texts and labels (FNV-1a), to tell data sets apart.
    static func fingerprint(_ data: LabeledTexts) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (text, label) in zip(data.texts, data.labels) {
            for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            hash = (hash ^ UInt64(label + 1)) &* 0x100_0000_01b3
        }
        return "\(data.count) rows · \(String(hash, radix: 16))"
    }
}

/// Texts tokenized once, batched on demand with padding to the longest row of the batch.
struct TokenizedTexts {
    let ids: [[Int32]]
    let typeIds: [[Int32]]

    var count: Int { ids.count }

    init(texts: [String], tokenizer: any Tokenizer, maxLength: Int, config: EncoderConfig) throws {
        guard maxLength <= config.usablePositions else {
            throw TrainingError("max_length \(maxLength) is longer than the model's \(config.usablePositions) positions")
        }
        let encodings = texts.map { tokenizer.encode($0, pair: nil, addSpecialTokens: true, maxLength: maxLength) }
        ids = encodings.map { $0.ids.map { Int32(truncatingIfNeeded: $0) } }
        typeIds = encodings.map { $0.typeIds.map { Int32(truncatingIfNeeded: $0) } }
    }

    /// The HF Trainer's length grouping: groups of 50 batches, each sorted by length, longest first.
    func groupedByLength(_ order: [Int], batchSize: Int) -> [Int] {
        let group = 50 * batchSize
        return stride(from: 0, to: order.count, by: group).flatMap { start in
            order[start..<min(start + group, order.count)].sorted { ids[$0].count > ids[$1].count }
        }
    }

    func batch(_ rows: [Int], padId: Int) -> EncoderBatch {
        let length = rows.map { ids[$0].count }.max() ?? 1
        var batchIds = [Int32](repeating: Int32(padId), count: rows.count * length)
        var mask = [Int32](repeating: 0, count: batchIds.count), types = mask
        for (r, row) in rows.enumerated() {
            for (s, id) in ids[row].enumerated() {
                batchIds[r * length + s] = id
                mask[r * length + s] = 1
                types[r * length + s] = typeIds[row][s]
            }
        }
        return EncoderBatch(batchSize: rows.count, sequenceLength: length, ids: batchIds, attentionMask: mask, typeIds: types)
    }
}

extension SeededRandom {
    /// Fisher–Yates with this generator, so a seed fixes the data order.
    mutating func shuffle(_ values: inout [Int]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            values.swapAt(i, j)
        }
    }
}
