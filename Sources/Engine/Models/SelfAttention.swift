import Foundation
import FinchTensor

/// Multi-head self-attention with a key mask (BERT's BertSelfAttention + the output projection).
/// Heads are strided views into [tokens, hidden] matrices: every product is an sgemm with a leading
/// dimension of `hidden`, never a copy.
public final class SelfAttention: @unchecked Sendable {
    public let query: Linear
    public let key: Linear
    public let value: Linear
    public let output: Linear
    public let headCount: Int
    public var hidden: Int { query.outFeatures }
    public var headSize: Int { hidden / headCount }

    public init(query: Linear, key: Linear, value: Linear, output: Linear, headCount: Int) {
        self.query = query
        self.key = key
        self.value = value
        self.output = output
        self.headCount = headCount
    }

    /// Forward for x[batch·seq, hidden] → y[batch·seq, hidden] (before residual and LayerNorm).
    /// Saves q, k, v [tokens, hidden], probabilities [batch, heads, seq, seq] and context [tokens, hidden]
    /// in `saved` for backward.
    public func forward(_ x: UnsafePointer<Float>, mask: AttentionMask, saved: AttentionBuffers,
                        dropoutMask: DropoutMask? = nil, into y: UnsafeMutablePointer<Float>) {
        let batch = mask.batch, seq = mask.sequence, tokens = batch * seq
        query.forward(x, rows: tokens, into: saved.q)
        key.forward(x, rows: tokens, into: saved.k)
        value.forward(x, rows: tokens, into: saved.v)
        let scale = 1 / Float(headSize).squareRoot()
        let buffers = Shared(saved)
        // One (row, head) pair at a time, the pairs split across threads; each thread has its own tile.
        // The dropout mask is indexed like the probabilities [batch, heads, seq, seq].
        Parallel.forEachChunk(batch * headCount) { pairs in
            let saved = buffers.value
            let scratch = ScratchPool.take(floats: seq * seq)
            defer { ScratchPool.give(scratch) }
            for pair in pairs {
                let b = pair / self.headCount, h = pair % self.headCount
                let keys = mask.prefixLengths[b] ?? seq
                let offset = b * seq * self.hidden + h * self.headSize
                let probs = saved.probabilities + pair * seq * seq
                // scores[seq, keys] = scale · Q_bh[seq, d] · K_bh[keys, d]ᵀ
                BLAS.gemm(transposeB: true, m: seq, n: keys, k: self.headSize, alpha: scale,
                          a: saved.q + offset, lda: self.hidden, b: saved.k + offset, ldb: self.hidden,
                          c: probs, ldc: seq)
                for s in 0..<seq { self.normalize(row: probs + s * seq, keys: keys, mask: mask, batchRow: b) }
                // context_bh[seq, d] = P'[seq, keys] · V_bh[keys, d], P' = P ⊙ dropout mask in training
                var weights = UnsafePointer(probs)
                if let dropoutMask {
                    let tile = scratch.floats
                    for s in 0..<seq {
                        dropoutMask.apply(probs + s * seq, into: tile + s * seq, offset: (pair * seq + s) * seq, count: keys)
                    }
                    weights = UnsafePointer(tile)
                }
                BLAS.gemm(m: seq, n: self.headSize, k: keys, a: weights, lda: seq, b: saved.v + offset, ldb: self.hidden,
                          c: saved.context + offset, ldc: self.hidden)
            }
        }
        output.forward(saved.context, rows: tokens, into: y)
    }

    /// Softmax over the allowed keys of one score row; masked keys get probability exactly 0.
    private func normalize(row: UnsafeMutablePointer<Float>, keys: Int, mask: AttentionMask, batchRow b: Int) {
        let seq = mask.sequence
        if mask.prefixLengths[b] != nil {
            Kernels.softmaxInPlace(row, valid: keys, count: seq)
            return
        }
        var maximum = -Float.infinity
        for j in 0..<seq where mask.values[b * seq + j] != 0 { maximum = max(maximum, row[j]) }
        var sum: Float = 0
        for j in 0..<seq {
            if mask.values[b * seq + j] != 0 {
                row[j] = Foundation.exp(row[j] - maximum)
                sum += row[j]
            } else {
                row[j] = 0
            }
        }
        if sum > 0 { Kernels.scale(row, by: 1 / sum, count: seq) }
    }
}

/// What self-attention keeps from forward for backward, sized for a capacity of tokens and rows.
public final class AttentionBuffers: @unchecked Sendable {
    public let q, k, v, context, probabilities: UnsafeMutablePointer<Float>
    private let storage: [Tensor]

    public init(tokens: Int, hidden: Int, batch: Int, heads: Int, sequence: Int) {
        let tensors = [
            Tensor(zeros: [tokens, hidden]), Tensor(zeros: [tokens, hidden]), Tensor(zeros: [tokens, hidden]),
            Tensor(zeros: [tokens, hidden]), Tensor(zeros: [batch, heads, sequence, sequence]),
        ]
        storage = tensors
        (q, k, v, context, probabilities) = (tensors[0].data, tensors[1].data, tensors[2].data, tensors[3].data, tensors[4].data)
    }

    public var byteCount: Int { storage.reduce(0) { $0 + $1.byteCount } }
}

extension SelfAttention {
    /// Backward given the layer input x[tokens, hidden], the saved forward buffers, and dy, the gradient
    /// of the attention output (after the output projection). Writes dx[tokens, hidden]; accumulates the
    /// gradients of unfrozen projections. Per (row b, head h), with S = softmax(scale · Q Kᵀ):
    ///   dC = dy · W_oᵀ;  dP = dC_bh · V_bhᵀ;  dV_bh = Pᵀ · dC_bh
    ///   dS = scale · P ⊙ (dP − rowsum(dP ⊙ P));  dQ_bh = dS · K_bh;  dK_bh = dSᵀ · Q_bh
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, mask: AttentionMask,
                         saved: AttentionBuffers, scratch: AttentionGradientBuffers,
                         dropoutMask: DropoutMask? = nil, inputGradient dx: UnsafeMutablePointer<Float>) {
        let batch = mask.batch, seq = mask.sequence, tokens = batch * seq
        output.backward(saved.context, outputGradient: dy, rows: tokens, inputGradient: scratch.context)
        let scale = 1 / Float(headSize).squareRoot()
        scratch.value.update(repeating: 0, count: tokens * hidden)
        scratch.key.update(repeating: 0, count: tokens * hidden)
        let buffers = Shared((saved, scratch))
        // One (row, head) pair at a time, split across threads; each thread has its own tiles.
        Parallel.forEachChunk(batch * headCount) { pairs in
            let (saved, scratch) = buffers.value
            let tiles = ScratchPool.take(floats: 3 * seq * seq)
            defer { ScratchPool.give(tiles) }
            let dP = tiles.floats, tile = tiles.floats + seq * seq, tileMask = tiles.floats + 2 * seq * seq
            for pair in pairs {
                let b = pair / self.headCount, h = pair % self.headCount
                let keys = mask.prefixLengths[b] ?? seq
                let (hidden, headSize) = (self.hidden, self.headSize)
                let offset = b * seq * hidden + h * headSize
                let probs = saved.probabilities + pair * seq * seq
                BLAS.gemm(transposeB: true, m: seq, n: keys, k: headSize, a: scratch.context + offset, lda: hidden,
                          b: saved.v + offset, ldb: hidden, c: dP, ldc: seq)
                // With dropout, P' = P ⊙ m fed the values: dV uses P', and dP = dP' ⊙ m.
                var weights = UnsafePointer(probs)
                if let dropoutMask {
                    for s in 0..<seq { dropoutMask.fill(tileMask + s * seq, offset: (pair * seq + s) * seq, count: keys) }
                    for s in 0..<seq { Kernels.multiply(probs + s * seq, by: tileMask + s * seq, into: tile + s * seq, count: keys) }
                    weights = UnsafePointer(tile)
                }
                BLAS.gemm(transposeA: true, m: keys, n: headSize, k: seq, a: weights, lda: seq,
                          b: scratch.context + offset, ldb: hidden, c: scratch.value + offset, ldc: hidden)
                for s in 0..<seq {
                    if dropoutMask != nil { Kernels.multiply(dP + s * seq, by: tileMask + s * seq, count: keys) }
                    Kernels.softmaxBackward(probabilities: probs + s * seq, gradient: dP + s * seq, count: keys)
                    Kernels.scale(dP + s * seq, by: scale, count: keys)
                }
                BLAS.gemm(m: seq, n: headSize, k: keys, a: dP, lda: seq, b: saved.k + offset, ldb: hidden,
                          c: scratch.query + offset, ldc: hidden)
                BLAS.gemm(transposeA: true, m: keys, n: headSize, k: seq, a: dP, lda: seq,
                          b: saved.q + offset, ldb: hidden, c: scratch.key + offset, ldc: hidden)
            }
        }
        query.backward(x, outputGradient: scratch.query, rows: tokens, inputGradient: dx)
        key.backward(x, outputGradient: scratch.key, rows: tokens, inputGradient: dx, accumulateInput: true)
        value.backward(x, outputGradient: scratch.value, rows: tokens, inputGradient: dx, accumulateInput: true)
    }
}

/// Scratch for attention backward: gradients of context, q, k, v [tokens, hidden] (the per-head
/// [seq, seq] tiles come from `ScratchPool`, one set per thread).
public final class AttentionGradientBuffers: @unchecked Sendable {
    public let context, query, key, value: UnsafeMutablePointer<Float>
    private let storage: [Tensor]

    public init(tokens: Int, hidden: Int, sequence: Int) {
        storage = [Tensor(zeros: [tokens, hidden]), Tensor(zeros: [tokens, hidden]), Tensor(zeros: [tokens, hidden]),
                   Tensor(zeros: [tokens, hidden])]
        (context, query, key, value) = (storage[0].data, storage[1].data, storage[2].data, storage[3].data)
    }
}
