import FinchCheckpoint
import FinchTensor

/// Training-time dropout with seeded masks: each mask element is 0 with probability p, else 1/(1−p),
/// drawn from the session's generator in a fixed order, and kept for backward.
public final class Dropout: @unchecked Sendable {
    public var random: SeededRandom
    public var hidden: Float
    public var attention: Float
    public var classifier: Float

    public init(seed: UInt64, hidden: Float, attention: Float, classifier: Float) {
        random = SeededRandom(seed: seed)
        self.hidden = hidden
        self.attention = attention
        self.classifier = classifier
    }

    /// The rates a config.json asks for.
    public convenience init(seed: UInt64, config: EncoderConfig) {
        self.init(seed: seed, hidden: config.hiddenDropout, attention: config.attentionDropout, classifier: config.classifierDropout)
    }

    /// A fresh mask at `rate` (0, or 1 / (1 − rate) for kept values) into `mask`, drawing from the stream
    /// exactly as `apply` does.
    public func drawMask(_ mask: UnsafeMutablePointer<Float>, count: Int, rate: Float) {
        let keep = 1 / (1 - rate)
        for i in 0..<count { mask[i] = random.nextUniform() < rate ? 0 : keep }
    }

    /// x ← x ⊙ mask with a fresh mask at `rate`, written into `mask`.
    public func apply(_ x: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, count: Int, rate: Float) {
        let keep = 1 / (1 - rate)
        for i in 0..<count {
            mask[i] = random.nextUniform() < rate ? 0 : keep
            x[i] *= mask[i]
        }
    }
}

/// Masks of one block, allocated only for training with dropout.
public final class DropoutMasks: @unchecked Sendable {
    public let attentionProbabilities, attentionOutput, ffnOutput: UnsafeMutablePointer<Float>
    private let storage: [Tensor]

    public init(tokens: Int, hidden: Int, batch: Int, heads: Int, sequence: Int) {
        storage = [Tensor(zeros: [batch, heads, sequence, sequence]), Tensor(zeros: [tokens, hidden]), Tensor(zeros: [tokens, hidden])]
        (attentionProbabilities, attentionOutput, ffnOutput) = (storage[0].data, storage[1].data, storage[2].data)
    }

    public var byteCount: Int { storage.reduce(0) { $0 + $1.byteCount } }
}
