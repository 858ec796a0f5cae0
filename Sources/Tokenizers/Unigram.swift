/// The Unigram language model (SentencePiece's), as `tokenizers` runs it: Viterbi over every
/// vocabulary piece matching at each position, maximising the summed log-probability scores.
///
/// A character no piece covers becomes the unknown token with score `min(score) - 10`;
/// consecutive unknown characters are fused into one unknown token whose text is the original
/// characters. With `byteFallback`, an unknown piece is spelled as `<0xNN>` byte tokens instead
/// when all of them exist.
struct UnigramModel: TokenModel {
    let pieces: [String]
    let scores: [Double]
    let unknownId: Int?
    let byteFallback: Bool
    private let vocabulary: Vocabulary
    private let unknownScore: Double

    /// The penalty below the lowest piece score given to unknown characters.
    static let unknownPenalty = 10.0

    init(pieces: [(piece: String, score: Double)], unknownId: Int?, byteFallback: Bool = false) {
        self.pieces = pieces.map(\.piece)
        self.scores = pieces.map(\.score)
        self.unknownId = unknownId
        self.byteFallback = byteFallback
        self.vocabulary = Vocabulary(tokens: self.pieces)
        self.unknownScore = (scores.min() ?? 0) - Self.unknownPenalty
    }

    var vocabularySize: Int { pieces.count }

    func id(of token: String) -> Int? { vocabulary.id(of: token) }

    func token(of id: Int) -> String? { pieces.indices.contains(id) ? pieces[id] : nil }

    func tokenize(_ word: String) -> [ModelToken] {
        var tokens: [ModelToken] = []
        for text in segment(Array(word.utf8)) {
            if let id = vocabulary.id(of: text) {
                tokens.append(ModelToken(id: id, text: text))
            } else if byteFallback, let bytes = byteTokens(for: text) {
                tokens.append(contentsOf: bytes)
            } else if let unknownId {
                tokens.append(ModelToken(id: unknownId, text: text))
            }
        }
        return tokens
    }

    private func byteTokens(for text: String) -> [ModelToken]? {
        var tokens: [ModelToken] = []
        for byte in text.utf8 {
            let name = "<0x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2) + ">"
            guard let id = vocabulary.id(of: name) else { return nil }
            tokens.append(ModelToken(id: id, text: name))
        }
        return tokens
    }

    /// The best segmentation of `bytes` into pieces, with runs of unknown characters fused.
    func segment(_ bytes: [UInt8]) -> [String] {
        let size = bytes.count
        guard size > 0 else { return [] }
        // best[end]: the best path ending at byte `end`: its score, where its last piece starts
        // (-1: unreached), and that piece's id (-1: unknown).
        var bestScore = [Double](repeating: 0, count: size + 1)
        var bestStart = [Int](repeating: -1, count: size + 1)
        var bestId = [Int](repeating: -1, count: size + 1)
        let longest = vocabulary.longestTokenLength
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < size {
                let scoreSoFar = bestScore[start]
                var characterLength = 1
                while start + characterLength < size && !isCharacterStart(buffer[start + characterLength]) {
                    characterLength += 1
                }
                var coversCharacter = false
                var hash = Vocabulary.emptyHash
                for length in stride(from: 1, through: min(longest, size - start), by: 1) {
                    hash = Vocabulary.hash(hash, buffer[start + length - 1])
                    let end = start + length
                    guard end == size || isCharacterStart(buffer[end]) else { continue }
                    guard let id = vocabulary.id(of: UnsafeBufferPointer(rebasing: buffer[start..<end]), hash: hash) else {
                        continue
                    }
                    let candidate = scoreSoFar + scores[id]
                    if bestStart[end] < 0 || candidate > bestScore[end] {
                        bestScore[end] = candidate
                        bestStart[end] = start
                        bestId[end] = id
                    }
                    if length == characterLength { coversCharacter = true }
                }
                if !coversCharacter {
                    let end = start + characterLength
                    let candidate = scoreSoFar + unknownScore
                    if bestStart[end] < 0 || candidate > bestScore[end] {
                        bestScore[end] = candidate
                        bestStart[end] = start
                        bestId[end] = -1
                    }
                }
                start += characterLength
            }
        }

        var segments: [String] = []
        var end = size
        var unknownEnd: Int?
        while end > 0 {
            let start = bestStart[end]
            let isUnknown = bestId[end] < 0 || bestId[end] == unknownId
            if isUnknown {
                if unknownEnd == nil { unknownEnd = end }
            } else {
                if let unknownEnd {
                    segments.append(String(decoding: bytes[end..<unknownEnd], as: UTF8.self))
                }
                unknownEnd = nil
                segments.append(String(decoding: bytes[start..<end], as: UTF8.self))
            }
            end = start
        }
        if let unknownEnd {
            segments.append(String(decoding: bytes[0..<unknownEnd], as: UTF8.self))
        }
        return segments.reversed()
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
