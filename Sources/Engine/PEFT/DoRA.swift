import FinchModels
import FinchTensor

/// DoRA (weight-decomposed LoRA) on top of a LoRA adapter, as PEFT computes it for a linear layer:
///   n[o] = ‖W[o,:] + s·(B·A)[o,:]‖₂ (treated as a constant in backward),  c[o] = m[o] / n[o]
///   y = x·Wᵀ + b + (c − 1) ⊙ (x_d·Wᵀ) + c ⊙ s·(x_d·Aᵀ·Bᵀ)
/// with the magnitude m [out] trained and initialised to n with B = 0 (the base row norms). On a 4-bit base
/// (QLoRA) W is the dequantized weight, as PEFT computes it for bitsandbytes layers; the norms then need one
/// dequantization of W per forward.
public final class DoRAMagnitude: @unchecked Sendable {
    public let magnitude: Tensor
    public let gradient: Tensor
    private var rowCapacity = 0
    private var combined = Tensor(zeros: [0])      // W + s·B·A [out, in]
    private var norms = Tensor(zeros: [0])         // n [out]
    private var scale = Tensor(zeros: [0])         // c [out]
    private var baseOutput = Tensor(zeros: [0])    // x_d·Wᵀ [rows, out]
    private var loraOutput = Tensor(zeros: [0])    // x_d·Aᵀ·Bᵀ [rows, out]
    private var scaledGradient = Tensor(zeros: [0])
    /// c at the time of merging, to undo it exactly.
    private var mergedScale: [Float] = []

    init(base: Linear, adapter: LoRAAdapter) {
        magnitude = Tensor(zeros: [base.outFeatures])
        gradient = Tensor(zeros: [base.outFeatures])
        rowNorms(base: base, adapter: adapter, into: magnitude)
    }

    /// n[o] = ‖W[o,:] + s·(B·A)[o,:]‖₂
    private func rowNorms(base: Linear, adapter: LoRAAdapter, into out: Tensor) {
        let (outFeatures, inFeatures) = (base.outFeatures, base.inFeatures)
        if combined.count != outFeatures * inFeatures { combined = Tensor(zeros: [outFeatures, inFeatures]) }
        base.copyWeight(into: combined.data)
        adapter.addDelta(to: combined, sign: 1)
        for o in 0..<outFeatures {
            out[o] = Kernels.sumOfSquares(combined.data + o * inFeatures, mean: 0, count: inFeatures).squareRoot()
        }
    }

    /// Adds the DoRA terms to y [rows, out], which holds x·Wᵀ + b; `input` is x_d and `projected` x_d·Aᵀ.
    func forward(input: UnsafePointer<Float>, projected: UnsafePointer<Float>, rows: Int, base: Linear,
                 adapter: LoRAAdapter, baseFromOutput: Bool, into y: UnsafeMutablePointer<Float>) {
        let outFeatures = base.outFeatures
        prepare(rows: rows, outFeatures: outFeatures)
        rowNorms(base: base, adapter: adapter, into: norms)
        for o in 0..<outFeatures { scale[o] = magnitude[o] / norms[o] }
        BLAS.gemm(transposeB: true, m: rows, n: outFeatures, k: adapter.rank, a: projected, lda: adapter.rank,
                  b: adapter.b.data, ldb: adapter.rank, c: loraOutput.data, ldc: outFeatures)
        if baseFromOutput {
            // Without dropout x_d = x, so x·Wᵀ is y minus the bias.
            baseOutput.data.update(from: y, count: rows * outFeatures)
            if let bias = base.bias {
                for r in 0..<rows { for o in 0..<outFeatures { baseOutput[r * outFeatures + o] -= bias[o] } }
            }
        } else {
            base.weightProduct(input, rows: rows, into: baseOutput.data)
        }
        let s = adapter.scaling
        for r in 0..<rows {
            for o in 0..<outFeatures {
                let i = r * outFeatures + o
                y[i] += (scale[o] - 1) * baseOutput[i] + scale[o] * s * loraOutput[i]
            }
        }
    }

    /// Accumulates ∂m and returns dy ⊙ c, the gradient the LoRA product sees; writes (dy ⊙ (c − 1)) · W,
    /// the extra input gradient through x_d, into `extraInputGradient` [rows, in].
    func backward(outputGradient dy: UnsafePointer<Float>, rows: Int, base: Linear, scaling s: Float,
                  extraInputGradient: UnsafeMutablePointer<Float>?) -> UnsafePointer<Float> {
        let outFeatures = base.outFeatures
        for r in 0..<rows {
            for o in 0..<outFeatures {
                let i = r * outFeatures + o
                gradient[o] += dy[i] * (baseOutput[i] + s * loraOutput[i]) / norms[o]
                scaledGradient[i] = dy[i] * (scale[o] - 1)
            }
        }
        if let extraInputGradient {
            base.inputGradientProduct(scaledGradient.data, rows: rows, into: extraInputGradient)
        }
        for r in 0..<rows { for o in 0..<outFeatures { scaledGradient[r * outFeatures + o] = dy[r * outFeatures + o] * scale[o] } }
        return UnsafePointer(scaledGradient.data)
    }

    /// W ← c ⊙ (W + s·B·A) row by row (refusing non-finite results), or back.
    func merge(into base: Linear, adapter: LoRAAdapter) throws {
        rowNorms(base: base, adapter: adapter, into: norms)
        let inFeatures = base.inFeatures
        mergedScale = (0..<base.outFeatures).map { magnitude[$0] / norms[$0] }
        guard (0..<combined.count).allSatisfy({ (combined[$0] * mergedScale[$0 / inFeatures]).isFinite }) else {
            throw PEFTError("merging the adapter into \(base.name) gives non-finite weights; nothing was merged")
        }
    }

    func applyMerge(into base: Linear) {
        let inFeatures = base.inFeatures
        for i in 0..<combined.count { base.weight[i] = combined[i] * mergedScale[i / inFeatures] }
    }

    func unmerge(from base: Linear, adapter: LoRAAdapter) {
        let inFeatures = base.inFeatures
        for i in 0..<base.weight.count { base.weight[i] /= mergedScale[i / inFeatures] }
        adapter.addDelta(to: base.weight, sign: -1)
    }

    private func prepare(rows: Int, outFeatures: Int) {
        if norms.count != outFeatures { norms = Tensor(zeros: [outFeatures]); scale = Tensor(zeros: [outFeatures]) }
        guard rows > rowCapacity else { return }
        rowCapacity = rows
        baseOutput = Tensor(zeros: [rows, outFeatures])
        loraOutput = Tensor(zeros: [rows, outFeatures])
        scaledGradient = Tensor(zeros: [rows, outFeatures])
    }
}
