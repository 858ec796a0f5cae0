import FinchModels
import FinchOptim

/// How a classifier is trained; defaults follow the Hugging Face Trainer where it has one.
public struct TrainingOptions: Sendable, Equatable {
    public var epochs: Int = 3
    /// Stop after this many optimizer steps (overrides epochs when set).
    public var maxSteps: Int?
    public var learningRate: Double = 2e-4
    public var batchSize: Int = 16
    public var accumulate: Int = 1
    public var warmup: LearningRateSchedule.Warmup = .steps(0)
    public var schedule: LearningRateSchedule.Kind = .linear
    public var weightDecay: Double = 0.01
    /// Global gradient-norm clipping; nil disables it.
    public var clip: Double? = 1.0
    public var seed: UInt64 = 42
    public var maxLength: Int = 128
    public var loss = CrossEntropy()
    /// Train with the model's own dropout rates from config.json (as transformers does in train mode).
    public var modelDropout = true
    /// Evaluate on the validation rows every this many steps (and at the end); nil: only at the end.
    public var evalEvery: Int?
    /// Write a checkpoint every this many steps into `checkpointFolder`; nil: none.
    public var saveEvery: Int?
    /// How many checkpoints to keep (the best one is always kept too).
    public var keep = 3
    /// Stop after this many evaluations without improvement of `best`; nil: never stop early.
    public var patience: Int?
    /// The metric that decides the best evaluation.
    public var best: BestMetric = .f1Macro
    /// Put the best evaluation's weights back at the end of the run (load_best_model_at_end).
    public var restoreBest = true
    /// Batch rows of similar length together (the HF Trainer's group_by_length): each epoch's shuffled
    /// order is cut into groups of 50 batches, each sorted longest first, so padding costs less.
    public var groupByLength = false
    /// The optimizer: AdamW (torch's), 8-bit AdamW (bitsandbytes') or paged AdamW (AdamW with its moments in
    /// a file mapping); see `OptimizerAlgorithm`.
    public var optimizer: OptimizerAlgorithm = .adamw
    /// Causal LM: pack several short examples into each row (attention stays inside each example).
    public var pack = false

    /// Metrics that can choose the best checkpoint.
    public enum BestMetric: String, Sendable, Codable, CaseIterable {
        case loss, accuracy
        case f1Macro = "f1_macro"
        case f1Weighted = "f1_weighted"

        /// Whether a larger value is better.
        public var higherIsBetter: Bool { self != .loss }
    }

    public init() {}

    /// Every option by the name the language gives it, for checkpoints and the run log.
    public var settings: [String: String] {
        var values: [String: String] = [
            "epochs": "\(epochs)", "lr": "\(learningRate)", "batch": "\(batchSize)", "accumulate": "\(accumulate)",
            "schedule": schedule.name, "weight_decay": "\(weightDecay)", "clip": clip.map { "\($0)" } ?? "none",
            "seed": "\(seed)", "max_length": "\(maxLength)", "model_dropout": "\(modelDropout)", "keep": "\(keep)",
            "best": best.rawValue, "restore_best": "\(restoreBest)", "group_by_length": "\(groupByLength)",
            "label_smoothing": "\(loss.labelSmoothing)", "optim": optimizer.name,
        ]
        switch warmup {
        case let .steps(steps): values["warmup"] = "\(steps)"
        case let .ratio(ratio): values["warmup_ratio"] = "\(ratio)"
        }
        if let maxSteps { values["max_steps"] = "\(maxSteps)" }
        if pack { values["pack"] = "true" }
        if let evalEvery { values["eval_every"] = "\(evalEvery)" }
        if let saveEvery { values["save_every"] = "\(saveEvery)" }
        if let patience { values["patience"] = "\(patience)" }
        if let weights = loss.classWeights { values["class_weights"] = weights.map { "\($0)" }.joined(separator: ",") }
        return values
    }

    /// Options from `settings` (as written by `settings`); keys it does not know (such as an adapter's
    /// r and alpha) are left for others, a malformed value is an error naming the key.
    public init(settings: [String: String]) throws {
        func number(_ key: String) throws -> Double? {
            guard let text = settings[key] else { return nil }
            guard let value = Double(text) else { throw TrainingError("\(key): not a number: \(text)") }
            return value
        }
        func integer(_ key: String) throws -> Int? { try number(key).map { Int($0) } }
        func flag(_ key: String) -> Bool? { settings[key].map { $0 == "true" } }
        if let v = try integer("epochs") { epochs = v }
        maxSteps = try integer("max_steps")
        if let v = try number("lr") { learningRate = v }
        if let v = try integer("batch") { batchSize = v }
        if let v = try integer("accumulate") { accumulate = v }
        if let v = try integer("warmup") { warmup = .steps(v) }
        if let v = try number("warmup_ratio") { warmup = .ratio(v) }
        if let v = settings["schedule"] { schedule = try LearningRateSchedule.Kind(name: v) }
        if let v = try number("weight_decay") { weightDecay = v }
        if let v = settings["clip"] { clip = v == "none" ? nil : try number("clip") }
        if let v = try integer("seed") { seed = UInt64(v) }
        if let v = try integer("max_length") { maxLength = v }
        if let v = flag("model_dropout") { modelDropout = v }
        evalEvery = try integer("eval_every")
        saveEvery = try integer("save_every")
        if let v = try integer("keep") { keep = v }
        patience = try integer("patience")
        if let v = settings["best"] {
            guard let metric = BestMetric(rawValue: v) else { throw TrainingError("best: unknown metric \(v)") }
            best = metric
        }
        if let v = flag("restore_best") { restoreBest = v }
        if let v = flag("group_by_length") { groupByLength = v }
        if let v = flag("pack") { pack = v }
        if let v = settings["optim"] {
            do { optimizer = try OptimizerAlgorithm(name: v) } catch { throw TrainingError("optim: \(error)") }
        }
        let weights = try settings["class_weights"].map { text in
            try text.split(separator: ",").map { part -> Float in
                guard let w = Float(part) else { throw TrainingError("class_weights: not a number: \(part)") }
                return w
            }
        }
        loss = CrossEntropy(classWeights: weights, labelSmoothing: Float(try number("label_smoothing") ?? 0))
        try validate()
    }

    /// Checks ranges; the error names the option.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw TrainingError(message) } }
        try check(epochs >= 1, "epochs must be at least 1, got \(epochs)")
        try check(maxSteps.map { $0 >= 1 } ?? true, "max_steps must be at least 1")
        try check(learningRate > 0 && learningRate.isFinite, "lr must be a positive number, got \(learningRate)")
        try check(batchSize >= 1, "batch must be at least 1, got \(batchSize)")
        try check(accumulate >= 1, "accumulate must be at least 1, got \(accumulate)")
        try check(weightDecay >= 0, "weight_decay must be ≥ 0, got \(weightDecay)")
        try check(clip.map { $0 > 0 } ?? true, "clip must be positive")
        try check(maxLength >= 2, "max_length must be at least 2, got \(maxLength)")
        try check(evalEvery.map { $0 >= 1 } ?? true, "eval_every must be at least 1")
        try check(saveEvery.map { $0 >= 1 } ?? true, "save_every must be at least 1")
        try check(keep >= 1, "keep must be at least 1, got \(keep)")
        try check(patience.map { $0 >= 1 } ?? true, "patience must be at least 1")
    }
}

/// Training that cannot go on, and why.
public struct TrainingError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
