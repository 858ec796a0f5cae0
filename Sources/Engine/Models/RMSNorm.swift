import Foundation
import FinchTensor

/// Root-mean-square normalisation over the last dimension, as LlamaRMSNorm:
///   y[r, i] = w[i] · x[r, i] · rstd_r,   rstd_r = 1 / √(mean_i x[r, i]² + ε)
public final class RMSNorm: @unchecked Sendable {
    public let name: String
    public var weight: Tensor
    /// Gradient of the weight, accumulated by `backward`; nil while frozen.
    public var weightGradient: Tensor?
    public let epsilon: Float
    public var size: Int { weight.count }

    public init(name: String, weight: Tensor, epsilon: Float) {
        self.name = name
        self.weight = weight
        self.epsilon = epsilon
    }

    /// Forward for x[rows, size] → y[rows, size]; saves rstd per row when `rstd` is given. `y` may alias `x`.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                        rstd: UnsafeMutablePointer<Float>? = nil) {
        let n = size, w = weight.data
        for r in 0..<rows {
            let row = x + r * n, out = y + r * n
            let s = 1 / (Kernels.sumOfSquares(row, mean: 0, count: n) / Float(n) + epsilon).squareRoot()
            rstd?[r] = s
            var i = 0
            while i + vectorWidthForKernels <= n {
                Kernels.store(Kernels.load(w + i) * (Kernels.load(row + i) * s), to: out + i)
                i += vectorWidthForKernels
            }
            while i < n { out[i] = w[i] * (row[i] * s); i += 1 }
        }
    }

    /// Backward given x, the saved rstd and dy: with n̂ = x · rstd,
    ///   dx = rstd · (g − n̂ · mean(g ⊙ n̂)),  g = dy ⊙ w;   dw += Σ_rows dy ⊙ n̂
    /// dx is written (or added with `accumulate`).
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, rows: Int,
                         rstd: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        let n = size, w = weight.data
        for r in 0..<rows {
            let row = x + r * n, g = dy + r * n, out = dx + r * n
            let s = rstd[r]
            var dot: Float = 0
            for i in 0..<n { dot += g[i] * w[i] * row[i] * s }
            let m = dot / Float(n)
            if accumulate {
                for i in 0..<n { out[i] += s * (g[i] * w[i] - row[i] * s * m) }
            } else {
                for i in 0..<n { out[i] = s * (g[i] * w[i] - row[i] * s * m) }
            }
            if let weightGradient {
                let dw = weightGradient.data
                for i in 0..<n { dw[i] += g[i] * row[i] * s }
            }
        }
    }
}
