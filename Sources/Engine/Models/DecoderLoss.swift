import Foundation
import FinchTensor

/// The next-token loss over a batch: the sum of −log p(target) over its loss targets and their count.
public struct LanguageModelLoss: Sendable, Equatable {
    public var sum: Double
    public var tokens: Int
    /// Mean cross-entropy per target token (transformers' causal-LM loss).
    public var mean: Double { tokens > 0 ? sum / Double(tokens) : 0 }

    public init(sum: Double = 0, tokens: Int = 0) {
        self.sum = sum
        self.tokens = tokens
    }
}

extension DecoderModel {
    /// Cross-entropy of next-token prediction after `forward`, as transformers' ForCausalLMLoss (mean over
    /// the batch's non-ignored shifted labels). Only the rows that carry a loss go through the LM head, in
    /// chunks of `chunk` rows (a [chunk, vocab] tile, never [tokens, vocab]). With `gradient`, writes
    /// ∂mean/∂final into `activations.finalGradient` (zero for rows without a loss) and accumulates the
    /// head's gradients (the embedding matrix's when tied and training), scaled by `gradientScale`.
    @discardableResult
    public func languageModelLoss(_ batch: DecoderBatch, activations: DecoderActivations, gradient: Bool,
                                  gradientScale: Float = 1, chunk: Int = 64) -> LanguageModelLoss {
        let targets = batch.lossTargets
        let h = config.hiddenSize, vocab = config.vocabularySize, tokens = batch.batchSize * batch.sequenceLength
        if gradient { activations.finalGradient.update(repeating: 0, count: tokens * h) }
        guard !targets.isEmpty else { return LanguageModelLoss() }
        let rows = min(chunk, targets.count)
        let gathered = Tensor(zeros: [rows, h]), logits = Tensor(zeros: [rows, vocab])
        let gatheredGradient = gradient ? Tensor(zeros: [rows, h]) : nil
        let scale = gradientScale / Float(targets.count)
        var total = LanguageModelLoss()
        var start = 0
        while start < targets.count {
            let part = targets[start..<min(start + rows, targets.count)]
            let n = part.count
            for (i, target) in part.enumerated() {
                (gathered.data + i * h).update(from: activations.final + target.token * h, count: h)
            }
            self.logits(gathered.data, rows: n, into: logits.data)
            for (i, target) in part.enumerated() {
                let row = logits.data + i * vocab
                total.sum += Self.crossEntropyRow(row, target: target.target, count: vocab, gradientScale: gradient ? scale : nil)
            }
            total.tokens += n
            if let gatheredGradient {
                headBackward(gathered.data, logitGradient: logits.data, rows: n, into: gatheredGradient.data)
                for (i, target) in part.enumerated() {
                    Kernels.add(gatheredGradient.data + i * h, into: activations.finalGradient + target.token * h, count: h)
                }
            }
            start += n
        }
        return total
    }

    /// −log softmax(row)[target]; with a gradient scale, the row becomes scale · (softmax − onehot).
    static func crossEntropyRow(_ row: UnsafeMutablePointer<Float>, target: Int, count: Int, gradientScale: Float?) -> Double {
        var maximum = -Float.infinity
        for i in 0..<count where row[i] > maximum { maximum = row[i] }
        var sum = 0.0
        for i in 0..<count { sum += Foundation.exp(Double(row[i] - maximum)) }
        let loss = Foundation.log(sum) - Double(row[target] - maximum)
        if let gradientScale {
            Kernels.softmaxInPlace(row, valid: count, count: count)
            row[target] -= 1
            Kernels.scale(row, by: gradientScale, count: count)
        }
        return loss
    }

    /// dh[rows, hidden] = dlogits · W for the LM head, accumulating the head's weight gradient (and its
    /// adapter's) when it trains; with tied embeddings the embedding gradient gets dlogitsᵀ · h.
    func headBackward(_ h: UnsafePointer<Float>, logitGradient dz: UnsafePointer<Float>, rows: Int, into dh: UnsafeMutablePointer<Float>) {
        let hidden = config.hiddenSize, vocab = config.vocabularySize
        if let lmHead {
            lmHead.backward(h, outputGradient: dz, rows: rows, inputGradient: dh)
            return
        }
        BLAS.gemm(m: rows, n: hidden, k: vocab, a: dz, lda: vocab, b: embedding.data, ldb: hidden, c: dh, ldc: hidden)
        if let embeddingGradient {
            BLAS.gemm(transposeA: true, m: vocab, n: hidden, k: rows, a: dz, lda: vocab, b: h, ldb: hidden,
                      beta: 1, c: embeddingGradient.data, ldc: hidden)
        }
    }

    /// The model's log-probability of each loss target after `forward` (for perplexity and scoring).
    public func targetLogProbabilities(_ batch: DecoderBatch, activations: DecoderActivations) -> [Double] {
        let targets = batch.lossTargets, h = config.hiddenSize, vocab = config.vocabularySize
        let logits = Tensor(zeros: [1, vocab])
        return targets.map { target in
            self.logits(activations.final + target.token * h, rows: 1, into: logits.data)
            return -Self.crossEntropyRow(logits.data, target: target.target, count: vocab, gradientScale: nil)
        }
    }
}
