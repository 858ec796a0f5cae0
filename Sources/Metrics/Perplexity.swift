import Foundation

/// Perplexity: the exponential of the mean negative log-likelihood (natural log) per predicted token, as
/// `math.exp(eval_loss)` in the Hugging Face examples and `torch.exp(F.cross_entropy(logits, targets))`.
///
/// Average over *tokens*, not batches: to combine batches, sum their token NLLs and counts and use
/// ``init(totalNegativeLogLikelihood:tokenCount:)``; the mean of per-batch means is a different number when
/// batches hold different numbers of tokens.
///
/// ```swift
/// let ppl = Perplexity(logits: logits, vocabularySize: 49152, targets: nextTokens)   // -100 = ignored
/// ppl.value
/// ```
public struct Perplexity: Sendable, Equatable {
    /// The mean negative log-likelihood per token, in nats (the cross-entropy loss).
    public let meanNegativeLogLikelihood: Double

    /// `exp(meanNegativeLogLikelihood)`.
    public var value: Double { exp(meanNegativeLogLikelihood) }

    /// From a mean NLL, such as a trainer's evaluation loss.
    public init(meanNegativeLogLikelihood: Double) {
        self.meanNegativeLogLikelihood = meanNegativeLogLikelihood
    }

    /// From a summed NLL and the number of tokens it covers (NaN for 0 tokens).
    public init(totalNegativeLogLikelihood: Double, tokenCount: Int) {
        meanNegativeLogLikelihood = totalNegativeLogLikelihood / Double(tokenCount)
    }

    /// From per-token NLLs.
    public init(negativeLogLikelihoods: [Double]) {
        self.init(totalNegativeLogLikelihood: negativeLogLikelihoods.reduce(0, +),
                  tokenCount: negativeLogLikelihoods.count)
    }

    /// From next-token logits, as `exp(F.cross_entropy(logits, targets, ignore_index=ignoreIndex))`. `logits`
    /// is row-major `[targets.count, vocabularySize]`; `targets[i]` is the token that row i should predict (for
    /// a causal LM, the input ids shifted left by one), or `ignoreIndex` to leave the row out.
    public init(logits: [Float], vocabularySize: Int, targets: [Int], ignoreIndex: Int = -100) {
        self.init(negativeLogLikelihoods: Perplexity.negativeLogLikelihoods(
            logits: logits, vocabularySize: vocabularySize, targets: targets, ignoreIndex: ignoreIndex))
    }

    /// The NLL of each non-ignored target, `logsumexp(row) − row[target]`, computed in Double.
    public static func negativeLogLikelihoods(logits: [Float], vocabularySize: Int, targets: [Int],
                                              ignoreIndex: Int = -100) -> [Double] {
        precondition(logits.count == targets.count * vocabularySize,
                     "\(logits.count) logits for \(targets.count) targets × \(vocabularySize) vocabulary")
        return targets.enumerated().compactMap { row, target in
            if target == ignoreIndex { return nil }
            precondition((0..<vocabularySize).contains(target), "target \(target) outside the vocabulary")
            let values = logits[row * vocabularySize..<(row + 1) * vocabularySize].map(Double.init)
            let top = values.max()!
            let sum = values.reduce(0) { $0 + exp($1 - top) }
            return top + log(sum) - values[target]
        }
    }
}
