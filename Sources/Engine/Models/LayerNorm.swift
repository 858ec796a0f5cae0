import Foundation
import FinchTensor

/// Layer normalisation over the last dimension, as torch.nn.LayerNorm (biased variance).
public final class LayerNorm: @unchecked Sendable {
    public let name: String
    public var weight: Tensor
    public var bias: Tensor
    /// Gradients accumulated by `backward`; nil while frozen.
    public var weightGradient: Tensor?
    public var biasGradient: Tensor?
    public let epsilon: Float
    public var size: Int { weight.count }

    public init(name: String, weight: Tensor, bias: Tensor, epsilon: Float) {
        precondition(weight.count == bias.count, "\(name): weight and bias sizes differ")
        self.name = name
        self.weight = weight
        self.bias = bias
        self.epsilon = epsilon
    }

    /// Forward: y[r, :] = (x[r, :] − mean_r) · rstd_r · γ + β for x[rows, size]. Saves mean and rstd per
    /// row (for backward) when `mean` / `rstd` are given. `y` may alias `x`.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                        mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil) {
        let n = size
        let gamma = weight.data, beta = bias.data
        for r in 0..<rows {
            let row = x + r * n
            let out = y + r * n
            let m = Kernels.sum(row, count: n) / Float(n)
            let variance = Kernels.sumOfSquares(row, mean: m, count: n) / Float(n)
            let s = 1 / (variance + epsilon).squareRoot()
            mean?[r] = m
            rstd?[r] = s
            var i = 0
            while i + vectorWidthForKernels <= n {
                let v = (Kernels.load(row + i) - m) * s * Kernels.load(gamma + i) + Kernels.load(beta + i)
                Kernels.store(v, to: out + i)
                i += vectorWidthForKernels
            }
            while i < n { out[i] = (row[i] - m) * s * gamma[i] + beta[i]; i += 1 }
        }
    }

    /// Backward of `forward` with the saved per-row mean and rstd:
    ///   n = (x − mean)·rstd,  dn = dy ⊙ γ
    ///   dx = rstd · (dn − mean(dn) − n · mean(dn ⊙ n))     (written, or added when `accumulateInput`)
    ///   dγ += Σ_rows dy ⊙ n,  dβ += Σ_rows dy              (when not frozen)
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, rows: Int,
                         mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                         inputGradient dx: UnsafeMutablePointer<Float>, accumulateInput: Bool = false) {
        let n = size
        let gamma = weight.data
        let weightGradient = self.weightGradient?.data, biasGradient = self.biasGradient?.data
        for r in 0..<rows {
            let row = x + r * n, grad = dy + r * n, out = dx + r * n
            let m = mean[r], s = rstd[r]
            var sumDn: Float = 0, sumDnN: Float = 0
            for i in 0..<n {
                let normalized = (row[i] - m) * s
                let dn = grad[i] * gamma[i]
                sumDn += dn
                sumDnN += dn * normalized
                weightGradient?[i] += grad[i] * normalized
                biasGradient?[i] += grad[i]
            }
            let meanDn = sumDn / Float(n), meanDnN = sumDnN / Float(n)
            for i in 0..<n {
                let normalized = (row[i] - m) * s
                let value = s * (grad[i] * gamma[i] - meanDn - normalized * meanDnN)
                out[i] = accumulateInput ? out[i] + value : value
            }
        }
    }

    /// The naive reference of `forward` in Double, for tests.
    public func referenceForward(_ x: [Float], rows: Int) -> [Float] {
        let n = size
        var y = [Float](repeating: 0, count: x.count)
        for r in 0..<rows {
            let row = x[(r * n)..<(r * n + n)].map(Double.init)
            let m = row.reduce(0, +) / Double(n)
            let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(n)
            let s = 1 / (v + Double(epsilon)).squareRoot()
            for i in 0..<n { y[r * n + i] = Float((row[i] - m) * s * Double(weight[i]) + Double(bias[i])) }
        }
        return y
    }
}

let vectorWidthForKernels = Vector.scalarCount
