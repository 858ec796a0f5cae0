import FinchCheckpoint
import FinchTensor

/// Token embeddings: word + absolute position (+ token type), then LayerNorm.
public final class Embeddings: @unchecked Sendable {
    public var word: Tensor          // [vocab, hidden]
    public var position: Tensor      // [maxPositions, hidden]
    public var tokenType: Tensor?    // [typeVocab, hidden]; nil for DistilBERT
    public let norm: LayerNorm
    /// RoBERTa-style numbering: positions start at padding_idx + 1, pads get padding_idx.
    public let offsetsPositionsByPadding: Bool
    public let padTokenId: Int
    /// Gradients of the tables; all nil (frozen) unless full fine-tuning.
    public var gradients = TableGradients()
    public var hidden: Int { word.shape[1] }

    public init(word: Tensor, position: Tensor, tokenType: Tensor?, norm: LayerNorm,
                offsetsPositionsByPadding: Bool, padTokenId: Int) {
        self.word = word
        self.position = position
        self.tokenType = tokenType
        self.norm = norm
        self.offsetsPositionsByPadding = offsetsPositionsByPadding
        self.padTokenId = padTokenId
    }

    /// Position ids [batch·seq] as transformers computes them for this family.
    public func positionIds(ids: [Int32], batch: Int, sequence: Int) -> [Int] {
        guard offsetsPositionsByPadding else { return (0..<(batch * sequence)).map { $0 % sequence } }
        var positions = [Int](repeating: padTokenId, count: ids.count)
        for b in 0..<batch {
            var running = 0
            for s in 0..<sequence where Int(ids[b * sequence + s]) != padTokenId {
                running += 1
                positions[b * sequence + s] = padTokenId + running
            }
        }
        return positions
    }

    /// Forward: sum[t, :] = word[id_t] + position[p_t] + type[τ_t]; y = LayerNorm(sum).
    /// Throws when an id, position or type is out of range for the tables.
    public func forward(ids: [Int32], typeIds: [Int32]?, batch: Int, sequence: Int,
                        sum: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>,
                        mean: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?) throws {
        let h = hidden
        let positions = positionIds(ids: ids, batch: batch, sequence: sequence)
        let vocabulary = word.shape[0], maxPositions = position.shape[0]
        for t in 0..<(batch * sequence) {
            let id = Int(ids[t]), p = positions[t]
            guard id >= 0, id < vocabulary else {
                throw ModelError("token id \(id) at row \(t / sequence), position \(t % sequence) is outside the vocabulary of \(vocabulary)")
            }
            guard p < maxPositions else {
                throw ModelError("sequence of \(sequence) tokens needs position \(p), but the model has \(maxPositions) position embeddings; truncate to max_length")
            }
            let out = sum + t * h
            out.update(from: word.data + id * h, count: h)
            Kernels.add(position.data + p * h, into: out, count: h)
            if let tokenType {
                let type = Int(typeIds?[t] ?? 0)
                guard type >= 0, type < tokenType.shape[0] else {
                    throw ModelError("token type \(type) at row \(t / sequence) is outside the \(tokenType.shape[0]) token types of the model")
                }
                Kernels.add(tokenType.data + type * h, into: out, count: h)
            }
        }
        norm.forward(sum, rows: batch * sequence, into: y, mean: mean, rstd: rstd)
    }
}

extension Embeddings {
    /// Gradients of the tables, accumulated by `backward` when not nil (full fine-tuning only).
    public struct TableGradients {
        public var word: Tensor?
        public var position: Tensor?
        public var tokenType: Tensor?
        public init(word: Tensor? = nil, position: Tensor? = nil, tokenType: Tensor? = nil) {
            self.word = word
            self.position = position
            self.tokenType = tokenType
        }
    }

    /// Backward of `forward` given dy = ∂loss/∂(embeddings output): through the LayerNorm into dSum
    /// (scratch), then scattered into the rows of each table that was looked up.
    public func backward(ids: [Int32], typeIds: [Int32]?, batch: Int, sequence: Int, sum: UnsafePointer<Float>,
                         mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                         scratch dSum: UnsafeMutablePointer<Float>) {
        let tables = gradients
        let h = hidden, tokens = batch * sequence
        norm.backward(sum, outputGradient: dy, rows: tokens, mean: mean, rstd: rstd, inputGradient: dSum)
        guard tables.word != nil || tables.position != nil || tables.tokenType != nil else { return }
        let positions = positionIds(ids: ids, batch: batch, sequence: sequence)
        for t in 0..<tokens {
            let row = dSum + t * h
            if let word = tables.word { Kernels.add(row, into: word.data + Int(ids[t]) * h, count: h) }
            if let position = tables.position { Kernels.add(row, into: position.data + positions[t] * h, count: h) }
            if let tokenType = tables.tokenType { Kernels.add(row, into: tokenType.data + Int(typeIds?[t] ?? 0) * h, count: h) }
        }
    }
}

/// A model that cannot run on the input it was given.
public struct ModelError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
