import FinchModels
import FinchTensor

/// LoRA on one linear layer: y += s · dropout(x) · Aᵀ · Bᵀ with A [r, in], B [out, r] and
/// s = α/r (or α/√r with rsLoRA). Initialised as PEFT does: A Kaiming-uniform (a = √5, so
/// U(−1/√in, 1/√in)), B zero, so the adapted model starts equal to the base.
public final class LoRAAdapter: LinearAdapter, @unchecked Sendable {
    public let rank: Int
    public let scaling: Float
    public let dropout: Float
    public let a: Tensor
    public let b: Tensor
    public let aGradient: Tensor
    public let bGradient: Tensor
    /// Whether dropout is applied (training) or not (evaluation).
    public var isTraining = false
    /// While merged into the base weight the adapter adds nothing (its product is already in W).
    public private(set) var isMerged = false
    /// The DoRA magnitude, when this adapter is a DoRA adapter.
    public private(set) var dora: DoRAMagnitude?
    private var random: SeededRandom
    private var rowCapacity = 0
    private var projected = Tensor(zeros: [0])   // x_d · Aᵀ [rows, r]
    private var projectedGradient = Tensor(zeros: [0])
    /// The mask of the last training forward (x_d = x ⊙ mask is drawn again in backward, not kept).
    private var mask: DropoutMask?

    public init(inFeatures: Int, outFeatures: Int, rank: Int, alpha: Float, rankStabilized: Bool,
                dropout: Float, random: inout SeededRandom) {
        self.rank = rank
        self.scaling = rankStabilized ? alpha / Float(rank).squareRoot() : alpha / Float(rank)
        self.dropout = dropout
        a = Tensor(zeros: [rank, inFeatures])
        b = Tensor(zeros: [outFeatures, rank])
        aGradient = Tensor(zeros: [rank, inFeatures])
        bGradient = Tensor(zeros: [outFeatures, rank])
        let bound = 1 / Float(inFeatures).squareRoot()
        random.fillUniform(a, -bound, bound)
        self.random = SeededRandom(seed: random.next())
    }

    /// The generator of this adapter's dropout masks (saved with checkpoints for exact resume).
    public var dropoutRandom: SeededRandom {
        get { random }
        set { random = newValue }
    }

    /// Its trainable tensors as optimizer parameters named as PEFT saves them under `module` (lora_A,
    /// lora_B and DoRA's magnitude), gradients zeroed.
    public func parameters(module: String) -> [Parameter] {
        aGradient.data.update(repeating: 0, count: aGradient.count)
        bGradient.data.update(repeating: 0, count: bGradient.count)
        var parameters = [Parameter(name: module + ".lora_A.weight", value: a, gradient: aGradient, decays: true),
                          Parameter(name: module + ".lora_B.weight", value: b, gradient: bGradient, decays: true)]
        if let dora {
            dora.gradient.data.update(repeating: 0, count: dora.gradient.count)
            parameters.append(Parameter(name: module + ".lora_magnitude_vector", value: dora.magnitude, gradient: dora.gradient, decays: true))
        }
        return parameters
    }

    /// Turns this adapter into DoRA on `base`, with the magnitude initialised to the row norms.
    func enableDoRA(base: Linear) {
        dora = DoRAMagnitude(base: base, adapter: self)
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, base: Linear, into y: UnsafeMutablePointer<Float>) {
        guard !isMerged else { return }
        let (inFeatures, outFeatures) = (base.inFeatures, base.outFeatures)
        prepare(rows: rows)
        mask = dropout > 0 && isTraining ? DropoutMask(rate: dropout, random: &random) : nil
        let dropped = mask.map { mask in
            let buffer = ScratchPool.take(floats: rows * inFeatures)
            mask.apply(x, into: buffer.floats, count: rows * inFeatures)
            return buffer
        }
        defer { if let dropped { ScratchPool.give(dropped) } }
        let input = dropped.map { UnsafePointer($0.floats) } ?? x
        // projected[rows, r] = x_d · Aᵀ;  y[rows, out] += s · projected · Bᵀ
        BLAS.gemm(transposeB: true, m: rows, n: rank, k: inFeatures, a: input, lda: inFeatures,
                  b: a.data, ldb: inFeatures, c: projected.data, ldc: rank)
        if let dora {
            dora.forward(input: input, projected: projected.data, rows: rows, base: base, adapter: self,
                         baseFromOutput: mask == nil, into: y)
            return
        }
        BLAS.gemm(transposeB: true, m: rows, n: outFeatures, k: rank, alpha: scaling, a: projected.data, lda: rank,
                  b: b.data, ldb: rank, beta: 1, c: y, ldc: outFeatures)
    }

    /// dB += s · dyᵀ · projected;  dP = s · dy · B;  dA += dPᵀ · x_d;  dx += (dP · A) ⊙ mask/(1−p)
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, rows: Int, base: Linear,
                         inputGradient dx: UnsafeMutablePointer<Float>?) {
        guard !isMerged else { return }
        let (inFeatures, outFeatures) = (base.inFeatures, base.outFeatures)
        let count = rows * inFeatures
        // x_d drawn again from the mask; ∂x_d in a scratch buffer when it cannot go straight into dx.
        let dropped = mask.map { mask in
            let buffer = ScratchPool.take(floats: count)
            mask.apply(x, into: buffer.floats, count: count)
            return buffer
        }
        let droppedGradient = dx != nil && (mask != nil || dora != nil) ? ScratchPool.take(floats: count) : nil
        defer {
            if let dropped { ScratchPool.give(dropped) }
            if let droppedGradient { ScratchPool.give(droppedGradient) }
        }
        let input = dropped.map { UnsafePointer($0.floats) } ?? x
        // DoRA: the LoRA product sees dy ⊙ c; (dy ⊙ (c − 1)) · W flows to x_d, added to dx below.
        var dy = dy
        if let dora {
            dy = dora.backward(outputGradient: dy, rows: rows, base: base, scaling: scaling,
                               extraInputGradient: droppedGradient?.floats)
        }
        BLAS.gemm(transposeA: true, m: outFeatures, n: rank, k: rows, alpha: scaling, a: dy, lda: outFeatures,
                  b: projected.data, ldb: rank, beta: 1, c: bGradient.data, ldc: rank)
        BLAS.gemm(m: rows, n: rank, k: outFeatures, alpha: scaling, a: dy, lda: outFeatures, b: b.data, ldb: rank,
                  c: projectedGradient.data, ldc: rank)
        BLAS.gemm(transposeA: true, m: rank, n: inFeatures, k: rows, a: projectedGradient.data, lda: rank,
                  b: input, ldb: inFeatures, beta: 1, c: aGradient.data, ldc: inFeatures)
        guard let dx else { return }
        // ∂/∂x_d: the LoRA path dP · A (plus DoRA's extra term already written there); dx += ∂x_d ⊙ mask.
        guard let droppedGradient else {
            BLAS.gemm(m: rows, n: inFeatures, k: rank, a: projectedGradient.data, lda: rank, b: a.data, ldb: inFeatures,
                      beta: 1, c: dx, ldc: inFeatures)
            return
        }
        BLAS.gemm(m: rows, n: inFeatures, k: rank, a: projectedGradient.data, lda: rank, b: a.data, ldb: inFeatures,
                  beta: dora == nil ? 0 : 1, c: droppedGradient.floats, ldc: inFeatures)
        if let mask {
            mask.accumulate(droppedGradient.floats, into: dx, count: count)
        } else {
            Kernels.add(droppedGradient.floats, into: dx, count: count)
        }
    }

    /// W ± s · B · A, the LoRA product as a dense [out, in] update.
    func addDelta(to weight: Tensor, sign: Float) {
        let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
        BLAS.gemm(m: outFeatures, n: inFeatures, k: rank, alpha: sign * scaling, a: b.data, lda: rank,
                  b: a.data, ldb: inFeatures, beta: 1, c: weight.data, ldc: inFeatures)
    }

    func setMerged(_ merged: Bool) { isMerged = merged }

    private func prepare(rows: Int) {
        guard rows > rowCapacity else { return }
        rowCapacity = rows
        projected = Tensor(zeros: [rows, rank])
        projectedGradient = Tensor(zeros: [rows, rank])
    }
}
