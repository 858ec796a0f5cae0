import FinchCheckpoint
import FinchTensor

/// Training-time dropout: each mask is keyed by one draw from the session's generator (see
/// `DropoutMask`), so backward draws it again instead of keeping it, and a resumed run draws the same.
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

    /// A fresh mask at `rate`, keyed by the stream's next draw.
    public func mask(rate: Float) -> DropoutMask { DropoutMask(rate: rate, random: &random) }

    /// x ← x ⊙ m with a fresh mask m at `rate`; returns m for backward.
    @discardableResult
    public func apply(_ x: UnsafeMutablePointer<Float>, count: Int, rate: Float) -> DropoutMask {
        let mask = mask(rate: rate)
        mask.apply(x, count: count)
        return mask
    }
}

/// The masks of one block's forward (keys only), present in buffers made for training.
public final class DropoutMasks: @unchecked Sendable {
    public var attentionProbabilities, attentionOutput, ffnOutput: DropoutMask?

    public init() {}
}
