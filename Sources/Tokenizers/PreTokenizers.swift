/// A piece of normalized text on its way to the model.
struct PreToken: Sendable, Equatable {
    var text: String
    /// Whether the piece starts at the very beginning of the input (Metaspace's `first` scheme).
    var startsInput: Bool
}

/// Splits normalized text into words (tokenizer.json's `pre_tokenizer`).
protocol PreTokenizer: Sendable {
    func preTokenize(_ pieces: [PreToken]) -> [PreToken]
}

/// What a split does with the delimiters it finds (`SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

/// Splits `piece` at every scalar `isDelimiter` accepts (each one a delimiter of its own), then
/// merges delimiters per `behavior` and drops empty pieces, as `NormalizedString::split` does.
func splitting(_ piece: PreToken, behavior: SplitBehavior, isDelimiter: (Unicode.Scalar) -> Bool) -> [PreToken] {
    var parts: [(range: Range<Int>, isDelimiter: Bool)] = []
    var offset = 0
    var runStart = 0
    for scalar in piece.text.unicodeScalars {
        let next = offset + UTF8.width(scalar)
        if isDelimiter(scalar) {
            if runStart < offset { parts.append((runStart..<offset, false)) }
            parts.append((offset..<next, true))
            runStart = next
        }
        offset = next
    }
    if runStart < offset { parts.append((runStart..<offset, false)) }
    return splitting(piece, utf8: Array(piece.text.utf8), parts: parts, behavior: behavior)
}

/// Cuts `piece` (whose UTF-8 is `utf8`) into `parts`, byte ranges that tile it, some marked as
/// delimiters, and merges the delimiters per `behavior`.
func splitting(_ piece: PreToken, utf8: [UInt8], parts: [(range: Range<Int>, isDelimiter: Bool)], behavior: SplitBehavior) -> [PreToken] {
    var kept: [Range<Int>] = []
    switch behavior {
    case .removed:
        kept = parts.filter { !$0.isDelimiter }.map(\.range)
    case .isolated:
        kept = parts.map(\.range)
    case .contiguous, .mergedWithPrevious:
        // A delimiter joins the piece before it: any piece of the same kind (contiguous), or a
        // non-delimiter (merged with previous).
        var previousWasDelimiter = false
        for part in parts {
            let joins = behavior == .contiguous ? part.isDelimiter == previousWasDelimiter
                                                : part.isDelimiter && !previousWasDelimiter
            if joins, let last = kept.last {
                kept[kept.count - 1] = last.lowerBound..<part.range.upperBound
            } else {
                kept.append(part.range)
            }
            previousWasDelimiter = part.isDelimiter
        }
    case .mergedWithNext:
        // Walking backwards, a delimiter joins the non-delimiter piece after it.
        var nextWasDelimiter = false
        for part in parts.reversed() {
            if part.isDelimiter && !nextWasDelimiter, let last = kept.last {
                kept[kept.count - 1] = part.range.lowerBound..<last.upperBound
            } else {
                kept.append(part.range)
            }
            nextWasDelimiter = part.isDelimiter
        }
        kept.reverse()
    }
    return kept.map { range in
        PreToken(text: String(decoding: utf8[range], as: UTF8.self), startsInput: piece.startsInput && range.lowerBound == 0)
    }
}

/// `BertPreTokenizer`: splits on whitespace (dropped) and isolates each punctuation character.
struct BertPreTokenizer: PreTokenizer {
    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        pieces.flatMap { piece in
            splitting(piece, behavior: .removed, isDelimiter: \.properties.isWhitespace)
                .flatMap { splitting($0, behavior: .isolated, isDelimiter: BertCharacterClasses.isPunctuation) }
        }
    }
}

/// `WhitespaceSplit`: splits on whitespace, which is dropped.
struct WhitespaceSplitPreTokenizer: PreTokenizer {
    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        pieces.flatMap { splitting($0, behavior: .removed, isDelimiter: \.properties.isWhitespace) }
    }
}

/// `Punctuation`: splits off punctuation characters with the given behavior (default isolated).
struct PunctuationPreTokenizer: PreTokenizer {
    var behavior: SplitBehavior = .isolated

    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        pieces.flatMap { splitting($0, behavior: behavior, isDelimiter: BertCharacterClasses.isPunctuation) }
    }
}

/// `Whitespace`: the regex `\w+|[^\w\s]+`: runs of word characters and runs of other non-space
/// characters; whitespace is dropped.
struct WhitespacePreTokenizer: PreTokenizer {
    private enum Class { case word, space, other }

    private static func classify(_ scalar: Unicode.Scalar) -> Class {
        if isWordCharacter(scalar) { return .word }
        return scalar.properties.isWhitespace ? .space : .other
    }

    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        pieces.flatMap { piece -> [PreToken] in
            let scalars = piece.text.unicodeScalars
            var result: [PreToken] = []
            var runStart = scalars.startIndex
            var runClass: Class?
            var index = scalars.startIndex
            func close(at end: String.Index) {
                if let runClass, runClass != .space, runStart < end {
                    result.append(PreToken(text: String(scalars[runStart..<end]),
                                           startsInput: piece.startsInput && runStart == scalars.startIndex))
                }
            }
            while index < scalars.endIndex {
                let kind = Self.classify(scalars[index])
                if kind != runClass {
                    close(at: index)
                    runStart = index
                    runClass = kind
                }
                index = scalars.index(after: index)
            }
            close(at: scalars.endIndex)
            return result
        }
    }
}

/// How Metaspace marks the start of a piece.
enum PrependScheme: String, Sendable {
    /// Put the replacement before every piece that lacks one.
    case always
    /// Only before the piece at the very start of the input.
    case first
    /// Never.
    case never
}

/// `Metaspace`: replaces spaces with `▁`, prepends one per the scheme, and (when `split`) starts a
/// new piece at each `▁`.
struct MetaspacePreTokenizer: PreTokenizer {
    var replacement: Character = "▁"
    var prependScheme: PrependScheme = .always
    var split = true

    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        let marker = String(replacement)
        let markerScalar = marker.unicodeScalars.first!
        return pieces.flatMap { piece -> [PreToken] in
            var text = piece.text.replacingBytes(" ", with: marker)
            let prepend = switch prependScheme {
            case .always: !text.hasBytePrefix(marker)
            case .first: !text.hasBytePrefix(marker) && piece.startsInput
            case .never: false
            }
            // Like NormalizedString::prepend, nothing is prepended to empty text.
            if prepend && !text.isEmpty { text = marker + text }
            let rewritten = PreToken(text: text, startsInput: piece.startsInput)
            guard split else { return [rewritten] }
            return splitting(rewritten, behavior: .mergedWithNext) { $0 == markerScalar }
        }
    }
}

/// Applies pre-tokenizers in order (`Sequence`).
struct PreTokenizerSequence: PreTokenizer {
    let preTokenizers: [any PreTokenizer]

    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        preTokenizers.reduce(pieces) { $1.preTokenize($0) }
    }
}
