/// A token matched in the text before the model sees it (tokenizer.json's `added_tokens`,
/// transformers' `added_tokens_decoder`), such as `[CLS]` or `<mask>`.
struct AddedToken: Sendable, Equatable {
    var content: String
    var id: Int
    /// Only match when not inside a word.
    var singleWord = false
    /// Also swallow the whitespace to the left (`<mask>` in XLM-R).
    var leftStrip = false
    /// Also swallow the whitespace to the right.
    var rightStrip = false
    /// Match against the normalized text rather than the original.
    var normalized = false
    /// Special tokens are dropped by `decode(skipSpecialTokens: true)`.
    var special = true
}

/// A stretch of input: either plain text for the normalizer and model, or an added token.
struct InputSegment: Sendable, Equatable {
    var text: String
    var addedTokenId: Int?
    /// Whether the segment begins at the start of the input.
    var startsInput: Bool
}

/// Finds added tokens in text, leftmost first and longest among those starting at one place, as the
/// Aho-Corasick matcher in `tokenizers` does.
struct AddedVocabulary: Sendable {
    let tokens: [AddedToken]
    private let byContent: Vocabulary
    private let byId: [Int: Int]
    private let rawPatterns: [(bytes: [UInt8], token: Int)]
    private let normalizedPatterns: [(bytes: [UInt8], token: Int)]

    /// Later entries replace earlier ones with the same content or id.
    init(_ tokens: [AddedToken], normalizer: (any Normalizer)?) {
        var unique: [AddedToken] = []
        for token in tokens where !token.content.isEmpty {
            unique.removeAll { $0.content.isByteEqual(token.content) || $0.id == token.id }
            unique.append(token)
        }
        self.tokens = unique
        var byContent = Vocabulary(minimumCapacity: unique.count)
        for token in unique { byContent.insert(token.content, id: token.id) }
        self.byContent = byContent
        byId = Dictionary(unique.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { $1 })
        // Special tokens come first in `tokenizers`, which matters only for equal-length ties.
        let ordered = unique.indices.filter { unique[$0].special } + unique.indices.filter { !unique[$0].special }
        rawPatterns = ordered.filter { !unique[$0].normalized }.map { (Array(unique[$0].content.utf8), $0) }
        normalizedPatterns = ordered.filter { unique[$0].normalized }.compactMap { index in
            let pattern = normalizer?.normalize(unique[index].content) ?? unique[index].content
            return pattern.isEmpty ? nil : (Array(pattern.utf8), index)
        }
    }

    var isEmpty: Bool { tokens.isEmpty }

    func id(of content: String) -> Int? { byContent.id(of: content) }

    func token(of id: Int) -> AddedToken? { byId[id].map { tokens[$0] } }

    /// The largest added-token id, if any.
    var largestId: Int? { tokens.map(\.id).max() }

    /// Splits `text` at added tokens that match the original text; plain stretches are normalized
    /// with `normalizer` and split again at added tokens that match normalized text.
    func segments(of text: String, normalizer: (any Normalizer)?) -> [InputSegment] {
        var result: [InputSegment] = []
        for raw in split(text, startsInput: true, patterns: rawPatterns) {
            if raw.addedTokenId != nil {
                result.append(raw)
                continue
            }
            let normalized = normalizer?.normalize(raw.text) ?? raw.text
            result.append(contentsOf: split(normalized, startsInput: raw.startsInput, patterns: normalizedPatterns))
        }
        return result
    }

    private func split(_ text: String, startsInput: Bool, patterns: [(bytes: [UInt8], token: Int)]) -> [InputSegment] {
        guard !patterns.isEmpty, !text.isEmpty else { return [InputSegment(text: text, addedTokenId: nil, startsInput: startsInput)] }
        let bytes = Array(text.utf8)
        var segments: [InputSegment] = []
        var segmentStart = 0
        var position = 0
        func emit(_ range: Range<Int>, id: Int?) {
            segments.append(InputSegment(text: String(decoding: bytes[range], as: UTF8.self), addedTokenId: id,
                                         startsInput: startsInput && range.lowerBound == 0))
        }
        while position < bytes.count {
            guard let (length, index) = longestMatch(in: bytes, at: position, patterns: patterns) else {
                position += 1
                continue
            }
            let token = tokens[index]
            var start = position, stop = position + length
            if token.singleWord && (endsWithWordCharacter(bytes[..<start]) || startsWithWordCharacter(bytes[stop...])) {
                position = stop  // the matcher resumes after a rejected match, as Aho-Corasick's iterator does
                continue
            }
            if token.leftStrip { start = max(segmentStart, startOfTrailingWhitespace(bytes[..<start])) }
            if token.rightStrip { stop = endOfLeadingWhitespace(bytes[stop...]) }
            if segmentStart < start { emit(segmentStart..<start, id: nil) }
            emit(start..<stop, id: token.id)
            segmentStart = stop
            position = stop
        }
        if segmentStart < bytes.count { emit(segmentStart..<bytes.count, id: nil) }
        return segments
    }

    private func longestMatch(in bytes: [UInt8], at position: Int, patterns: [(bytes: [UInt8], token: Int)]) -> (Int, Int)? {
        var best: (Int, Int)?
        for (pattern, index) in patterns where pattern.count > (best?.0 ?? 0) && position + pattern.count <= bytes.count {
            if bytes[position] == pattern[0] && bytes[position..<position + pattern.count].elementsEqual(pattern) {
                best = (pattern.count, index)
            }
        }
        return best
    }
}

/// Rust regex `\w`: alphabetic, marks, decimal digits, connector punctuation, join controls.
func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
    let properties = scalar.properties
    if properties.isAlphabetic || properties.isJoinControl { return true }
    switch properties.generalCategory {
    case .decimalNumber, .connectorPunctuation, .nonspacingMark, .spacingMark, .enclosingMark: return true
    default: return false
    }
}

private func endsWithWordCharacter(_ bytes: ArraySlice<UInt8>) -> Bool {
    String(decoding: bytes, as: UTF8.self).unicodeScalars.last.map(isWordCharacter) ?? false
}

private func startsWithWordCharacter(_ bytes: ArraySlice<UInt8>) -> Bool {
    String(decoding: bytes.prefix(4), as: UTF8.self).unicodeScalars.first.map(isWordCharacter) ?? false
}

/// The byte offset where the whitespace at the end of `bytes` begins.
private func startOfTrailingWhitespace(_ bytes: ArraySlice<UInt8>) -> Int {
    let text = String(decoding: bytes, as: UTF8.self)
    var end = bytes.endIndex
    for scalar in text.unicodeScalars.reversed() {
        guard scalar.properties.isWhitespace else { break }
        end -= String(scalar).utf8.count
    }
    return end
}

/// The byte offset where the whitespace at the start of `bytes` ends.
private func endOfLeadingWhitespace(_ bytes: ArraySlice<UInt8>) -> Int {
    let text = String(decoding: bytes, as: UTF8.self)
    var start = bytes.startIndex
    for scalar in text.unicodeScalars {
        guard scalar.properties.isWhitespace else { break }
        start += String(scalar).utf8.count
    }
    return start
}
