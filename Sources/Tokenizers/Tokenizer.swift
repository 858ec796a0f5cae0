/// One encoded text (or text pair), as Hugging Face tokenizers return it.
public struct Encoding: Sendable, Equatable {
    /// Token ids, special tokens included.
    public var ids: [Int]
    /// The token strings (for added tokens, the matched text; for unknown pieces, what the model saw).
    public var tokens: [String]
    /// 0 for the first sequence, 1 for the second where the template says so.
    public var typeIds: [Int]
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [Int]
    /// 1 for tokens the post-processor added ([CLS], </s>, padding), else 0.
    public var specialTokensMask: [Int]

    /// An encoding from its parallel arrays (all of one length).
    public init(ids: [Int], tokens: [String], typeIds: [Int], attentionMask: [Int], specialTokensMask: [Int]) {
        self.ids = ids
        self.tokens = tokens
        self.typeIds = typeIds
        self.attentionMask = attentionMask
        self.specialTokensMask = specialTokensMask
    }

    /// The number of tokens.
    public var count: Int { ids.count }
}

/// Turns text into token ids and back.
public protocol Tokenizer: Sendable {
    /// The number of ids (model vocabulary plus added tokens), like `len(tokenizer)` in transformers.
    var vocabularySize: Int { get }
    /// The id used for padding.
    var padId: Int { get }
    /// Encodes a text, or a text pair, adding the model's special tokens unless told not to, and
    /// truncating (longest sequence first) to `maxLength` tokens, special tokens included. As in
    /// transformers, a `maxLength` smaller than the number of special tokens truncates nothing,
    /// and an empty `pair` counts as no pair.
    func encode(_ text: String, pair: String?, addSpecialTokens: Bool, maxLength: Int?) -> Encoding
    /// Turns ids back into text; unknown ids are skipped.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    /// The id of a token string (a vocabulary entry or an added token).
    func id(of token: String) -> Int?
    /// The token string of an id.
    func token(of id: Int) -> String?
}

extension Tokenizer {
    /// Encodes a text (and optional pair) with special tokens, truncated to `maxLength` if given.
    public func encode(_ text: String, pair: String? = nil, maxLength: Int? = nil) -> Encoding {
        encode(text, pair: pair, addSpecialTokens: true, maxLength: maxLength)
    }

    /// Decodes ids, keeping special tokens.
    public func decode(_ ids: [Int]) -> String {
        decode(ids, skipSpecialTokens: false)
    }
}

/// How `encodeBatch` pads.
public enum Padding: Sendable, Equatable {
    /// Pad every row to the longest row of the batch.
    case longest
    /// Pad every row to `maxLength` (to the longest row when no `maxLength` is given).
    case maxLength
}

/// Encoded rows padded to one length, laid out row-major as `[batchSize, sequenceLength]`.
public struct TokenBatch: Sendable, Equatable {
    /// The number of rows.
    public let batchSize: Int
    /// The padded length of every row.
    public let sequenceLength: Int
    /// Token ids, padding included.
    public var ids: [Int32]
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [Int32]
    /// Token type (segment) ids; 0 for padding.
    public var typeIds: [Int32]

    /// A batch from row-major arrays of `batchSize * sequenceLength` values each.
    public init(batchSize: Int, sequenceLength: Int, ids: [Int32], attentionMask: [Int32], typeIds: [Int32]) {
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.ids = ids
        self.attentionMask = attentionMask
        self.typeIds = typeIds
    }

    /// The ids of row `row`, padding included.
    public func row(_ row: Int) -> ArraySlice<Int32> {
        ids[row * sequenceLength..<(row + 1) * sequenceLength]
    }
}

extension Tokenizer {
    /// Encodes texts (and optional pairs, one per text) with special tokens, truncates each to
    /// `maxLength`, and pads on the right with `padId` (type id 0, attention 0).
    public func encodeBatch(_ texts: [String], pairs: [String]? = nil, maxLength: Int? = nil, padding: Padding = .longest) -> TokenBatch {
        let encodings = texts.indices.map { index in
            encode(texts[index], pair: pairs.flatMap { index < $0.count ? $0[index] : nil },
                   addSpecialTokens: true, maxLength: maxLength)
        }
        return TokenBatch(encodings, paddedTo: padding == .maxLength ? maxLength : nil, padId: padId)
    }
}

extension TokenBatch {
    /// Pads encodings on the right with `padId` (attention 0, type id 0) into a row-major batch, to
    /// `length` or, when nil or shorter, to the longest encoding.
    public init(_ encodings: [Encoding], paddedTo length: Int?, padId: Int) {
        let longest = encodings.map(\.count).max() ?? 0
        let sequenceLength = max(length ?? longest, longest)
        var ids = [Int32](repeating: Int32(truncatingIfNeeded: padId), count: encodings.count * sequenceLength)
        var attention = [Int32](repeating: 0, count: ids.count)
        var typeIds = [Int32](repeating: 0, count: ids.count)
        for (row, encoding) in encodings.enumerated() {
            let base = row * sequenceLength
            for column in 0..<encoding.count {
                ids[base + column] = Int32(truncatingIfNeeded: encoding.ids[column])
                attention[base + column] = Int32(truncatingIfNeeded: encoding.attentionMask[column])
                typeIds[base + column] = Int32(truncatingIfNeeded: encoding.typeIds[column])
            }
        }
        self.init(batchSize: encodings.count, sequenceLength: sequenceLength, ids: ids, attentionMask: attention, typeIds: typeIds)
    }
}
