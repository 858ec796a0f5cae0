import Foundation
import FinchModels
import FinchTokenizers

/// A piece of a formatted training example: text the model is shown (no loss) or text it learns to produce.
public struct TextSegment: Sendable, Equatable {
    public var text: String
    public var trained: Bool
    public init(_ text: String, trained: Bool) {
        self.text = text
        self.trained = trained
    }
}

/// Tokenized causal-LM examples: ids and labels per example (labels −100 where no loss is taken: the
/// prompt), batched right-padded, or packed several to a row with attention kept inside each example.
public struct CausalExamples: Sendable {
    public let ids: [[Int32]]
    public let labels: [[Int32]]
    /// Examples that `maxLength` cut short.
    public let truncated: Int
    /// Examples with no trained token left after truncation (they are dropped from training).
    public let empty: Int

    public var count: Int { ids.count }
    public var tokenCount: Int { ids.reduce(0) { $0 + $1.count } }

    /// Tokenizes each example segment by segment (each segment on its own, as TRL tokenizes prompt and
    /// completion), masks untrained segments, prepends BOS when the tokenizer adds one, and truncates to
    /// `maxLength` tokens from the right.
    public init(_ examples: [[TextSegment]], tokenizer: any Tokenizer, bosId: Int?, maxLength: Int) {
        var ids: [[Int32]] = [], labels: [[Int32]] = []
        var truncated = 0, empty = 0
        for segments in examples {
            var exampleIds: [Int32] = [], exampleLabels: [Int32] = []
            if let bosId {
                exampleIds.append(Int32(bosId))
                exampleLabels.append(DecoderBatch.ignoreIndex)
            }
            for segment in segments where !segment.text.isEmpty {
                let encoded = tokenizer.encode(segment.text, pair: nil, addSpecialTokens: false, maxLength: nil).ids.map { Int32($0) }
                exampleIds += encoded
                exampleLabels += segment.trained ? encoded : [Int32](repeating: DecoderBatch.ignoreIndex, count: encoded.count)
            }
            if exampleIds.count > maxLength {
                truncated += 1
                exampleIds.removeLast(exampleIds.count - maxLength)
                exampleLabels.removeLast(exampleLabels.count - maxLength)
            }
            // The first token has no prediction; a label there is never used.
            if exampleLabels.dropFirst().allSatisfy({ $0 == DecoderBatch.ignoreIndex }) { empty += 1 }
            ids.append(exampleIds)
            labels.append(exampleLabels)
        }
        self.ids = ids
        self.labels = labels
        self.truncated = truncated
        self.empty = empty
    }

    /// Indices of examples that carry a loss.
    public var trainable: [Int] {
        ids.indices.filter { !labels[$0].dropFirst().allSatisfy { $0 == DecoderBatch.ignoreIndex } }
    }

    /// Examples `rows` right-padded to the longest, labels −100 on padding.
    public func batch(_ rows: [Int], padId: Int) -> DecoderBatch {
        let length = rows.map { ids[$0].count }.max() ?? 1
        var batchIds = [Int32](repeating: Int32(padId), count: rows.count * length)
        var batchLabels = [Int32](repeating: DecoderBatch.ignoreIndex, count: batchIds.count)
        for (r, row) in rows.enumerated() {
            for (s, id) in ids[row].enumerated() {
                batchIds[r * length + s] = id
                batchLabels[r * length + s] = labels[row][s]
            }
        }
        return DecoderBatch(batchSize: rows.count, sequenceLength: length, ids: batchIds, labels: batchLabels,
                            mask: CausalMask(batch: rows.count, sequence: length, lengths: rows.map { max(1, ids[$0].count) }))
    }

    /// Examples `rows` packed in order into rows of at most `maxLength` tokens: each example keeps its own
    /// positions (from 0) and attends only within itself (DataCollatorWithFlattening's semantics, without
    /// flattening the whole batch into one row). Returns one batch.
    public func packedBatch(_ rows: [Int], padId: Int, maxLength: Int) -> DecoderBatch {
        var packed: [[Int]] = [[]]
        var used = 0
        for row in rows {
            if used + ids[row].count > maxLength, !packed[packed.count - 1].isEmpty {
                packed.append([])
                used = 0
            }
            packed[packed.count - 1].append(row)
            used += ids[row].count
        }
        let lengths = packed.map { $0.reduce(0) { $0 + ids[$1].count } }
        let length = lengths.max() ?? 1
        var batchIds = [Int32](repeating: Int32(padId), count: packed.count * length)
        var batchLabels = [Int32](repeating: DecoderBatch.ignoreIndex, count: batchIds.count)
        var starts: [[Int]] = []
        for (r, group) in packed.enumerated() {
            var offset = 0, rowStarts: [Int] = []
            for row in group {
                rowStarts.append(offset)
                for (s, id) in ids[row].enumerated() {
                    batchIds[r * length + offset + s] = id
                    // The first token of an example has no prediction from the one before it.
                    batchLabels[r * length + offset + s] = s == 0 ? DecoderBatch.ignoreIndex : labels[row][s]
                }
                offset += ids[row].count
            }
            starts.append(rowStarts)
        }
        return DecoderBatch(batchSize: packed.count, sequenceLength: length, ids: batchIds, labels: batchLabels,
                            mask: CausalMask(batch: packed.count, sequence: length, lengths: lengths.map { max(1, $0) }, segmentStarts: starts))
    }
}
