import Foundation
import FinchCheckpoint
import FinchTensor

/// One post-LN transformer block: attention → residual → LayerNorm → feed-forward → residual → LayerNorm.
public final class EncoderLayer: @unchecked Sendable {
    public let attention: SelfAttention
    public let attentionNorm: LayerNorm
    public let intermediate: Linear
    public let output: Linear
    public let outputNorm: LayerNorm
    public let activation: Activation

    public init(attention: SelfAttention, attentionNorm: LayerNorm, intermediate: Linear, output: Linear,
                outputNorm: LayerNorm, activation: Activation) {
        self.attention = attention
        self.attentionNorm = attentionNorm
        self.intermediate = intermediate
        self.output = output
        self.outputNorm = outputNorm
        self.activation = activation
    }

    /// The linear layers of this block, in module order.
    public var linears: [Linear] { [attention.query, attention.key, attention.value, attention.output, intermediate, output] }

    /// Forward x[tokens, hidden] → y[tokens, hidden], keeping what backward needs in `saved`.
    public func forward(_ x: UnsafePointer<Float>, mask: AttentionMask, saved: LayerBuffers, dropout: Dropout? = nil,
                        into y: UnsafeMutablePointer<Float>) {
        let tokens = mask.batch * mask.sequence
        let hidden = attention.hidden, inner = intermediate.outFeatures
        let masks = dropout == nil ? nil : saved.dropoutMasks
        // a = LN(x + dropout(Attention(x)))
        masks?.attentionProbabilities = dropout.flatMap { $0.attention > 0 ? $0.mask(rate: $0.attention) : nil }
        attention.forward(x, mask: mask, saved: saved.attention, dropoutMask: masks?.attentionProbabilities,
                          into: saved.attentionSum)
        masks?.attentionOutput = nil
        if let dropout, let masks, dropout.hidden > 0 {
            masks.attentionOutput = dropout.apply(saved.attentionSum, count: tokens * hidden, rate: dropout.hidden)
        }
        Kernels.add(x, into: saved.attentionSum, count: tokens * hidden)
        attentionNorm.forward(saved.attentionSum, rows: tokens, into: saved.attentionOut,
                              mean: saved.attentionMean, rstd: saved.attentionRstd)
        // f = act(a · W1ᵀ + b1); y = LN(a + f · W2ᵀ + b2)
        intermediate.forward(saved.attentionOut, rows: tokens, into: saved.ffnPre)
        Activations.apply(activation, copying: saved.ffnPre, into: saved.ffnAct, rows: tokens, width: inner)
        output.forward(saved.ffnAct, rows: tokens, into: saved.outputSum)
        masks?.ffnOutput = nil
        if let dropout, let masks, dropout.hidden > 0 {
            masks.ffnOutput = dropout.apply(saved.outputSum, count: tokens * hidden, rate: dropout.hidden)
        }
        Kernels.add(saved.attentionOut, into: saved.outputSum, count: tokens * hidden)
        outputNorm.forward(saved.outputSum, rows: tokens, into: y, mean: saved.outputMean, rstd: saved.outputRstd)
    }
}

extension EncoderLayer {
    /// Backward of `forward` given its input x and dy = ∂loss/∂y. Writes dx; accumulates the gradients
    /// of unfrozen parameters. With y = LN₂(a + m₂ ⊙ (W₂·act(W₁a + b₁) + b₂)) and
    /// a = LN₁(x + m₁ ⊙ Attention(x)) (m the dropout masks, all ones without dropout):
    ///   dS₂ = LN₂'(dy);  dF = act'(·) ⊙ ((m₂ ⊙ dS₂) · W₂);  dA = dS₂ + dF · W₁;  dS₁ = LN₁'(dA);
    ///   dx = dS₁ + Attention'(m₁ ⊙ dS₁)
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, mask: AttentionMask,
                         saved: LayerBuffers, scratch: LayerGradientBuffers, dropout: Dropout? = nil,
                         inputGradient dx: UnsafeMutablePointer<Float>) {
        let tokens = mask.batch * mask.sequence, hidden = attention.hidden
        let masks = dropout == nil ? nil : saved.dropoutMasks
        outputNorm.backward(saved.outputSum, outputGradient: dy, rows: tokens, mean: saved.outputMean,
                            rstd: saved.outputRstd, inputGradient: scratch.outputSum)
        scratch.attentionOut.update(from: scratch.outputSum, count: tokens * hidden)
        masks?.ffnOutput?.apply(scratch.outputSum, count: tokens * hidden)
        output.backward(saved.ffnAct, outputGradient: scratch.outputSum, rows: tokens, inputGradient: scratch.ffn)
        Activations.backward(activation, input: saved.ffnPre, gradient: scratch.ffn, rows: tokens, width: intermediate.outFeatures)
        intermediate.backward(saved.attentionOut, outputGradient: scratch.ffn, rows: tokens,
                              inputGradient: scratch.attentionOut, accumulateInput: true)
        attentionNorm.backward(saved.attentionSum, outputGradient: scratch.attentionOut, rows: tokens,
                               mean: saved.attentionMean, rstd: saved.attentionRstd, inputGradient: scratch.outputSum)
        scratch.attentionOut.update(from: scratch.outputSum, count: tokens * hidden)
        masks?.attentionOutput?.apply(scratch.attentionOut, count: tokens * hidden)
        attention.backward(x, outputGradient: scratch.attentionOut, mask: mask, saved: saved.attention, scratch: scratch.attention,
                           dropoutMask: masks?.attentionProbabilities, inputGradient: dx)
        Kernels.add(scratch.outputSum, into: dx, count: tokens * hidden)
    }

}

/// Scratch for one block's backward, shared by every block of the encoder.
public final class LayerGradientBuffers: @unchecked Sendable {
    public let attention: AttentionGradientBuffers
    public let outputSum, attentionOut, ffn: UnsafeMutablePointer<Float>
    private let storage: [Tensor]

    public init(tokens: Int, hidden: Int, inner: Int, sequence: Int) {
        attention = AttentionGradientBuffers(tokens: tokens, hidden: hidden, sequence: sequence)
        storage = [Tensor(zeros: [tokens, hidden]), Tensor(zeros: [tokens, hidden]), Tensor(zeros: [tokens, inner])]
        (outputSum, attentionOut, ffn) = (storage[0].data, storage[1].data, storage[2].data)
    }
}

/// Elementwise activations of the feed-forward block and heads, forward and backward.
public enum Activations {
    public static func apply(_ activation: Activation, _ x: UnsafeMutablePointer<Float>, count: Int) {
        switch activation {
        case .gelu: Kernels.geluInPlace(x, count: count)
        case .geluTanh: Kernels.geluTanhInPlace(x, count: count)
        case .relu: for i in 0..<count where x[i] < 0 { x[i] = 0 }
        }
    }

    /// y[rows, width] = act(x), the rows split across `Threads.count` threads.
    public static func apply(_ activation: Activation, copying x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                             rows: Int, width: Int) {
        let buffers = Shared((x, y))
        Parallel.forEachChunk(rows) { chunk in
            let (x, y) = buffers.value, start = chunk.lowerBound * width, count = chunk.count * width
            switch activation {
            case .gelu: Kernels.gelu(x + start, into: y + start, count: count)
            case .geluTanh: Kernels.geluTanh(x + start, into: y + start, count: count)
            case .relu:
                (y + start).update(from: x + start, count: count)
                apply(activation, y + start, count: count)
            }
        }
    }

    /// dy[rows, width] ← dy ⊙ act'(x), the rows split across `Threads.count` threads.
    public static func backward(_ activation: Activation, input x: UnsafePointer<Float>,
                                gradient dy: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let buffers = Shared((x, dy))
        Parallel.forEachChunk(rows) { chunk in
            let (x, dy) = buffers.value, start = chunk.lowerBound * width
            backward(activation, input: x + start, gradient: dy + start, count: chunk.count * width)
        }
    }

    /// dy ← dy ⊙ act'(x) for the activation's input x.
    public static func backward(_ activation: Activation, input x: UnsafePointer<Float>,
                                gradient dy: UnsafeMutablePointer<Float>, count: Int) {
        switch activation {
        case .gelu:
            Kernels.geluBackward(input: x, gradient: dy, count: count)
        case .geluTanh:
            let c: Float = 0.7978845608028654
            for i in 0..<count {
                let v = x[i], t = Foundation.tanh(c * (v + 0.044715 * v * v * v))
                dy[i] *= 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v)
            }
        case .relu:
            for i in 0..<count where x[i] <= 0 { dy[i] = 0 }
        }
    }
}

/// One block's saved activations, allocated for a capacity of tokens and reused across batches.
public final class LayerBuffers: @unchecked Sendable {
    public let attention: AttentionBuffers
    public let attentionSum, attentionOut, attentionMean, attentionRstd: UnsafeMutablePointer<Float>
    public let ffnPre, ffnAct, outputSum, outputMean, outputRstd: UnsafeMutablePointer<Float>
    /// Dropout masks, present in buffers made for training.
    public let dropoutMasks: DropoutMasks?
    private let storage: [Tensor]

    public init(tokens: Int, hidden: Int, inner: Int, batch: Int, heads: Int, sequence: Int, withDropoutMasks: Bool = false) {
        attention = AttentionBuffers(tokens: tokens, hidden: hidden, batch: batch, heads: heads, sequence: sequence)
        dropoutMasks = withDropoutMasks ? DropoutMasks() : nil
        let shapes = [[tokens, hidden], [tokens, hidden], [tokens], [tokens],
                      [tokens, inner], [tokens, inner], [tokens, hidden], [tokens], [tokens]]
        storage = shapes.map { Tensor(zeros: $0) }
        (attentionSum, attentionOut, attentionMean, attentionRstd) = (storage[0].data, storage[1].data, storage[2].data, storage[3].data)
        (ffnPre, ffnAct, outputSum, outputMean, outputRstd) = (storage[4].data, storage[5].data, storage[6].data, storage[7].data, storage[8].data)
    }

    public var byteCount: Int { attention.byteCount + storage.reduce(0) { $0 + $1.byteCount } }
}
