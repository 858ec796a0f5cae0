import Foundation
import FinchTensor

/// A decoder as a sequence classifier (LlamaForSequenceClassification): the `score` head reads the final
/// hidden state of each row's last real token.
extension DecoderModel {
    /// The pooled token of each row: the rightmost position whose id is not the pad id, as transformers
    /// finds it from input_ids (the row's last real token when the model has no pad id).
    public func pooledTokens(_ batch: DecoderBatch) -> [Int] {
        (0..<batch.batchSize).map { b in
            let row = b * batch.sequenceLength
            guard let pad = config.padTokenId else { return row + batch.mask.lengths[b] - 1 }
            let last = (0..<batch.sequenceLength).last { batch.ids[row + $0] != Int32(pad) } ?? (batch.mask.lengths[b] - 1)
            return row + last
        }
    }

    /// Class logits [batch, labels] after `forward`.
    public func classificationLogits(_ batch: DecoderBatch, activations: DecoderActivations) throws -> Tensor {
        guard let scoreHead else { throw ModelError("this model has no classification head; load it with task=classify") }
        let h = config.hiddenSize
        let pooled = Tensor(zeros: [batch.batchSize, h])
        for (b, t) in pooledTokens(batch).enumerated() { (pooled.data + b * h).update(from: activations.final + t * h, count: h) }
        let logits = Tensor(zeros: [batch.batchSize, scoreHead.outFeatures])
        scoreHead.forward(pooled.data, rows: batch.batchSize, into: logits.data)
        return logits
    }

    /// Backward of `classificationLogits` given ∂loss/∂logits: accumulates the head's gradients, writes
    /// ∂loss/∂final (zero except at pooled tokens) and runs the blocks' backward.
    public func classificationBackward(_ batch: DecoderBatch, activations: DecoderActivations, logitsGradient: Tensor) throws {
        guard let scoreHead else { throw ModelError("this model has no classification head") }
        let h = config.hiddenSize, tokens = batch.batchSize * batch.sequenceLength
        let positions = pooledTokens(batch)
        let pooled = Tensor(zeros: [batch.batchSize, h]), pooledGradient = Tensor(zeros: [batch.batchSize, h])
        for (b, t) in positions.enumerated() { (pooled.data + b * h).update(from: activations.final + t * h, count: h) }
        scoreHead.backward(pooled.data, outputGradient: logitsGradient.data, rows: batch.batchSize, inputGradient: pooledGradient.data)
        activations.finalGradient.update(repeating: 0, count: tokens * h)
        for (b, t) in positions.enumerated() { Kernels.add(pooledGradient.data + b * h, into: activations.finalGradient + t * h, count: h) }
        backward(batch, activations: activations)
    }
}
