import FinchTensor

/// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_.
public enum GradientClipping {
    /// The L2 norm of all gradients together (accumulated in Double).
    public static func globalNorm(_ parameters: [Parameter]) -> Double {
        var total = 0.0
        for p in parameters {
            let g = p.gradient.data
            for i in 0..<p.gradient.count { total += Double(g[i]) * Double(g[i]) }
        }
        return total.squareRoot()
    }

    /// Scales every gradient by min(1, maxNorm / (norm + 1e-6)) and returns the norm before clipping,
    /// exactly as clip_grad_norm_ does (it scales even when the factor is 1 only in value, not effect).
    @discardableResult
    public static func clip(_ parameters: [Parameter], maxNorm: Double) -> Double {
        let norm = globalNorm(parameters)
        let factor = Float(min(1, maxNorm / (norm + 1e-6)))
        if factor < 1 {
            for p in parameters { Kernels.scale(p.gradient.data, by: factor, count: p.gradient.count) }
        }
        return norm
    }
}
