import Foundation

/// Byte-pair encoding as `tokenizers`' BPE model runs it (GPT-2, Llama-3, Qwen2, SmolLM2): a word
/// starts as its characters' ids and the adjacent pair with the lowest merge rank is merged,
/// leftmost first, until no listed pair remains.
///
/// A character missing from the vocabulary becomes `<0xNN>` byte tokens with `byteFallback`, else
/// the unknown token (runs fused with `fuseUnknown`), else it is dropped. With `ignoreMerges`
/// (Llama-3) a word that is itself a vocabulary entry is taken whole. Results are cached per word.
struct BPEModel: TokenModel {
    /// Id to token ("" for ids the vocabulary skips).
    let tokens: [String]
    let vocabulary: Vocabulary
    /// `(left << 32 | right)` to the merge's rank and the merged token's id.
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    let unknownToken: (token: String, id: Int)?
    let fuseUnknown: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let continuingSubwordPrefix: String
    let endOfWordSuffix: String
    /// Ids of single-character tokens by scalar value below `Self.directScalars`, -1 when absent.
    private let characterIds: [Int32]
    private let cache = WordCache()

    static let directScalars = 0x180

    /// Why a model cannot be built from its vocabulary and merges.
    enum BuildError: Error {
        /// Merge `index` names a token, or makes one, that the vocabulary lacks.
        case merge(index: Int, problem: String)
        /// The unknown token is not in the vocabulary.
        case unknownToken(String)
    }

    /// Builds the model; throws when a merge or the unknown token does not fit the vocabulary.
    init(vocabulary entries: [(token: String, id: Int)], merges mergeList: [(String, String)], unknownToken: String? = nil,
         fuseUnknown: Bool = false, byteFallback: Bool = false, ignoreMerges: Bool = false,
         continuingSubwordPrefix: String = "", endOfWordSuffix: String = "") throws(BuildError) {
        var vocabulary = Vocabulary(minimumCapacity: entries.count)
        var tokens = [String](repeating: "", count: (entries.map(\.id).max() ?? -1) + 1)
        for (token, id) in entries where id >= 0 {
            vocabulary.insert(token, id: id)
            tokens[id] = token
        }
        var merges: [UInt64: (rank: Int32, id: Int32)] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, (left, right)) in mergeList.enumerated() {
            guard let leftId = vocabulary.id(of: left) else { throw .merge(index: rank, problem: "\"\(left)\" is not in the vocabulary") }
            guard let rightId = vocabulary.id(of: right) else { throw .merge(index: rank, problem: "\"\(right)\" is not in the vocabulary") }
            let tail = !continuingSubwordPrefix.isEmpty && right.hasBytePrefix(continuingSubwordPrefix)
                ? String(decoding: right.utf8.dropFirst(continuingSubwordPrefix.utf8.count), as: UTF8.self) : right
            let merged = left + tail
            guard let mergedId = vocabulary.id(of: merged) else {
                throw .merge(index: rank, problem: "the merged token \"\(merged)\" is not in the vocabulary")
            }
            merges[UInt64(leftId) << 32 | UInt64(rightId)] = (Int32(rank), Int32(mergedId))
        }
        if let unknownToken {
            guard let id = vocabulary.id(of: unknownToken) else {
                throw .unknownToken(unknownToken)
            }
            self.unknownToken = (unknownToken, id)
        } else {
            self.unknownToken = nil
        }
        var characterIds = [Int32](repeating: -1, count: Self.directScalars)
        for value in 0..<Self.directScalars {
            guard let scalar = Unicode.Scalar(value) else { continue }
            characterIds[value] = Int32(vocabulary.id(of: String(scalar)) ?? -1)
        }
        self.tokens = tokens
        self.vocabulary = vocabulary
        self.merges = merges
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.characterIds = characterIds
    }

    var vocabularySize: Int { tokens.count }

    func id(of token: String) -> Int? { vocabulary.id(of: token) }

    func token(of id: Int) -> String? { tokens.indices.contains(id) ? tokens[id] : nil }

    func tokenize(_ word: String) -> [ModelToken] {
        if word.isEmpty { return [] }
        if ignoreMerges, let id = vocabulary.id(of: word) { return [ModelToken(id: id, text: word)] }
        let ids = cache.ids(of: word) { mergedIds(of: word) }
        return ids.map { ModelToken(id: Int($0), text: tokens[Int($0)]) }
    }

    /// The ids of `word` after all merges.
    private func mergedIds(of word: String) -> [Int32] {
        var symbols = initialSymbols(of: word)
        guard symbols.count > 1 else { return symbols }
        // ranks[i]: the rank of merging symbols i and i + 1 (Int32.max when they do not merge).
        var ranks = (0..<symbols.count - 1).map { rank(symbols[$0], symbols[$0 + 1]) }
        while true {
            var best = -1
            var bestRank = Int32.max
            for index in ranks.indices where ranks[index] < bestRank {
                bestRank = ranks[index]
                best = index
            }
            guard best >= 0 else { break }
            symbols[best] = merges[Self.key(symbols[best], symbols[best + 1])]!.id
            symbols.remove(at: best + 1)
            ranks.remove(at: best)
            if best > 0 { ranks[best - 1] = rank(symbols[best - 1], symbols[best]) }
            if best < ranks.count { ranks[best] = rank(symbols[best], symbols[best + 1]) }
        }
        return symbols
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 { UInt64(UInt32(left)) << 32 | UInt64(UInt32(right)) }

    @inline(__always)
    private func rank(_ left: Int32, _ right: Int32) -> Int32 {
        merges[Self.key(left, right)]?.rank ?? .max
    }

    /// One id per character (with the continuing prefix and end-of-word suffix where set), byte
    /// fallback or unknown tokens for characters the vocabulary lacks.
    private func initialSymbols(of word: String) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.utf8.count)
        let plain = continuingSubwordPrefix.isEmpty && endOfWordSuffix.isEmpty
        var pendingUnknown = false
        let scalars = word.unicodeScalars
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            let isFirst = index == scalars.startIndex
            index = scalars.index(after: index)
            var id: Int?
            var piece = String(scalar)
            if plain && scalar.value < Self.directScalars {
                let direct = characterIds[Int(scalar.value)]
                id = direct >= 0 ? Int(direct) : nil
            } else {
                if !isFirst { piece = continuingSubwordPrefix + piece }
                if index == scalars.endIndex { piece += endOfWordSuffix }
                id = vocabulary.id(of: piece)
            }
            if let id {
                if pendingUnknown, let unknownToken { symbols.append(Int32(unknownToken.id)) }
                pendingUnknown = false
                symbols.append(Int32(id))
                continue
            }
            if byteFallback, let bytes = byteFallbackIds(piece) {
                symbols += bytes
                continue
            }
            guard let unknownToken else { continue }
            if pendingUnknown && !fuseUnknown { symbols.append(Int32(unknownToken.id)) }
            pendingUnknown = true
        }
        if pendingUnknown, let unknownToken { symbols.append(Int32(unknownToken.id)) }
        return symbols
    }

    /// The `<0xNN>` tokens of `piece`'s bytes, or nil when one is missing.
    private func byteFallbackIds(_ piece: String) -> [Int32]? {
        var ids: [Int32] = []
        for byte in piece.utf8 {
            let hex = String(byte, radix: 16, uppercase: true)
            guard let id = vocabulary.id(of: "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">") else { return nil }
            ids.append(Int32(id))
        }
        return ids
    }
}

/// Merged ids per word, shared by every copy of a model and safe across threads. Like `tokenizers`,
/// it keeps at most `capacity` words (then stops adding) and skips words over `longestWord` bytes.
final class WordCache: @unchecked Sendable {
    private var entries: [WordKey: [Int32]] = [:]
    private let lock = NSLock()
    let capacity = 10_000
    let longestWord = 256

    func ids(of word: String, compute: () -> [Int32]) -> [Int32] {
        guard word.utf8.count <= longestWord else { return compute() }
        let key = WordKey(text: word)
        lock.lock()
        let hit = entries[key]
        lock.unlock()
        if let hit { return hit }
        let ids = compute()
        lock.lock()
        if entries.count < capacity { entries[key] = ids }
        lock.unlock()
        return ids
    }
}

/// A word compared and hashed by its UTF-8 bytes (String's == treats canonically equivalent
/// spellings as equal, and vocabularies tell them apart).
struct WordKey: Hashable {
    let text: String

    static func == (left: WordKey, right: WordKey) -> Bool { left.text.isByteEqual(right.text) }

    func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
