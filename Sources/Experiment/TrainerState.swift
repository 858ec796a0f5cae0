import FinchTensor

/// Everything about a run that is not a tensor: where it is, how it has gone, and every random
/// generator's state, so a run restored from a checkpoint continues exactly as if never stopped.
public struct TrainerState: Sendable, Codable, Equatable {
    public var step = 0
    public var totalSteps = 0
    public var epoch = 0
    /// The current epoch's shuffled row order and the position in it.
    public var order: [Int] = []
    public var cursor = 0
    /// Mean training loss of every step so far.
    public var losses: [Double] = []
    /// Validation results so far, in order.
    public var evaluations: [EvaluationReport] = []
    public var bestMetric: Double?
    public var bestStep: Int?
    /// Evaluations since the best one (early stopping counts these).
    public var evaluationsWithoutImprovement = 0
    public var dataRandom: SeededRandom
    public var dropoutRandom: SeededRandom?
    public var adapterRandoms: [SeededRandom] = []
    /// Rows and a hash of the training texts and labels, to refuse resuming on other data.
    public var dataFingerprint: String = ""

    public init(seed: UInt64) {
        dataRandom = SeededRandom(seed: seed)
    }
}

/// Validation metrics at one step.
public struct EvaluationReport: Sendable, Codable, Equatable {
    public let step: Int
    public let metrics: ValidationMetrics
}
