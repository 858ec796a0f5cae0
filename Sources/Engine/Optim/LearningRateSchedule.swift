import Foundation

/// A learning-rate schedule equal, at every step, to the `LambdaLR` that `transformers.get_scheduler`
/// builds for the Hugging Face Trainer.
///
/// `rate(at: k)` is the learning rate of optimizer update k (0-based): the Trainer's scheduler starts at
/// step 0 and calls `scheduler.step()` after each `optimizer.step()`. Values are computed in Double with
/// the same operations, in the same order, as transformers (so they agree to the last bit or so).
///
/// As in transformers, `.constant` ignores the warmup (use `.constantWithWarmup`), and steps beyond
/// `totalSteps` follow the same formulas (linear stays at 0; cosine rises again; polynomial holds
/// `endRate`).
public struct LearningRateSchedule: Sendable, Equatable {
    /// The shape of the schedule after the linear warmup, with transformers' default parameters.
    public enum Kind: Sendable, Equatable {
        /// `get_constant_schedule`: always the base rate, no warmup.
        case constant
        /// `get_constant_schedule_with_warmup`: warmup, then the base rate.
        case constantWithWarmup
        /// `get_linear_schedule_with_warmup`: warmup, then linear decay to 0 at `totalSteps`.
        case linear
        /// `get_cosine_schedule_with_warmup`: warmup, then `cycles` cosine waves (0.5: a half-cosine to 0).
        case cosine(cycles: Double = 0.5)
        /// `get_cosine_with_hard_restarts_schedule_with_warmup`: warmup, then `cycles` half-cosines from
        /// the base rate to 0, each restarting at the base rate.
        case cosineWithRestarts(cycles: Int = 1)
        /// `get_polynomial_decay_schedule_with_warmup`: warmup, then
        /// `(base − endRate)·(1 − progress)^power + endRate`.
        case polynomial(endRate: Double = 1e-7, power: Double = 1)

        /// The kind a Trainer `lr_scheduler_type` names, with default parameters: "constant",
        /// "constant_with_warmup", "linear", "cosine", "cosine_with_restarts" or "polynomial".
        public init(name: String) throws {
            switch name {
            case "constant": self = .constant
            case "constant_with_warmup": self = .constantWithWarmup
            case "linear": self = .linear
            case "cosine": self = .cosine()
            case "cosine_with_restarts": self = .cosineWithRestarts()
            case "polynomial": self = .polynomial()
            default:
                throw OptimizerError("unknown learning-rate schedule \"\(name)\"; the schedules are "
                    + Kind.names.joined(separator: ", "))
            }
        }

        /// The names `init(name:)` accepts.
        public static let names = ["constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial"]

        /// The Trainer's `lr_scheduler_type` name.
        public var name: String {
            switch self {
            case .constant: "constant"
            case .constantWithWarmup: "constant_with_warmup"
            case .linear: "linear"
            case .cosine: "cosine"
            case .cosineWithRestarts: "cosine_with_restarts"
            case .polynomial: "polynomial"
            }
        }
    }

    /// How long the linear warmup from 0 to the base rate lasts.
    public enum Warmup: Sendable, Equatable {
        /// A number of optimizer steps.
        case steps(Int)
        /// A fraction in [0, 1) of the total steps, rounded up (`ceil(ratio · total)`).
        case ratio(Double)

        /// The warmup a `TrainingArguments.warmup_steps` value means in transformers 5: a value of at least
        /// 1 is a step count (truncated to an integer), a smaller one is a ratio of the total steps.
        public init(trainerValue value: Double) throws {
            guard value.isFinite, value >= 0 else {
                throw OptimizerError("warmup must be a number of steps or a ratio in [0, 1), not \(value)")
            }
            self = value >= 1 ? .steps(Int(value)) : .ratio(value)
        }

        /// The number of warmup steps for a run of `totalSteps`, as `TrainingArguments.get_warmup_steps`.
        public func steps(totalSteps: Int) throws -> Int {
            switch self {
            case .steps(let steps):
                return steps
            case .ratio(let ratio):
                guard ratio.isFinite, ratio >= 0, ratio < 1 else {
                    throw OptimizerError("a warmup ratio must be in [0, 1), not \(ratio); give a step count instead")
                }
                return Int((Double(totalSteps) * ratio).rounded(.up))
            }
        }
    }

    /// The schedule's shape.
    public let kind: Kind
    /// The peak learning rate (the Trainer's `learning_rate`).
    public let baseRate: Double
    /// Steps of linear warmup from 0 (ignored by `.constant`, as in transformers).
    public let warmupSteps: Int
    /// Optimizer steps in the whole run.
    public let totalSteps: Int

    /// A schedule; throws when a value is out of range (negative warmup, warmup longer than the run,
    /// a non-positive run length or rate, or a parameter of the kind that transformers would reject or
    /// divide by zero with).
    public init(kind: Kind, baseRate: Double, warmupSteps: Int, totalSteps: Int) throws {
        guard baseRate.isFinite, baseRate >= 0 else {
            throw OptimizerError("the learning rate must be a finite number ≥ 0, not \(baseRate)")
        }
        guard totalSteps >= 1 else {
            throw OptimizerError("a schedule needs at least 1 training step, not \(totalSteps)")
        }
        guard warmupSteps >= 0 else {
            throw OptimizerError("warmup must not be negative (got \(warmupSteps) steps)")
        }
        guard warmupSteps <= totalSteps else {
            throw OptimizerError("warmup (\(warmupSteps) steps) is longer than the training (\(totalSteps) steps)")
        }
        switch kind {
        case .constant, .constantWithWarmup, .linear:
            break
        case .cosine(let cycles):
            guard cycles.isFinite, cycles > 0 else {
                throw OptimizerError("cosine cycles must be a finite number > 0, not \(cycles)")
            }
        case .cosineWithRestarts(let cycles):
            guard cycles >= 1 else {
                throw OptimizerError("cosine_with_restarts needs at least 1 cycle, not \(cycles)")
            }
        case .polynomial(let endRate, let power):
            guard endRate.isFinite, endRate >= 0, baseRate > endRate else {
                throw OptimizerError("polynomial: the end rate (\(endRate)) must be ≥ 0 and smaller than the learning rate (\(baseRate))")
            }
            guard power.isFinite, power > 0 else {
                throw OptimizerError("polynomial: the power must be a finite number > 0, not \(power)")
            }
            guard warmupSteps < totalSteps else {
                throw OptimizerError("polynomial: warmup (\(warmupSteps) steps) must be shorter than the training (\(totalSteps) steps)")
            }
        }
        self.kind = kind
        self.baseRate = baseRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// A schedule whose warmup is given as steps or as a ratio of `totalSteps`.
    public init(kind: Kind, baseRate: Double, warmup: Warmup, totalSteps: Int) throws {
        try self.init(kind: kind, baseRate: baseRate, warmupSteps: try warmup.steps(totalSteps: totalSteps),
                      totalSteps: totalSteps)
    }

    /// The learning rate of optimizer update `step` (0-based): `baseRate · λ(step)`, as `LambdaLR`.
    public func rate(at step: Int) -> Double {
        precondition(step >= 0, "schedule step \(step) is negative")
        return baseRate * factor(at: step)
    }

    /// λ(step), transcribed from transformers/optimization.py.
    private func factor(at step: Int) -> Double {
        if case .constant = kind { return 1 }
        if step < warmupSteps { return Double(step) / Double(max(1, warmupSteps)) }
        let decaySteps = Double(max(1, totalSteps - warmupSteps))
        let progress = Double(step - warmupSteps) / decaySteps
        switch kind {
        case .constant, .constantWithWarmup:
            return 1
        case .linear:
            return max(0, Double(totalSteps - step) / decaySteps)
        case .cosine(let cycles):
            return max(0, 0.5 * (1 + cos(Double.pi * cycles * 2 * progress)))
        case .cosineWithRestarts(let cycles):
            if progress >= 1 { return 0 }
            return max(0, 0.5 * (1 + cos(Double.pi * (Double(cycles) * progress).truncatingRemainder(dividingBy: 1))))
        case .polynomial(let endRate, let power):
            if step > totalSteps { return endRate / baseRate }
            let remaining = 1 - Double(step - warmupSteps) / Double(totalSteps - warmupSteps)
            return ((baseRate - endRate) * pow(remaining, power) + endRate) / baseRate
        }
    }
}
