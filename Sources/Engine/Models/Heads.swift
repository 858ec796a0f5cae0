import FinchCheckpoint
import FinchTensor

/// Sequence-classification heads of the three families, on the first token's hidden state.
/// - BERT: logits = classifier(pooler(h[CLS])) — `dense` is nil and the encoder's pooler is used.
/// - RoBERTa / XLM-R: logits = out_proj(tanh(dense(h[CLS]))).
/// - DistilBERT: logits = classifier(relu(pre_classifier(h[CLS]))).
public final class ClassificationHead: @unchecked Sendable {
    public let dense: Linear?
    public let denseActivation: HeadActivation
    public let output: Linear
    public var labelCount: Int { output.outFeatures }

    public enum HeadActivation: Sendable { case tanh, relu }

    public init(dense: Linear?, denseActivation: HeadActivation, output: Linear) {
        self.dense = dense
        self.denseActivation = denseActivation
        self.output = output
    }
}

/// Pooling of the last hidden state into one vector per sequence.
public enum Pooling: String, Sendable, CaseIterable {
    /// Mean over the real (mask = 1) tokens, as sentence-transformers does.
    case mean
    /// The first token's hidden state.
    case cls
}

extension Encoder {
    /// Pooled sentence vectors [batch, hidden] from the last hidden state, optionally L2-normalised.
    public func pooled(_ pooling: Pooling, batch: EncoderBatch, activations: EncoderActivations,
                       normalize: Bool = false) -> Tensor {
        let h = config.hiddenSize, seq = batch.sequenceLength
        let last = lastHiddenState(activations)
        let result = Tensor(zeros: [batch.batchSize, h])
        for b in 0..<batch.batchSize {
            let out = result.data + b * h
            switch pooling {
            case .cls:
                out.update(from: last + b * seq * h, count: h)
            case .mean:
                var count: Float = 0
                for s in 0..<seq where batch.mask.values[b * seq + s] != 0 {
                    Kernels.add(last + (b * seq + s) * h, into: out, count: h)
                    count += 1
                }
                Kernels.scale(out, by: 1 / max(count, 1e-9), count: h)
            }
            if normalize {
                let norm = Kernels.sumOfSquares(out, mean: 0, count: h).squareRoot()
                Kernels.scale(out, by: 1 / max(norm, 1e-12), count: h)
            }
        }
        return result
    }

    /// BERT's pooler output [batch, hidden]: tanh(W · h[CLS] + b). Nil when the model has no pooler.
    public func poolerOutput(batch: EncoderBatch, activations: EncoderActivations) -> Tensor? {
        guard let pooler else { return nil }
        let cls = pooled(.cls, batch: batch, activations: activations)
        let result = Tensor(zeros: [batch.batchSize, pooler.outFeatures])
        pooler.forward(cls.data, rows: batch.batchSize, into: result.data)
        Kernels.tanhInPlace(result.data, count: result.count)
        return result
    }

    /// Classification logits [batch, labels]. Throws when the model has no head.
    public func logits(batch: EncoderBatch, activations: EncoderActivations) throws -> Tensor {
        guard let head else { throw ModelError("the model has no classification head; load it with task=classify") }
        let rows = batch.batchSize
        var features: Tensor
        if let dense = head.dense {
            let cls = pooled(.cls, batch: batch, activations: activations)
            features = Tensor(zeros: [rows, dense.outFeatures])
            dense.forward(cls.data, rows: rows, into: features.data)
            switch head.denseActivation {
            case .tanh: Kernels.tanhInPlace(features.data, count: features.count)
            case .relu: Activations.apply(.relu, features.data, count: features.count)
            }
        } else {
            guard let pooled = poolerOutput(batch: batch, activations: activations) else {
                throw ModelError("a BERT classification head needs a pooler")
            }
            features = pooled
        }
        let logits = Tensor(zeros: [rows, head.labelCount])
        head.output.forward(features.data, rows: rows, into: logits.data)
        return logits
    }
}
