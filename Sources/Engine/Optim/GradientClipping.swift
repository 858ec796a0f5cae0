import FinchTensor

/// Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_(parameters, max_norm)` with
/// norm_type 2 (what the Hugging Face Trainer calls with `max_grad_norm`).
public enum GradientClipping {
    /// The L2 norm of all gradients together, as if concatenated into one vector. Squares are summed in
    /// Double (SIMD); torch's float32 result agrees to about 1e-7 relative.
    public static func globalNorm(_ parameters: [Parameter]) -> Double {
        var total = 0.0
        for p in parameters { total += sumOfSquares(p.gradient.data, count: p.gradient.count) }
        return total.squareRoot()
    }

    /// Multiplies every gradient by `min(1, maxNorm / (norm + 1e-6))` and returns the norm before
    /// clipping. The factor is computed in Float as torch 2.13 computes it (`total_norm + 1e-6`, then a
    /// reciprocal times `max_norm`, clamped to 1). When the factor is 1 nothing is touched, which is what
    /// torch's unconditional multiply by 1 does; a NaN norm makes every gradient NaN, as in torch.
    /// `maxNorm: .infinity` only measures the norm (the Trainer's path when clipping is off).
    @discardableResult
    public static func clip(_ parameters: [Parameter], maxNorm: Double) -> Double {
        precondition(maxNorm > 0, "max norm \(maxNorm) must be > 0")
        let norm = globalNorm(parameters)
        let factor = (1 / (Float(norm) + 1e-6)) * Float(maxNorm)
        if !(factor >= 1) {  // below 1, or NaN (torch's clamp keeps NaN)
            for p in parameters { Kernels.scale(p.gradient.data, by: factor, count: p.gradient.count) }
        }
        return norm
    }

    /// Σ x², widened to Double before squaring.
    static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var low = SIMD8<Double>.zero, high = SIMD8<Double>.zero
        var i = 0
        while i + Vector.scalarCount <= count {
            let v = Kernels.load(x + i)
            let a = SIMD8<Double>(v.lowHalf), b = SIMD8<Double>(v.highHalf)
            low += a * a
            high += b * b
            i += Vector.scalarCount
        }
        var total = (low + high).sum()
        while i < count { total += Double(x[i]) * Double(x[i]); i += 1 }
        return total
    }
}
