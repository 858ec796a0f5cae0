import Foundation
import FinchTensor

/// Causal self-attention with grouped-query heads and rotary positions (LlamaAttention, eager).
/// Query head h reads key/value head h / (heads / kvHeads). Heads are strided views into the
/// projections' [tokens, width] outputs: every product is an sgemm with a leading dimension, never a copy.
public final class CausalAttention: @unchecked Sendable {
    public let query: Linear
    public let key: Linear
    public let value: Linear
    public let output: Linear
    public let headCount: Int
    public let keyValueHeadCount: Int
    public let headSize: Int
    public let rotary: RotaryEmbedding

    public init(query: Linear, key: Linear, value: Linear, output: Linear, headCount: Int, keyValueHeadCount: Int,
                headSize: Int, rotary: RotaryEmbedding) {
        self.query = query
        self.key = key
        self.value = value
        self.output = output
        self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount
        self.headSize = headSize
        self.rotary = rotary
    }

    var queryWidth: Int { headCount * headSize }
    var keyValueWidth: Int { keyValueHeadCount * headSize }
    var group: Int { headCount / keyValueHeadCount }
    var scale: Float { 1 / Float(headSize).squareRoot() }

    /// Forward x[tokens, hidden] → y[tokens, hidden] (the o_proj output). Saves q, k (rotated), v,
    /// probabilities [batch, heads, seq, seq] and context [tokens, heads·d] in `saved`.
    public func forward(_ x: UnsafePointer<Float>, mask: CausalMask, saved: CausalAttentionBuffers,
                        into y: UnsafeMutablePointer<Float>) {
        let (batch, seq) = (mask.batch, mask.sequence), tokens = batch * seq
        let (qw, kw) = (queryWidth, keyValueWidth)
        query.forward(x, rows: tokens, into: saved.q)
        key.forward(x, rows: tokens, into: saved.k)
        value.forward(x, rows: tokens, into: saved.v)
        mask.positions.withUnsafeBufferPointer { positions in
            rotary.rotate(saved.q, rows: tokens, heads: headCount, positions: positions.baseAddress!)
            rotary.rotate(saved.k, rows: tokens, heads: keyValueHeadCount, positions: positions.baseAddress!)
        }
        for b in 0..<batch {
            for h in 0..<headCount {
                let g = h / group
                let q = saved.q + b * seq * qw + h * headSize
                let k = saved.k + b * seq * kw + g * headSize
                let v = saved.v + b * seq * kw + g * headSize
                let probs = saved.probabilities + (b * headCount + h) * seq * seq
                // scores[seq, seq] = scale · Q_bh[seq, d] · K_bg[seq, d]ᵀ, then softmax over each row's key range
                BLAS.gemm(transposeB: true, m: seq, n: seq, k: headSize, alpha: scale, a: q, lda: qw, b: k, ldb: kw,
                          c: probs, ldc: seq)
                for s in 0..<seq { normalize(probs + s * seq, mask: mask, token: b * seq + s) }
                // context_bh[seq, d] = P[seq, seq] · V_bg[seq, d]
                BLAS.gemm(m: seq, n: headSize, k: seq, a: probs, lda: seq, b: v, ldb: kw,
                          c: saved.context + b * seq * qw + h * headSize, ldc: qw)
            }
        }
        output.forward(saved.context, rows: tokens, into: y)
    }

    /// Softmax of one score row over its allowed keys; every other entry becomes exactly 0.
    private func normalize(_ row: UnsafeMutablePointer<Float>, mask: CausalMask, token t: Int) {
        let start = Int(mask.keyStart[t]), end = Int(mask.keyEnd[t])
        if start > 0 { row.update(repeating: 0, count: start) }
        Kernels.softmaxInPlace(row + start, valid: end - start + 1, count: mask.sequence - start)
    }

    /// Backward given the layer input x, the saved forward buffers and dy (gradient of the o_proj output).
    /// Writes dx[tokens, hidden]; accumulates the gradients of unfrozen projections. Per (row b, head h → g):
    ///   dC = dy · W_o;  dP = dC_bh · V_bgᵀ;  dV_bg += Pᵀ · dC_bh
    ///   dS = scale · P ⊙ (dP − rowsum(dP ⊙ P));  dQ_bh = dS · K_bg;  dK_bg += dSᵀ · Q_bh
    /// then dQ and dK are rotated back (rotation is orthogonal: its backward is the inverse rotation).
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, mask: CausalMask,
                         saved: CausalAttentionBuffers, scratch: CausalAttentionGradients, inputGradient dx: UnsafeMutablePointer<Float>) {
        let (batch, seq) = (mask.batch, mask.sequence), tokens = batch * seq
        let (qw, kw) = (queryWidth, keyValueWidth)
        output.backward(saved.context, outputGradient: dy, rows: tokens, inputGradient: scratch.context)
        scratch.key.update(repeating: 0, count: tokens * kw)
        scratch.value.update(repeating: 0, count: tokens * kw)
        let dP = scratch.probabilities
        for b in 0..<batch {
            for h in 0..<headCount {
                let g = h / group
                let q = saved.q + b * seq * qw + h * headSize, dQ = scratch.query + b * seq * qw + h * headSize
                let k = saved.k + b * seq * kw + g * headSize, dK = scratch.key + b * seq * kw + g * headSize
                let v = saved.v + b * seq * kw + g * headSize, dV = scratch.value + b * seq * kw + g * headSize
                let dC = scratch.context + b * seq * qw + h * headSize
                let probs = saved.probabilities + (b * headCount + h) * seq * seq
                BLAS.gemm(transposeB: true, m: seq, n: seq, k: headSize, a: dC, lda: qw, b: v, ldb: kw, c: dP, ldc: seq)
                BLAS.gemm(transposeA: true, m: seq, n: headSize, k: seq, a: probs, lda: seq, b: dC, ldb: qw,
                          beta: 1, c: dV, ldc: kw)
                for s in 0..<seq {
                    let t = b * seq + s, start = Int(mask.keyStart[t]), count = Int(mask.keyEnd[t]) - start + 1
                    let row = dP + s * seq
                    if start > 0 { row.update(repeating: 0, count: start) }
                    Kernels.softmaxBackward(probabilities: probs + s * seq + start, gradient: row + start, count: count)
                    Kernels.scale(row + start, by: scale, count: count)
                    let after = start + count
                    if after < seq { (row + after).update(repeating: 0, count: seq - after) }
                }
                BLAS.gemm(m: seq, n: headSize, k: seq, a: dP, lda: seq, b: k, ldb: kw, c: dQ, ldc: qw)
                BLAS.gemm(transposeA: true, m: seq, n: headSize, k: seq, a: dP, lda: seq, b: q, ldb: qw,
                          beta: 1, c: dK, ldc: kw)
            }
        }
        mask.positions.withUnsafeBufferPointer { positions in
            rotary.rotate(scratch.query, rows: tokens, heads: headCount, positions: positions.baseAddress!, inverse: true)
            rotary.rotate(scratch.key, rows: tokens, heads: keyValueHeadCount, positions: positions.baseAddress!, inverse: true)
        }
        query.backward(x, outputGradient: scratch.query, rows: tokens, inputGradient: dx)
        key.backward(x, outputGradient: scratch.key, rows: tokens, inputGradient: dx, accumulateInput: true)
        value.backward(x, outputGradient: scratch.value, rows: tokens, inputGradient: dx, accumulateInput: true)
    }
}

/// What causal attention keeps from forward for backward, sized for a capacity of rows and tokens.
public final class CausalAttentionBuffers: @unchecked Sendable {
    public let q, k, v, context, probabilities: UnsafeMutablePointer<Float>
    private let storage: [Tensor]

    public init(tokens: Int, queryWidth: Int, keyValueWidth: Int, batch: Int, heads: Int, sequence: Int) {
        storage = [Tensor(zeros: [tokens, queryWidth]), Tensor(zeros: [tokens, keyValueWidth]), Tensor(zeros: [tokens, keyValueWidth]),
                   Tensor(zeros: [tokens, queryWidth]), Tensor(zeros: [batch, heads, sequence, sequence])]
        (q, k, v, context, probabilities) = (storage[0].data, storage[1].data, storage[2].data, storage[3].data, storage[4].data)
    }

    public var byteCount: Int { storage.reduce(0) { $0 + $1.byteCount } }
}

/// Scratch for causal attention backward: gradients of context and q [tokens, heads·d], of k and v
/// [tokens, kvHeads·d], and one [seq, seq] probability-gradient tile reused per head.
public final class CausalAttentionGradients: @unchecked Sendable {
    public let context, query, key, value, probabilities: UnsafeMutablePointer<Float>
    private let storage: [Tensor]

    public init(tokens: Int, queryWidth: Int, keyValueWidth: Int, sequence: Int) {
        storage = [Tensor(zeros: [tokens, queryWidth]), Tensor(zeros: [tokens, queryWidth]), Tensor(zeros: [tokens, keyValueWidth]),
                   Tensor(zeros: [tokens, keyValueWidth]), Tensor(zeros: [sequence, sequence])]
        (context, query, key, value, probabilities) = (storage[0].data, storage[1].data, storage[2].data, storage[3].data, storage[4].data)
    }

    public var byteCount: Int { storage.reduce(0) { $0 + $1.byteCount } }
}
