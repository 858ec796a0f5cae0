import FinchTensor

/// A linear layer in torch.nn.Linear layout: y[rows, out] = x[rows, in] · W[out, in]ᵀ + b[out].
/// `name` is the module path in the checkpoint (e.g. "encoder.layer.0.attention.self.query"), the name
/// that adapters target.
public final class Linear: @unchecked Sendable {
    public let name: String
    public var weight: Tensor
    public var bias: Tensor?
    /// Gradient of the weight, accumulated by `backward`; nil while the weight is frozen.
    public var weightGradient: Tensor?
    /// Gradient of the bias, accumulated by `backward`; nil while the bias is frozen.
    public var biasGradient: Tensor?
    /// A low-rank (or other) adapter whose output is added to this layer's (LoRA, DoRA, …).
    public var adapter: LinearAdapter?
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public init(name: String, weight: Tensor, bias: Tensor?) {
        precondition(weight.shape.count == 2, "\(name).weight must be 2-D, got \(weight.shape)")
        precondition(bias == nil || bias!.count == weight.shape[0], "\(name).bias does not match the weight")
        self.name = name
        self.weight = weight
        self.bias = bias
    }

    /// Forward: y[rows, out] = x[rows, in] · Wᵀ + b.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        BLAS.linear(x, rows: rows, inFeatures: inFeatures, weight: weight.data, bias: bias?.data,
                    outFeatures: outFeatures, into: y)
        adapter?.forward(x, rows: rows, base: self, into: y)
    }

    /// Backward of `forward`, given x[rows, in] and dy[rows, out]:
    ///   dx[rows, in]  = dy · W            (written, or added when `accumulateInput`)
    ///   dW[out, in]  += dyᵀ · x           (only with a `weightGradient`: frozen weights skip the product)
    ///   db[out]      += Σ_rows dy         (only with a `biasGradient`)
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, rows: Int,
                         inputGradient dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool = false) {
        if let dx {
            BLAS.gemm(m: rows, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures,
                      b: weight.data, ldb: inFeatures, beta: accumulateInput ? 1 : 0, c: dx, ldc: inFeatures)
        }
        if let weightGradient {
            BLAS.gemm(transposeA: true, m: outFeatures, n: inFeatures, k: rows, a: dy, lda: outFeatures,
                      b: x, ldb: inFeatures, beta: 1, c: weightGradient.data, ldc: inFeatures)
        }
        if let biasGradient {
            for r in 0..<rows { Kernels.add(dy + r * outFeatures, into: biasGradient.data, count: outFeatures) }
        }
        adapter?.backward(x, outputGradient: dy, rows: rows, base: self, inputGradient: dx)
    }

    /// The naive reference of `forward`, for tests: a scalar triple loop in Double.
    public func referenceForward(_ x: [Float], rows: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outFeatures)
        for r in 0..<rows {
            for o in 0..<outFeatures {
                var sum = Double(bias?[o] ?? 0)
                for i in 0..<inFeatures { sum += Double(x[r * inFeatures + i]) * Double(weight[o * inFeatures + i]) }
                y[r * outFeatures + o] = Float(sum)
            }
        }
        return y
    }
}

/// Something added to a linear layer's output: the small protocol every PEFT method implements.
public protocol LinearAdapter: AnyObject {
    /// Adds the adapter's contribution to y[rows, out], which holds the base layer's output.
    func forward(_ x: UnsafePointer<Float>, rows: Int, base: Linear, into y: UnsafeMutablePointer<Float>)
    /// Accumulates the adapter's own gradients and adds its part of dx (which holds the base's dy · W).
    func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, rows: Int, base: Linear,
                  inputGradient dx: UnsafeMutablePointer<Float>?)
}
