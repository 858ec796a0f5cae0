/// A token a model produced for one word.
struct ModelToken: Sendable, Equatable {
    let id: Int
    let text: String
}

/// Turns one pre-tokenized word into tokens (tokenizer.json's `model`).
protocol TokenModel: Sendable {
    /// The number of ids the model itself defines.
    var vocabularySize: Int { get }
    func tokenize(_ word: String) -> [ModelToken]
    func id(of token: String) -> Int?
    func token(of id: Int) -> String?
}

/// WordPiece as in BERT: greedy longest-match-first over the vocabulary, continuation pieces
/// spelled with `##`; a word with no full segmentation, or longer than `maxInputCharactersPerWord`
/// characters, becomes the unknown token.
struct WordPieceModel: TokenModel {
    /// Id to token; a dictionary because nothing forces a vocabulary's ids to be contiguous.
    let tokens: [Int: String]
    let vocabularySize: Int
    let vocabulary: Vocabulary
    let unknownToken: String
    let unknownId: Int
    let continuingSubwordPrefix: String
    let maxInputCharactersPerWord: Int

    /// Builds the model; fails when `unknownToken` is not in the vocabulary.
    init?(vocabulary entries: [(token: String, id: Int)], unknownToken: String = "[UNK]",
          continuingSubwordPrefix: String = "##", maxInputCharactersPerWord: Int = 100) {
        var tokens: [Int: String] = [:]
        var vocabulary = Vocabulary(minimumCapacity: entries.count)
        for (token, id) in entries where id >= 0 {
            tokens[id] = token
            vocabulary.insert(token, id: id)
        }
        guard let unknownId = vocabulary.id(of: unknownToken) else { return nil }
        self.tokens = tokens
        self.vocabularySize = (tokens.keys.max() ?? -1) + 1
        self.vocabulary = vocabulary
        self.unknownToken = unknownToken
        self.unknownId = unknownId
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharactersPerWord = maxInputCharactersPerWord
    }

    func id(of token: String) -> Int? { vocabulary.id(of: token) }

    func token(of id: Int) -> String? { tokens[id] }

    func tokenize(_ word: String) -> [ModelToken] {
        let unknown = [ModelToken(id: unknownId, text: unknownToken)]
        if word.unicodeScalars.count > maxInputCharactersPerWord { return unknown }
        let bytes = Array(word.utf8)
        let prefix = Array(continuingSubwordPrefix.utf8)
        // candidate holds the current piece: the prefix (for continuations) then the word's rest.
        var candidate: [UInt8] = []
        candidate.reserveCapacity(prefix.count + bytes.count)
        var result: [ModelToken] = []
        var start = 0
        while start < bytes.count {
            candidate.removeAll(keepingCapacity: true)
            if start > 0 { candidate.append(contentsOf: prefix) }
            let head = candidate.count
            candidate.append(contentsOf: bytes[start...])
            var best: (id: Int, end: Int)?
            candidate.withUnsafeBufferPointer { buffer in
                var hash = Vocabulary.hash(of: buffer[0..<head])
                for length in (head + 1)...buffer.count {
                    hash = Vocabulary.hash(hash, buffer[length - 1])
                    let end = start + length - head
                    guard end == bytes.count || isCharacterStart(bytes[end]) else { continue }
                    if let id = vocabulary.id(of: UnsafeBufferPointer(rebasing: buffer[0..<length]), hash: hash) {
                        best = (id, end)
                    }
                }
            }
            guard let (id, end) = best else { return unknown }
            result.append(ModelToken(id: id, text: String(decoding: candidate[0..<(head + end - start)], as: UTF8.self)))
            start = end
        }
        return result
    }
}
