import Foundation
import FinchCheckpoint
import FinchTensor

/// One pre-norm Llama block:  h = x + Attention(RMSNorm₁(x));  y = h + Down(silu(Gate(n)) ⊙ Up(n)), n = RMSNorm₂(h).
public final class DecoderLayer: @unchecked Sendable {
    public let attentionNorm: RMSNorm
    public let attention: CausalAttention
    public let mlpNorm: RMSNorm
    public let gate: Linear
    public let up: Linear
    public let down: Linear

    public init(attentionNorm: RMSNorm, attention: CausalAttention, mlpNorm: RMSNorm, gate: Linear, up: Linear, down: Linear) {
        self.attentionNorm = attentionNorm
        self.attention = attention
        self.mlpNorm = mlpNorm
        self.gate = gate
        self.up = up
        self.down = down
    }

    /// The linear layers of this block, in module order (q, k, v, o, gate, up, down).
    public var linears: [Linear] { [attention.query, attention.key, attention.value, attention.output, gate, up, down] }

    /// Forward x[tokens, hidden] → y[tokens, hidden], keeping what backward needs in `saved`.
    public func forward(_ x: UnsafePointer<Float>, mask: CausalMask, saved: DecoderLayerBuffers, into y: UnsafeMutablePointer<Float>) {
        let tokens = mask.batch * mask.sequence, hidden = attentionNorm.size
        attentionNorm.forward(x, rows: tokens, into: saved.attentionInput, rstd: saved.attentionRstd)
        attention.forward(saved.attentionInput, mask: mask, saved: saved.attention, into: saved.residual)
        Kernels.add(x, into: saved.residual, count: tokens * hidden)
        mlpNorm.forward(saved.residual, rows: tokens, into: saved.mlpInput, rstd: saved.mlpRstd)
        feedForward(saved.mlpInput, rows: tokens, gateOut: saved.gate, upOut: saved.up, product: saved.product, into: y)
        Kernels.add(saved.residual, into: y, count: tokens * hidden)
    }

    /// y[rows, hidden] = Down(silu(Gate(n)) ⊙ Up(n)), keeping gate, up and their product.
    func feedForward(_ n: UnsafePointer<Float>, rows: Int, gateOut: UnsafeMutablePointer<Float>, upOut: UnsafeMutablePointer<Float>,
                     product: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        gate.forward(n, rows: rows, into: gateOut)
        up.forward(n, rows: rows, into: upOut)
        Kernels.siluProduct(gate: gateOut, up: upOut, into: product, count: rows * gate.outFeatures)
        down.forward(product, rows: rows, into: y)
    }

    /// Backward of `forward` given its input x and dy = ∂loss/∂y. Writes dx; accumulates the gradients of
    /// unfrozen parameters. With p = silu(g) ⊙ u:
    ///   dp = dy · W_down;  dg = dp ⊙ u ⊙ silu'(g);  du = dp ⊙ silu(g);  dn = dg · W_gate + du · W_up
    ///   dh = dy + RMSNorm₂'(dn);  dx = dh + RMSNorm₁'(Attention'(dh))
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, mask: CausalMask,
                         saved: DecoderLayerBuffers, scratch: DecoderLayerGradients, inputGradient dx: UnsafeMutablePointer<Float>) {
        let tokens = mask.batch * mask.sequence, hidden = attentionNorm.size, inner = gate.outFeatures
        down.backward(saved.product, outputGradient: dy, rows: tokens, inputGradient: scratch.product)
        Kernels.siluProductBackward(gate: saved.gate, up: saved.up, gradient: scratch.product,
                                    gateGradient: scratch.gate, upGradient: scratch.up, count: tokens * inner)
        gate.backward(saved.mlpInput, outputGradient: scratch.gate, rows: tokens, inputGradient: scratch.normed)
        up.backward(saved.mlpInput, outputGradient: scratch.up, rows: tokens, inputGradient: scratch.normed, accumulateInput: true)
        scratch.residual.update(from: dy, count: tokens * hidden)
        mlpNorm.backward(saved.residual, outputGradient: scratch.normed, rows: tokens, rstd: saved.mlpRstd,
                         inputGradient: scratch.residual, accumulate: true)
        attention.backward(saved.attentionInput, outputGradient: scratch.residual, mask: mask, saved: saved.attention,
                           scratch: scratch.attention, inputGradient: scratch.normed)
        dx.update(from: scratch.residual, count: tokens * hidden)
        attentionNorm.backward(x, outputGradient: scratch.normed, rows: tokens, rstd: saved.attentionRstd,
                               inputGradient: dx, accumulate: true)
    }
}

/// One block's saved activations, allocated for a capacity of rows and tokens and reused across batches.
public final class DecoderLayerBuffers: @unchecked Sendable {
    public let attention: CausalAttentionBuffers
    public let attentionInput, attentionRstd, residual, mlpInput, mlpRstd, gate, up, product: UnsafeMutablePointer<Float>
    private let storage: [Tensor]

    public init(config: DecoderConfigShape, batch: Int, sequence: Int) {
        let tokens = batch * sequence, (h, inner) = (config.hidden, config.inner)
        attention = CausalAttentionBuffers(tokens: tokens, queryWidth: config.queryWidth, keyValueWidth: config.keyValueWidth,
                                           batch: batch, heads: config.heads, sequence: sequence)
        storage = [[tokens, h], [tokens], [tokens, h], [tokens, h], [tokens], [tokens, inner], [tokens, inner], [tokens, inner]]
            .map { Tensor(zeros: $0) }
        (attentionInput, attentionRstd, residual, mlpInput) = (storage[0].data, storage[1].data, storage[2].data, storage[3].data)
        (mlpRstd, gate, up, product) = (storage[4].data, storage[5].data, storage[6].data, storage[7].data)
    }

    public var byteCount: Int { attention.byteCount + storage.reduce(0) { $0 + $1.byteCount } }
}

/// Scratch for one block's backward, shared by every block.
public final class DecoderLayerGradients: @unchecked Sendable {
    public let attention: CausalAttentionGradients
    public let product, gate, up, normed, residual: UnsafeMutablePointer<Float>
    private let storage: [Tensor]

    public init(config: DecoderConfigShape, batch: Int, sequence: Int) {
        let tokens = batch * sequence, (h, inner) = (config.hidden, config.inner)
        attention = CausalAttentionGradients(tokens: tokens, queryWidth: config.queryWidth, keyValueWidth: config.keyValueWidth, sequence: sequence)
        storage = [[tokens, inner], [tokens, inner], [tokens, inner], [tokens, h], [tokens, h]].map { Tensor(zeros: $0) }
        (product, gate, up, normed, residual) = (storage[0].data, storage[1].data, storage[2].data, storage[3].data, storage[4].data)
    }

    public var byteCount: Int { attention.byteCount + storage.reduce(0) { $0 + $1.byteCount } }
}

/// The sizes buffers are allocated for.
public struct DecoderConfigShape: Sendable, Equatable {
    public let hidden, inner, heads, queryWidth, keyValueWidth: Int
}

extension Kernels {
    /// p[i] = silu(g[i]) · u[i],  silu(g) = g · σ(g).
    @inlinable
    public static func siluProduct(gate g: UnsafePointer<Float>, up u: UnsafePointer<Float>, into p: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + Vector.scalarCount <= count {
            let v = load(g + i)
            store(v / (1 + VectorMath.exp(-v)) * load(u + i), to: p + i)
            i += Vector.scalarCount
        }
        while i < count { let v = g[i]; p[i] = v / (1 + Foundation.exp(-v)) * u[i]; i += 1 }
    }

    /// Backward of `siluProduct` given dp: dg = dp · u · σ(g)(1 + g(1 − σ(g))),  du = dp · silu(g).
    @inlinable
    public static func siluProductBackward(gate g: UnsafePointer<Float>, up u: UnsafePointer<Float>, gradient dp: UnsafePointer<Float>,
                                           gateGradient dg: UnsafeMutablePointer<Float>, upGradient du: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + Vector.scalarCount <= count {
            let v = load(g + i), d = load(dp + i)
            let sigma = 1 / (1 + VectorMath.exp(-v))
            store(d * load(u + i) * sigma * (1 + v * (1 - sigma)), to: dg + i)
            store(d * v * sigma, to: du + i)
            i += Vector.scalarCount
        }
        while i < count {
            let v = g[i], sigma = 1 / (1 + Foundation.exp(-v))
            dg[i] = dp[i] * u[i] * sigma * (1 + v * (1 - sigma))
            du[i] = dp[i] * v * sigma
            i += 1
        }
    }
}
