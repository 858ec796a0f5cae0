import Foundation
import FinchQuantization
import FinchTensor

/// 8-bit AdamW, equal to `bitsandbytes.optim.AdamW8bit` (0.50.2) on the CPU with its defaults
/// (block size 256, min_8bit_size 4096), the HF Trainer's parameter groups (`decays` false → weight decay 0).
///
/// A parameter with n ≥ 4096 values keeps its moments as one byte per value: the first moment m as a code of
/// the signed dynamic map, the second v as a code of the unsigned one, each scaled by a float absmax per
/// block of 256 values. One step (`_optimizer_update_8bit_blockwise_cpu`), per parameter:
/// ```
/// t += 1
/// m ← map₁[code₁] · absmax₁[block]          v ← map₂[code₂] · absmax₂[block]       (dequantize, fp32)
/// m ← fma(g, 1 − β₁, m·β₁)
/// v ← fma((1 − β₂)·g, g, v·β₂)
/// denom ← √v / √(1 − β₂ᵗ) + ε
/// p ← p · (1 − lr·wd)                        (only when wd > 0)
/// p ← p + ((−lr/(1 − β₁ᵗ))·m) / denom
/// code₁, absmax₁ ← quantize(m);  code₂, absmax₂ ← quantize(v)   (absmax = max |x| per block; the code is
///                                                               bitsandbytes' 65,536-cell table lookup)
/// ```
/// A smaller parameter keeps fp32 moments and takes bitsandbytes' 32-bit step (`_optimizer_update_32bit_cpu`):
/// the same moment updates, then p ← p·(1 − lr·wd); p ← fma(m / (√v + ε·√(1 − β₂ᵗ)), s, p) with
/// s = −lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ).
///
/// bitsandbytes runs these as torch ops, and torch 2.13's CPU `add_(x, alpha=a)` and `addcmul_` are fused
/// multiply-adds (hence the fma above), `addcdiv_` is not. Scalars are computed in Double and rounded to Float
/// once, as torch rounds Python numbers. Nothing is allocated per step: one fp32 scratch of the largest 8-bit
/// parameter's size holds its dequantized moments.
///
/// Memory: 2 bytes per value plus 8 per block (about 2.03 bytes per value) against AdamW's 8, plus the
/// scratch; parameters under 4096 values (biases, LayerNorm, small LoRA matrices) stay at 8 bytes per value.
public final class AdamW8bit: Optimizer {
    /// Parameters with fewer values keep fp32 moments (bitsandbytes' min_8bit_size).
    public static let minimumQuantizedCount = 4096
    /// Values per absmax.
    public static let blockSize = 256

    /// Blocks of `blockSize` for `count` values (the last may be shorter).
    public static func blockCount(_ count: Int) -> Int { (count + blockSize - 1) / blockSize }

    public let kind = OptimizerAlgorithm.adamw8bit
    public let parameters: [Parameter]
    /// Weight decay for parameters whose `decays` is true.
    public let weightDecay: Double
    public let beta1: Double
    public let beta2: Double
    public let epsilon: Double
    /// Updates taken per parameter (bitsandbytes' `state["step"]`), in the order of `parameters`.
    public private(set) var stepCounts: [Int]

    /// Each parameter's moments: fp32, or 8-bit codes with absmax.
    private let moments: [Moments]
    /// Dequantized m and v of the 8-bit parameter being updated: 2 × the largest such parameter.
    private let scratch: UnsafeMutablePointer<Float>
    private let scratchCount: Int

    enum Moments {
        case full(first: Tensor, second: Tensor)
        case quantized(QuantizedMoments)
    }

    /// An optimizer for `parameters` with zero moments and step counts. Throws for an out-of-range
    /// hyperparameter (bitsandbytes' checks) or two parameters with the same name.
    public init(parameters: [Parameter], weightDecay: Double = 0.01, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8) throws {
        try checkHyperparameters(parameters, weightDecay: weightDecay, beta1: beta1, beta2: beta2, epsilon: epsilon)
        self.parameters = parameters
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        stepCounts = Array(repeating: 0, count: parameters.count)
        moments = parameters.map { p in
            p.value.count >= Self.minimumQuantizedCount
                ? .quantized(QuantizedMoments(count: p.value.count))
                : .full(first: Tensor(zeros: p.value.shape), second: Tensor(zeros: p.value.shape))
        }
        scratchCount = parameters.map(\.value.count).filter { $0 >= Self.minimumQuantizedCount }.max() ?? 0
        scratch = .allocate(capacity: max(1, 2 * scratchCount))
    }

    deinit { scratch.deallocate() }

    /// Whether parameter `index` keeps 8-bit moments.
    public func isQuantized(_ index: Int) -> Bool {
        if case .quantized = moments[index] { return true }
        return false
    }

    public func step(learningRate: Double) {
        precondition(learningRate.isFinite && learningRate >= 0, "learning rate \(learningRate) is not a finite number ≥ 0")
        for index in parameters.indices {
            stepCounts[index] += 1
            let parameter = parameters[index]
            let t = Double(stepCounts[index])
            let decay = parameter.decays ? weightDecay : 0
            let correction1 = 1 - pow(beta1, t)
            let correction2 = (1 - pow(beta2, t)).squareRoot()
            let count = parameter.value.count
            let p = parameter.value.data, g = parameter.gradient.data
            var c = Update8bitCoefficients(
                beta1: Float(beta1), oneMinusBeta1: Float(1 - beta1), beta2: Float(beta2), oneMinusBeta2: Float(1 - beta2),
                decay: decay > 0 ? Float(1 - learningRate * decay) : nil, correction2: Float(correction2),
                epsilon: Float(epsilon), scale: Float(-learningRate / correction1))
            switch moments[index] {
            case let .full(first, second):
                c.epsilon = Float(epsilon * correction2)
                c.scale = Float(-learningRate * correction2 / correction1)
                Self.update32bit(p, gradient: g, firstMoment: first.data, secondMoment: second.data, count: count, c)
            case let .quantized(state):
                let m = scratch, v = scratch + scratchCount
                state.dequantize(into: m, v)
                Self.update8bit(p, gradient: g, firstMoment: m, secondMoment: v, count: count, c)
                state.quantize(from: m, v)
            }
        }
    }

    public var stateBytes: OptimizerStateBytes {
        var resident = 8 * scratchCount
        for (parameter, moment) in zip(parameters, moments) {
            switch moment {
            case .full: resident += 8 * parameter.value.count
            case let .quantized(state): resident += 2 * state.count + 8 * state.blocks
            }
        }
        return OptimizerStateBytes(resident: resident, mapped: 0)
    }

    // MARK: Checkpoint state

    static let stepSuffix = ".step"

    /// For each parameter `"<name>.step"` (0-dimensional) and, as bitsandbytes names them, either
    /// `"<name>.state1"` / `"<name>.state2"` as fp32 tensors of the parameter's shape, or, for 8-bit
    /// parameters, `"<name>.state1"` / `"<name>.state2"` as U8 codes [n] and `"<name>.absmax1"` /
    /// `"<name>.absmax2"` [blocks].
    public func checkpointState() -> [String: OptimizerStateTensor] {
        var state: [String: OptimizerStateTensor] = [:]
        for (index, parameter) in parameters.enumerated() {
            let name = parameter.name
            state[name + Self.stepSuffix] = .float(Tensor([Float(stepCounts[index])], shape: []))
            switch moments[index] {
            case let .full(first, second):
                state[name + ".state1"] = .float(first.copy())
                state[name + ".state2"] = .float(second.copy())
            case let .quantized(moments):
                let codes = moments.codes
                state[name + ".state1"] = .bytes(codes.first, shape: [moments.count])
                state[name + ".state2"] = .bytes(codes.second, shape: [moments.count])
                state[name + ".absmax1"] = .float(Tensor(codes.firstAbsmax, shape: [moments.blocks]))
                state[name + ".absmax2"] = .float(Tensor(codes.secondAbsmax, shape: [moments.blocks]))
            }
        }
        return state
    }

    public func load(checkpointState state: [String: OptimizerStateTensor]) throws {
        var problems: [String] = []
        var steps: [Int] = []
        var known = Set<String>()
        for (index, parameter) in parameters.enumerated() {
            let name = parameter.name
            let expected: [(suffix: String, bytes: Bool, shape: [Int])]
            switch moments[index] {
            case .full:
                expected = [(".state1", false, parameter.value.shape), (".state2", false, parameter.value.shape)]
            case let .quantized(q):
                expected = [(".state1", true, [q.count]), (".state2", true, [q.count]),
                            (".absmax1", false, [q.blocks]), (".absmax2", false, [q.blocks])]
            }
            for (suffix, bytes, shape) in expected {
                known.insert(name + suffix)
                guard let entry = state[name + suffix] else {
                    problems.append("\"\(name + suffix)\" is missing")
                    continue
                }
                let isBytes: Bool
                if case .bytes = entry { isBytes = true } else { isBytes = false }
                if isBytes != bytes {
                    problems.append("\"\(name + suffix)\" holds \(isBytes ? "8-bit codes" : "fp32 values"), expected \(bytes ? "8-bit codes" : "fp32 values")")
                } else if entry.shape != shape {
                    problems.append("\"\(name + suffix)\" has shape \(entry.shape), expected \(shape)")
                } else if suffix != ".state1", case let .float(tensor) = entry, !(0..<tensor.count).allSatisfy({ tensor[$0] >= 0 }) {
                    problems.append("\"\(name + suffix)\" has negative or NaN entries")
                }
            }
            known.insert(name + Self.stepSuffix)
            do { steps.append(try stepCount(state[name + Self.stepSuffix], name: name + Self.stepSuffix)) } catch {
                problems.append("\(error)")
            }
        }
        let unknown = state.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty { problems.append("entries for no parameter of this optimizer: " + listed(unknown)) }
        guard problems.isEmpty else {
            throw OptimizerError("8-bit AdamW state does not fit the \(parameters.count) parameters: " + listed(problems))
        }
        for (index, parameter) in parameters.enumerated() {
            let name = parameter.name
            switch moments[index] {
            case let .full(first, second):
                guard case let .float(m) = state[name + ".state1"]!, case let .float(v) = state[name + ".state2"]! else { continue }
                first.data.update(from: m.data, count: first.count)
                second.data.update(from: v.data, count: second.count)
            case let .quantized(q):
                guard case let .bytes(c1, _) = state[name + ".state1"]!, case let .bytes(c2, _) = state[name + ".state2"]!,
                      case let .float(a1) = state[name + ".absmax1"]!, case let .float(a2) = state[name + ".absmax2"]! else { continue }
                q.load(first: c1, second: c2, firstAbsmax: a1.array, secondAbsmax: a2.array)
            }
        }
        stepCounts = steps
    }
}

/// Checks shared by the AdamW variants (torch's and bitsandbytes' checks), and unique names.
func checkHyperparameters(_ parameters: [Parameter], weightDecay: Double, beta1: Double, beta2: Double, epsilon: Double) throws {
    guard weightDecay.isFinite, weightDecay >= 0 else {
        throw OptimizerError("weight decay must be a finite number ≥ 0, not \(weightDecay)")
    }
    for (name, beta) in [("beta1", beta1), ("beta2", beta2)] where !(beta >= 0 && beta < 1) {
        throw OptimizerError("\(name) must be in [0, 1), not \(beta)")
    }
    guard epsilon.isFinite, epsilon >= 0 else {
        throw OptimizerError("epsilon must be a finite number ≥ 0, not \(epsilon)")
    }
    var seen = Set<String>()
    for parameter in parameters where !seen.insert(parameter.name).inserted {
        throw OptimizerError("two parameters are named \"\(parameter.name)\"; optimizer state is keyed by name")
    }
}

/// A step count stored as a single float: a whole number in 0…2²⁴.
func stepCount(_ entry: OptimizerStateTensor?, name: String) throws -> Int {
    guard let entry else { throw OptimizerError("\"\(name)\" is missing") }
    guard case let .float(step) = entry, step.count == 1, step.shape.count <= 1 else {
        throw OptimizerError("\"\(name)\" has shape \(entry.shape), expected a single number")
    }
    let value = step[0]
    guard value >= 0, value <= 16_777_216, value.rounded() == value else {
        throw OptimizerError("\"\(name)\" is \(value), not a whole number of steps")
    }
    return Int(value)
}

/// At most five items, then how many more.
func listed(_ items: [String]) -> String {
    items.prefix(5).joined(separator: "; ") + (items.count > 5 ? "; and \(items.count - 5) more" : "")
}
