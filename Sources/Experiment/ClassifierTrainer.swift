import Foundation
import FinchCheckpoint
import FinchData
import FinchModels
import FinchOptim
import FinchTensor
import FinchTokenizers

/// What training reports as it goes; the callback answers whether to go on.
public enum TrainingEvent: Sendable {
    case step(TrainingStepReport)
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
}

/// How a run ended.
public struct TrainingSummary: Sendable, Equatable {
    public let steps: Int
    public let losses: [Double]
    public let seconds: Double
    public let stoppedEarly: Bool
}

/// Trains a sequence classifier: seeded shuffling, dynamically padded batches, gradient accumulation,
/// clipping, AdamW with a learning-rate schedule. A loss or gradient that is not finite stops the run
/// before the optimizer touches the weights.
public final class ClassifierTrainer {
    public let encoder: Encoder
    public let tokenizer: any Tokenizer
    public let parameters: [Parameter]
    public let options: TrainingOptions
    /// Called with true while training and false for evaluation (adapter dropout).
    public var setTrainingMode: (Bool) -> Void = { _ in }

    public init(encoder: Encoder, tokenizer: any Tokenizer, parameters: [Parameter], options: TrainingOptions) throws {
        try options.validate()
        guard !parameters.isEmpty else { throw TrainingError("nothing to train: every parameter is frozen") }
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.parameters = parameters
        self.options = options
    }

    /// Runs training on `data` and reports every optimizer step.
    @discardableResult
    public func train(_ data: LabeledTexts, progress: (TrainingEvent) -> TrainingDecision = { _ in .proceed }) throws -> TrainingSummary {
        guard data.count > 0 else { throw TrainingError("no training rows") }
        guard let head = encoder.head, head.labelCount == data.labelNames.count else {
            throw TrainingError("the model's head has \(encoder.head?.labelCount ?? 0) labels but the data has \(data.labelNames.count) (\(data.labelNames.joined(separator: ", ")))")
        }
        let encoded = try TokenizedTexts(texts: data.texts, tokenizer: tokenizer, maxLength: options.maxLength, config: encoder.config)
        let batchesPerEpoch = (data.count + options.batchSize - 1) / options.batchSize
        let stepsPerEpoch = max(1, batchesPerEpoch / options.accumulate)
        let totalSteps = options.maxSteps ?? stepsPerEpoch * options.epochs
        let schedule = try LearningRateSchedule(kind: options.schedule, baseRate: options.learningRate,
                                                warmup: options.warmup, totalSteps: totalSteps)
        let optimizer = try AdamW(parameters: parameters, weightDecay: options.weightDecay)
        let step = ClassifierStep(config: encoder.config)
        var random = SeededRandom(seed: options.seed)
        if options.modelDropout { step.dropout = Dropout(seed: random.next(), config: encoder.config) }
        var losses: [Double] = []
        let started = DispatchTime.now().uptimeNanoseconds
        var order: [Int] = [], cursor = 0, epoch = 0
        setTrainingMode(true)
        defer { setTrainingMode(false) }
        for p in parameters { p.zeroGradient() }
        var stoppedEarly = false
        for stepIndex in 0..<totalSteps {
            let stepStart = DispatchTime.now().uptimeNanoseconds
            var stepLoss = 0.0, examples = 0
            for _ in 0..<options.accumulate {
                if cursor >= order.count {
                    order = Array(0..<data.count)
                    random.shuffle(&order)
                    cursor = 0
                    epoch += 1
                }
                let rows = Array(order[cursor..<min(cursor + options.batchSize, order.count)])
                cursor += rows.count
                let batch = encoded.batch(rows, padId: tokenizer.padId)
                let logits = try step.forward(encoder, batch)
                let (loss, gradient) = try options.loss.lossAndGradient(logits: logits, labels: rows.map { data.labels[$0] })
                guard loss.isFinite else {
                    for p in parameters { p.zeroGradient() }
                    throw TrainingError("step \(stepIndex + 1): the loss is \(loss)\(losses.last.map { "; the last finite loss was \(String(format: "%.4f", $0)) at step \(losses.count)" } ?? ""). The weights are as they were before step \(stepIndex + 1); try a lower lr or clip=1.0")
                }
                Kernels.scale(gradient.data, by: 1 / Float(options.accumulate), count: gradient.count)
                step.backward(encoder, batch, logitsGradient: gradient)
                stepLoss += loss * Double(rows.count)
                examples += rows.count
            }
            let norm = options.clip.map { GradientClipping.clip(parameters, maxNorm: $0) } ?? GradientClipping.globalNorm(parameters)
            guard norm.isFinite else {
                for p in parameters { p.zeroGradient() }
                throw TrainingError("step \(stepIndex + 1): the gradient norm is \(norm). The weights are as they were before step \(stepIndex + 1); try a lower lr")
            }
            let rate = schedule.rate(at: stepIndex)
            optimizer.step(learningRate: rate)
            for p in parameters { p.zeroGradient() }
            losses.append(stepLoss / Double(examples))
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e9
            let report = TrainingStepReport(step: stepIndex + 1, totalSteps: totalSteps, epoch: epoch, loss: losses.last!,
                                            learningRate: rate, gradientNorm: norm, samplesPerSecond: Double(examples) / seconds)
            if progress(.step(report)) == .stop {
                stoppedEarly = stepIndex + 1 < totalSteps
                break
            }
        }
        let summary = TrainingSummary(steps: losses.count, losses: losses,
                                      seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, stoppedEarly: stoppedEarly)
        _ = progress(.finished(summary))
        return summary
    }
}

/// Texts tokenized once, batched on demand with padding to the longest row of the batch.
struct TokenizedTexts {
    let ids: [[Int32]]
    let typeIds: [[Int32]]

    init(texts: [String], tokenizer: any Tokenizer, maxLength: Int, config: EncoderConfig) throws {
        let positions = config.maxPositions - (config.family.offsetsPositionsByPadding ? config.padTokenId + 1 : 0)
        guard maxLength <= positions else {
            throw TrainingError("max_length \(maxLength) is longer than the model's \(positions) positions")
        }
        let encodings = texts.map { tokenizer.encode($0, pair: nil, addSpecialTokens: true, maxLength: maxLength) }
        ids = encodings.map { $0.ids.map { Int32(truncatingIfNeeded: $0) } }
        typeIds = encodings.map { $0.typeIds.map { Int32(truncatingIfNeeded: $0) } }
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
