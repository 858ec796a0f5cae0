import Foundation
import FinchTensor

/// AdamW, equal to `torch.optim.AdamW` (single-tensor implementation, `foreach=False`) with the
/// Hugging Face Trainer's parameter groups: parameters whose `decays` is false get weight decay 0.
///
/// One `step(learningRate:)` does, for every parameter, what torch does with fp32 tensors:
/// ```
/// t += 1                                         (a step count per parameter)
/// p ← p · fp32(1 − lr·wd)                        (decoupled decay, before the Adam update; skipped when wd = 0)
/// m ← lerp(m, g, 1 − β₁)                         (exp_avg; torch's two-sided lerp formula)
/// v ← v·β₂ + (1 − β₂)·g·g                        (exp_avg_sq)
/// p ← p + (−lr/(1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
/// The scalar factors are computed in Double and rounded to Float once, as torch rounds Python scalars
/// to the tensor's dtype. The loop is SIMD16 with a scalar tail and allocates nothing.
///
/// The learning rate comes from outside at every step (see `LearningRateSchedule`). Gradients are read
/// from `Parameter.gradient` as they are; clip them first (`GradientClipping`). Every parameter is
/// updated at every step, as torch updates every parameter whose `.grad` is not None: a parameter that
/// got no gradient should not be given to the optimizer (torch would neither decay nor move it).
public final class AdamW {
    /// The parameters updated, in order.
    public let parameters: [Parameter]
    /// Weight decay for parameters whose `decays` is true.
    public let weightDecay: Double
    /// Decay rate of the first moment (exp_avg).
    public let beta1: Double
    /// Decay rate of the second moment (exp_avg_sq).
    public let beta2: Double
    /// Added to the bias-corrected √v.
    public let epsilon: Double
    /// Updates taken per parameter (torch's `state[p]["step"]`), in the order of `parameters`.
    public private(set) var stepCounts: [Int]

    let firstMoments: [Tensor]
    let secondMoments: [Tensor]

    /// An optimizer for `parameters` with zero moments and step counts, torch's defaults otherwise.
    /// Throws for an out-of-range hyperparameter (torch's checks) or two parameters with the same name.
    public convenience init(parameters: [Parameter], weightDecay: Double = 0.01, beta1: Double = 0.9, beta2: Double = 0.999,
                            epsilon: Double = 1e-8) throws {
        try self.init(parameters: parameters, weightDecay: weightDecay, beta1: beta1, beta2: beta2, epsilon: epsilon,
                      firstMoments: parameters.map { Tensor(zeros: $0.value.shape) },
                      secondMoments: parameters.map { Tensor(zeros: $0.value.shape) })
    }

    /// An optimizer whose moments live in the given zeroed tensors (one per parameter, of its shape), such as
    /// `PagedAdamW`'s file-mapped buffers.
    init(parameters: [Parameter], weightDecay: Double, beta1: Double, beta2: Double, epsilon: Double,
         firstMoments: [Tensor], secondMoments: [Tensor]) throws {
        try checkHyperparameters(parameters, weightDecay: weightDecay, beta1: beta1, beta2: beta2, epsilon: epsilon)
        precondition(zip(parameters, zip(firstMoments, secondMoments)).allSatisfy { $0.value.shape == $1.0.shape && $0.value.shape == $1.1.shape }
                     && firstMoments.count == parameters.count && secondMoments.count == parameters.count,
                     "one first and one second moment per parameter, of its shape")
        self.parameters = parameters
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        stepCounts = Array(repeating: 0, count: parameters.count)
        self.firstMoments = firstMoments
        self.secondMoments = secondMoments
    }

    /// Updates every parameter from its gradient with learning rate `learningRate`.
    public func step(learningRate: Double) {
        precondition(learningRate.isFinite && learningRate >= 0, "learning rate \(learningRate) is not a finite number ≥ 0")
        for index in parameters.indices {
            stepCounts[index] += 1
            let parameter = parameters[index]
            let t = Double(stepCounts[index])
            let decay = parameter.decays ? weightDecay : 0
            let stepSize = learningRate / (1 - pow(beta1, t))
            let coefficients = Coefficients(
                decay: decay != 0 ? Float(1 - learningRate * decay) : nil,
                lerpWeight: Float(1 - beta1), beta2: Float(beta2), squareWeight: Float(1 - beta2),
                correction2: Float(pow(1 - pow(beta2, t), 0.5)), epsilon: Float(epsilon),
                negativeStepSize: Float(-stepSize))
            Self.update(parameter.value.data, gradient: parameter.gradient.data, firstMoment: firstMoments[index].data,
                        secondMoment: secondMoments[index].data, count: parameter.value.count, coefficients)
        }
    }

    /// The optimizer state for a checkpoint, as copies: for each parameter `"<name>.exp_avg"` and
    /// `"<name>.exp_avg_sq"` (the parameter's shape) and `"<name>.step"` (a 0-dimensional tensor holding
    /// the step count, as torch stores it).
    public func state() -> [String: Tensor] {
        var state: [String: Tensor] = [:]
        for (index, parameter) in parameters.enumerated() {
            state[parameter.name + Self.firstMomentSuffix] = firstMoments[index].copy()
            state[parameter.name + Self.secondMomentSuffix] = secondMoments[index].copy()
            state[parameter.name + Self.stepSuffix] = Tensor([Float(stepCounts[index])], shape: [])
        }
        return state
    }

    /// Replaces the moments and step counts with `state` (as `state()` exports it). Everything is checked
    /// before anything changes: each parameter's three entries must be present with its shape, steps must
    /// be whole numbers ≥ 0, exp_avg_sq must be ≥ 0, and there must be no entries for other parameters.
    public func load(state: [String: Tensor]) throws {
        var problems: [String] = []
        var steps: [Int] = []
        for parameter in parameters {
            let name = parameter.name
            for suffix in [Self.firstMomentSuffix, Self.secondMomentSuffix] {
                guard let tensor = state[name + suffix] else {
                    problems.append("\"\(name + suffix)\" is missing")
                    continue
                }
                if tensor.shape != parameter.value.shape {
                    problems.append("\"\(name + suffix)\" has shape \(tensor.shape), the parameter has \(parameter.value.shape)")
                } else if suffix == Self.secondMomentSuffix, !Self.allNonNegative(tensor) {
                    problems.append("\"\(name + suffix)\" has negative or NaN entries")
                }
            }
            guard let step = state[name + Self.stepSuffix] else {
                problems.append("\"\(name + Self.stepSuffix)\" is missing")
                continue
            }
            guard step.count == 1, step.shape.count <= 1 else {
                problems.append("\"\(name + Self.stepSuffix)\" has shape \(step.shape), expected a single number")
                continue
            }
            let value = step[0]
            guard value >= 0, value <= 16_777_216, value.rounded() == value else {
                problems.append("\"\(name + Self.stepSuffix)\" is \(value), not a whole number of steps")
                continue
            }
            steps.append(Int(value))
        }
        let known = Set(parameters.flatMap { p in [Self.firstMomentSuffix, Self.secondMomentSuffix, Self.stepSuffix].map { p.name + $0 } })
        let unknown = state.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            problems.append("entries for no parameter of this optimizer: " + Self.list(unknown))
        }
        guard problems.isEmpty else {
            throw OptimizerError("optimizer state does not fit the \(parameters.count) parameters: " + Self.list(problems))
        }
        for index in parameters.indices {
            let name = parameters[index].name
            let count = parameters[index].value.count
            firstMoments[index].data.update(from: state[name + Self.firstMomentSuffix]!.data, count: count)
            secondMoments[index].data.update(from: state[name + Self.secondMomentSuffix]!.data, count: count)
        }
        stepCounts = steps
    }

    private static let firstMomentSuffix = ".exp_avg"
    private static let secondMomentSuffix = ".exp_avg_sq"
    private static let stepSuffix = ".step"

    /// At most five items, then how many more.
    private static func list(_ items: [String]) -> String {
        items.prefix(5).joined(separator: "; ") + (items.count > 5 ? "; and \(items.count - 5) more" : "")
    }

    private static func allNonNegative(_ tensor: Tensor) -> Bool {
        (0..<tensor.count).allSatisfy { tensor[$0] >= 0 }
    }

    /// The per-step scalars, already rounded to Float as torch rounds them.
    struct Coefficients {
        /// fp32(1 − lr·wd), or nil when the parameter's weight decay is 0 (torch skips the multiply).
        var decay: Float?
        var lerpWeight: Float
        var beta2: Float
        var squareWeight: Float
        /// √(1 − β₂ᵗ)
        var correction2: Float
        var epsilon: Float
        /// −lr / (1 − β₁ᵗ)
        var negativeStepSize: Float
    }

    /// One parameter's update, in torch's operation order.
    @inline(__always)
    static func update(_ p: UnsafeMutablePointer<Float>, gradient g: UnsafeMutablePointer<Float>,
                       firstMoment m: UnsafeMutablePointer<Float>, secondMoment v: UnsafeMutablePointer<Float>,
                       count: Int, _ c: Coefficients) {
        let decays = c.decay != nil, decay = c.decay ?? 1
        // torch's lerp(a, b, w): a + w·(b − a) for |w| < 0.5, else b − (b − a)·(1 − w).
        let smallWeight = abs(c.lerpWeight) < 0.5, complement = 1 - c.lerpWeight
        var i = 0
        while i + Vector.scalarCount <= count {
            var pv = Kernels.load(p + i)
            if decays { pv = pv * decay }
            let gv = Kernels.load(g + i)
            var mv = Kernels.load(m + i)
            mv = smallWeight ? mv + c.lerpWeight * (gv - mv) : gv - (gv - mv) * complement
            let vv = Kernels.load(v + i) * c.beta2 + c.squareWeight * gv * gv
            let denominator = vv.squareRoot() / c.correction2 + c.epsilon
            pv = pv + c.negativeStepSize * mv / denominator
            Kernels.store(mv, to: m + i)
            Kernels.store(vv, to: v + i)
            Kernels.store(pv, to: p + i)
            i += Vector.scalarCount
        }
        while i < count {
            var pi = p[i]
            if decays { pi = pi * decay }
            let gi = g[i]
            let mi = smallWeight ? m[i] + c.lerpWeight * (gi - m[i]) : gi - (gi - m[i]) * complement
            let vi = v[i] * c.beta2 + c.squareWeight * gi * gi
            let denominator = vi.squareRoot() / c.correction2 + c.epsilon
            m[i] = mi
            v[i] = vi
            p[i] = pi + c.negativeStepSize * mi / denominator
            i += 1
        }
    }
}
