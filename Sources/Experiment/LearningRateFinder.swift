import Foundation
import FinchData
import FinchModels
import FinchOptim
import FinchPEFT
import FinchTensor
import FinchTokenizers

/// The learning-rate range test (Smith 2017; fastai's lr_find): train for a few steps while the rate
/// grows exponentially from `start` to `end`, record the loss smoothed with an exponential moving
/// average (β = 0.98, bias-corrected), stop once it passes 4 × its minimum, and suggest the rate where
/// the smoothed loss falls fastest. Weights, adapters' generators and everything else are put back
/// afterwards: the session is left exactly as it was.
public struct LearningRateFinder {
    public var start = 1e-7
    public var end = 1.0
    public var steps = 100
    public var batchSize = 16
    public var maxLength = 128
    public var seed: UInt64 = 42

    public init() {}

    /// One point of the curve.
    public struct Point: Sendable, Equatable {
        public let learningRate: Double
        public let loss: Double
        public let smoothedLoss: Double
    }

    public struct Result: Sendable, Equatable {
        public let points: [Point]
        /// The rate at the steepest fall of the smoothed loss, if the curve fell at all.
        public let suggestion: Double?
        /// Why it is the suggestion, in words for a learner.
        public let reason: String
        public let stoppedEarly: Bool
    }

    public func run(encoder: Encoder, tokenizer: any Tokenizer, parameters: [Parameter], adapters: LoRAModel?,
                    data: LabeledTexts, progress: (Point) -> TrainingDecision = { _ in .proceed }) throws -> Result {
        guard start > 0, end > start, steps >= 2 else {
            throw TrainingError("lrfind needs 0 < start < end and at least 2 steps (start=\(start), end=\(end), steps=\(steps))")
        }
        let savedValues = parameters.map { $0.value.copy() }
        let savedRandoms = adapters?.adapted.map(\.adapter.dropoutRandom)
        defer {
            for (p, v) in zip(parameters, savedValues) { p.value.data.update(from: v.data, count: v.count); p.zeroGradient() }
            if let adapters, let savedRandoms {
                for ((_, adapter), random) in zip(adapters.adapted, savedRandoms) { adapter.dropoutRandom = random }
                adapters.setTraining(false)
            }
        }
        var options = TrainingOptions()
        options.batchSize = batchSize
        options.maxLength = maxLength
        options.seed = seed
        options.weightDecay = 0
        let encoded = try TokenizedTexts(texts: data.texts, tokenizer: tokenizer, maxLength: maxLength, config: encoder.config)
        // Plain AdamW whatever the run's optim=: the range test is short and its state is thrown away, so an
        // 8-bit or paged state would save nothing, and the suggested rate stays comparable across optimizers.
        let optimizer = try AdamW(parameters: parameters, weightDecay: 0)
        let step = ClassifierStep(config: encoder.config)
        var random = SeededRandom(seed: seed)
        step.dropout = Dropout(seed: random.next(), config: encoder.config)
        adapters?.setTraining(true)
        var order: [Int] = [], cursor = 0
        var points: [Point] = [], average = 0.0, minimum = Double.infinity
        var stoppedEarly = false
        for index in 0..<steps {
            let rate = start * pow(end / start, Double(index) / Double(steps - 1))
            if cursor >= order.count { order = Array(0..<data.count); random.shuffle(&order); cursor = 0 }
            let rows = Array(order[cursor..<min(cursor + batchSize, order.count)])
            cursor += rows.count
            let batch = encoded.batch(rows, padId: tokenizer.padId)
            let (loss, gradient) = try options.loss.lossAndGradient(logits: try step.forward(encoder, batch), labels: rows.map { data.labels[$0] })
            guard loss.isFinite else { stoppedEarly = true; break }
            step.backward(encoder, batch, logitsGradient: gradient)
            GradientClipping.clip(parameters, maxNorm: 1)
            optimizer.step(learningRate: rate)
            for p in parameters { p.zeroGradient() }
            average = 0.98 * average + 0.02 * loss
            let smoothed = average / (1 - pow(0.98, Double(index + 1)))
            let point = Point(learningRate: rate, loss: loss, smoothedLoss: smoothed)
            points.append(point)
            minimum = min(minimum, smoothed)
            if progress(point) == .stop { stoppedEarly = true; break }
            if index > 5, smoothed > 4 * minimum { stoppedEarly = true; break }
        }
        let (suggestion, reason) = Self.suggest(points)
        return Result(points: points, suggestion: suggestion, reason: reason, stoppedEarly: stoppedEarly)
    }

    /// The rate where the smoothed loss falls fastest per unit of log-rate (ignoring the noisy first
    /// and last tenth of the curve).
    static func suggest(_ points: [Point]) -> (Double?, String) {
        let trimmed = Array(points.dropFirst(points.count / 10).dropLast(points.count / 10))
        guard trimmed.count >= 3 else { return (nil, "too few points to suggest a rate (the loss diverged at once?)") }
        var best: (slope: Double, rate: Double)?
        for (a, b) in zip(trimmed, trimmed.dropFirst()) {
            let slope = (b.smoothedLoss - a.smoothedLoss) / (log10(b.learningRate) - log10(a.learningRate))
            if best == nil || slope < best!.slope { best = (slope, a.learningRate) }
        }
        guard let best, best.slope < 0 else {
            return (nil, "the smoothed loss never fell: try a larger end rate or more steps")
        }
        return (best.rate, String(format: "steepest fall of the smoothed loss (%.3g per decade of lr) at %.2e; transformers fine-tuning often wants a somewhat lower rate than this", best.slope, best.rate))
    }
}
