import Foundation

/// Rewrites text before it is split into words (tokenizer.json's `normalizer`).
protocol Normalizer: Sendable {
    func normalize(_ text: String) -> String
}

/// Applies normalizers in order (`Sequence`).
struct NormalizerSequence: Normalizer {
    let normalizers: [any Normalizer]

    func normalize(_ text: String) -> String {
        normalizers.reduce(text) { $1.normalize($0) }
    }
}

/// BERT's cleanup: drop control characters and turn whitespace into spaces, put spaces around
/// CJK ideographs, strip accents (NFD, then drop nonspacing marks) and lowercase, in that order.
struct BertNormalizer: Normalizer {
    var cleanText = true
    var handleChineseCharacters = true
    var stripAccents = true
    var lowercase = true

    func normalize(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if cleanText {
                if BertCharacterClasses.isRemovedByCleanText(scalar) { continue }
                if scalar.properties.isWhitespace {
                    scalars.append(" ")
                    continue
                }
            }
            if handleChineseCharacters && BertCharacterClasses.isChineseCharacter(scalar) {
                scalars.append(" ")
                scalars.append(scalar)
                scalars.append(" ")
            } else {
                scalars.append(scalar)
            }
        }
        var result = String(scalars)
        if stripAccents {
            result = String(String.UnicodeScalarView(
                canonicalDecomposition(result).unicodeScalars.filter { !BertCharacterClasses.isNonspacingMark($0) }))
        }
        return lowercase ? lowercased(result) : result
    }
}

/// Lowercases character by character, without context (Greek final sigma stays σ), as Rust's
/// `char::to_lowercase` does; Swift's per-scalar mapping matches it on every code point.
func lowercased(_ text: String) -> String {
    if text.utf8.allSatisfy({ $0 < 0x80 }) { return text.lowercased() }
    var scalars = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        if scalar.properties.changesWhenLowercased {
            scalars.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        } else {
            scalars.append(scalar)
        }
    }
    return String(scalars)
}

/// NFD as `tokenizers` computes it. Its tables are older than Foundation's: U+11938 DIVES AKURU
/// VOWEL SIGN O (Unicode 13) has no decomposition there, so it is kept whole.
func canonicalDecomposition(_ text: String) -> String {
    if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
    let undecomposed: Unicode.Scalar = "\u{11938}"
    guard text.unicodeScalars.contains(undecomposed) else { return text.decomposedStringWithCanonicalMapping }
    return text.unicodeScalars.split(separator: undecomposed, omittingEmptySubsequences: false)
        .map { String($0).decomposedStringWithCanonicalMapping }
        .joined(separator: String(undecomposed))
}

/// Unicode normalization forms (`NFC`, `NFD`, `NFKC`, `NFKD`).
struct UnicodeNormalizer: Normalizer {
    enum Form: String { case nfc = "NFC", nfd = "NFD", nfkc = "NFKC", nfkd = "NFKD" }
    let form: Form

    func normalize(_ text: String) -> String {
        switch form {
        case .nfc: text.precomposedStringWithCanonicalMapping
        case .nfd: canonicalDecomposition(text)
        case .nfkc: text.precomposedStringWithCompatibilityMapping
        case .nfkd: text.decomposedStringWithCompatibilityMapping
        }
    }
}

/// `Lowercase`.
struct LowercaseNormalizer: Normalizer {
    func normalize(_ text: String) -> String { lowercased(text) }
}

/// `StripAccents`: removes combining marks (Mn, Mc, Me); usually follows NFD.
struct StripAccentsNormalizer: Normalizer {
    func normalize(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { scalar in
            switch scalar.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark: false
            default: true
            }
        }))
    }
}

/// `Strip`: removes whitespace at the start and/or end.
struct StripNormalizer: Normalizer {
    let left: Bool
    let right: Bool

    func normalize(_ text: String) -> String {
        var scalars = Substring(text).unicodeScalars
        if left { scalars = scalars.drop(while: \.properties.isWhitespace) }
        if right {
            while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        }
        return String(scalars)
    }
}

/// `Prepend`: puts a string in front of any non-empty text.
struct PrependNormalizer: Normalizer {
    let prefix: String

    func normalize(_ text: String) -> String { text.isEmpty ? text : prefix + text }
}

/// `Replace`: replaces a literal string or every match of a regular expression.
struct ReplaceNormalizer: Normalizer {
    enum Pattern {
        case literal(String)
        case regex(RegularExpression)
    }

    let pattern: Pattern
    let content: String

    func normalize(_ text: String) -> String {
        switch pattern {
        case .literal(let literal): text.replacingBytes(literal, with: content)
        case .regex(let regex): regex.replacingMatches(in: text, with: content)
        }
    }
}

/// An `NSRegularExpression`, which is immutable and documented as safe to share between threads.
final class RegularExpression: @unchecked Sendable {
    private let expression: NSRegularExpression

    init(_ pattern: String) throws {
        expression = try NSRegularExpression(pattern: pattern)
    }

    /// Replaces every match with `replacement`, taken literally.
    func replacingMatches(in text: String, with replacement: String) -> String {
        expression.stringByReplacingMatches(
            in: text, range: NSRange(text.startIndex..., in: text),
            withTemplate: NSRegularExpression.escapedTemplate(for: replacement))
    }

    /// The UTF-8 byte ranges of every match in `text`, left to right.
    func matchRanges(in text: String) -> [Range<Int>] {
        expression.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
            guard let found = Range(match.range, in: text) else { return nil }
            let utf8 = text.utf8
            return utf8.distance(from: utf8.startIndex, to: found.lowerBound)..<utf8.distance(from: utf8.startIndex, to: found.upperBound)
        }
    }
}
