import Foundation

/// A pattern a `Split` pre-tokenizer (or ByteLevel's regex) cuts text with. The regexes of
/// GPT-2, Llama-3, Qwen2 and Qwen3.5 are matched by hand, with Unicode property checks, exactly as
/// Oniguruma (which `tokenizers` uses) runs them; any other regex goes to NSRegularExpression.
enum SplitPattern: Sendable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// (Llama-3, `maxDigits` 3); Qwen2 has `\p{N}` (`maxDigits` 1); Qwen3.5 also counts marks (`\p{M}`) as letters.
    case llama3(maxDigits: Int, marksAreLetters: Bool)
    case regex(RegularExpression)
    case literal(String)

    static let gpt2Source = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen35Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The pattern for a regex source: a hand matcher when it is one of the known ones.
    init(regex source: String) throws {
        switch source {
        case Self.gpt2Source: self = .gpt2
        case Self.llama3Source: self = .llama3(maxDigits: 3, marksAreLetters: false)
        case Self.qwen2Source: self = .llama3(maxDigits: 1, marksAreLetters: false)
        case Self.qwen35Source: self = .llama3(maxDigits: 1, marksAreLetters: true)
        default: self = .regex(try RegularExpression(source))
        }
    }

    /// The UTF-8 of `text` and the byte ranges of the pattern's matches in it, left to right.
    func matches(in text: String) -> (utf8: [UInt8], ranges: [Range<Int>]) {
        switch self {
        case .gpt2:
            let scanned = ScannedText(text, marksAreLetters: false)
            return (scanned.utf8, scanned.matches(of: self).map(scanned.byteRange))
        case .llama3(_, let marksAreLetters):
            let scanned = ScannedText(text, marksAreLetters: marksAreLetters)
            return (scanned.utf8, scanned.matches(of: self).map(scanned.byteRange))
        case .regex(let expression):
            return (Array(text.utf8), expression.matchRanges(in: text))
        case .literal(let literal):
            let bytes = Array(text.utf8), target = Array(literal.utf8)
            var ranges: [Range<Int>] = []
            var position = 0
            while !target.isEmpty, position + target.count <= bytes.count {
                if bytes[position..<position + target.count].elementsEqual(target) {
                    ranges.append(position..<position + target.count)
                    position += target.count
                } else {
                    position += 1
                }
            }
            return (bytes, ranges)
        }
    }
}

/// What the hand matchers need to know of a character.
enum CharacterKind: UInt8 {
    /// `\p{L}` (and `\p{M}` where marks count as letters).
    case letter
    /// `\p{N}`.
    case number
    /// `\s`: Unicode White_Space, as Oniguruma's `\s`.
    case space
    case other

    private static let ascii: [CharacterKind] = (0..<128).map { value in
        switch UInt8(value) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): .number
        case 0x09...0x0D, 0x20: .space
        default: .other
        }
    }

    @inline(__always)
    init(_ scalar: Unicode.Scalar, marksAreLetters: Bool) {
        if scalar.value < 0x80 {
            self = Self.ascii[Int(scalar.value)]
            return
        }
        let properties = scalar.properties
        if properties.isWhitespace {
            self = .space
            return
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: self = .letter
        case .decimalNumber, .letterNumber, .otherNumber: self = .number
        case .nonspacingMark, .spacingMark, .enclosingMark: self = marksAreLetters ? .letter : .other
        default: self = .other
        }
    }
}

/// Text decoded once into scalars, their kinds and their UTF-8 offsets, for the hand matchers.
struct ScannedText {
    let utf8: [UInt8]
    private let scalars: [Unicode.Scalar]
    private let kinds: [CharacterKind]
    /// The byte offset of each scalar, plus the total length.
    private let offsets: [Int]

    init(_ text: String, marksAreLetters: Bool) {
        utf8 = Array(text.utf8)
        var scalars: [Unicode.Scalar] = [], kinds: [CharacterKind] = [], offsets: [Int] = []
        scalars.reserveCapacity(utf8.count)
        kinds.reserveCapacity(utf8.count)
        offsets.reserveCapacity(utf8.count + 1)
        var offset = 0
        for scalar in text.unicodeScalars {
            scalars.append(scalar)
            kinds.append(CharacterKind(scalar, marksAreLetters: marksAreLetters))
            offsets.append(offset)
            offset += UTF8.width(scalar)
        }
        offsets.append(offset)
        self.scalars = scalars
        self.kinds = kinds
        self.offsets = offsets
    }

    /// The bytes of a range of scalars.
    func byteRange(_ range: Range<Int>) -> Range<Int> { offsets[range.lowerBound]..<offsets[range.upperBound] }

    /// The scalar ranges of `pattern`'s matches (`.gpt2` or `.llama3`); they cover the whole text.
    func matches(of pattern: SplitPattern) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var position = 0
        while position < scalars.count {
            let end: Int
            switch pattern {
            case .llama3(let maxDigits, _): end = llama3Match(at: position, maxDigits: maxDigits)
            default: end = gpt2Match(at: position)
            }
            ranges.append(position..<end)
            position = end
        }
        return ranges
    }

    private func runEnd(from start: Int, of kind: CharacterKind) -> Int {
        var end = start
        while end < kinds.count && kinds[end] == kind { end += 1 }
        return end
    }

    private func isNewline(_ index: Int) -> Bool { scalars[index] == "\r" || scalars[index] == "\n" }

    /// The end of a contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) starting at `start`, or nil.
    /// Case-insensitively, as `(?i:…)`, `s` also matches `ſ` (its case fold).
    private func contractionEnd(at start: Int, ignoringCase: Bool) -> Int? {
        guard scalars[start] == "'", start + 1 < scalars.count else { return nil }
        func letter(_ offset: Int) -> Unicode.Scalar? {
            guard start + offset < scalars.count else { return nil }
            let scalar = scalars[start + offset]
            guard ignoringCase else { return scalar }
            if scalar == "ſ" { return "s" }
            return ("A"..."Z").contains(scalar) ? Unicode.Scalar(scalar.value + 0x20)! : scalar
        }
        switch letter(1) {
        case "s", "t", "m", "d": return start + 2
        case "r", "v": return letter(2) == "e" ? start + 3 : nil
        case "l": return letter(2) == "l" ? start + 3 : nil
        default: return nil
        }
    }

    /// `\s+(?!\S)|\s+` at a whitespace character: the run, less its last character when a
    /// non-space follows and the run is longer than one.
    private func whitespaceMatch(at start: Int) -> Int {
        let end = runEnd(from: start, of: .space)
        return end == scalars.count || end - start == 1 ? end : end - 1
    }

    private func gpt2Match(at start: Int) -> Int {
        if let end = contractionEnd(at: start, ignoringCase: false) { return end }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one kind.
        var runStart = start
        if scalars[start] == " ", start + 1 < scalars.count, kinds[start + 1] != .space { runStart = start + 1 }
        if kinds[runStart] != .space { return runEnd(from: runStart, of: kinds[runStart]) }
        return whitespaceMatch(at: start)
    }

    private func llama3Match(at start: Int, maxDigits: Int) -> Int {
        if let end = contractionEnd(at: start, ignoringCase: true) { return end }
        let kind = kinds[start]
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if kind == .letter { return runEnd(from: start, of: .letter) }
        if kind != .number, !isNewline(start), start + 1 < scalars.count, kinds[start + 1] == .letter {
            return runEnd(from: start + 1, of: .letter)
        }
        // `\p{N}{1,maxDigits}`
        if kind == .number { return min(runEnd(from: start, of: .number), start + maxDigits) }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var runStart = start
        if scalars[start] == " ", start + 1 < scalars.count, kinds[start + 1] == .other { runStart = start + 1 }
        if kinds[runStart] == .other {
            var end = runEnd(from: runStart, of: .other)
            while end < scalars.count && isNewline(end) { end += 1 }
            return end
        }
        // `\s*[\r\n]+`: whitespace through its last line break.
        let spaceEnd = runEnd(from: start, of: .space)
        if let lastBreak = (start..<spaceEnd).last(where: isNewline) { return lastBreak + 1 }
        return whitespaceMatch(at: start)
    }
}

/// `Split`: cuts each piece at the pattern's matches (or, with `invert`, keeps the matches as the
/// words and cuts at what lies between), then treats the delimiters per `behavior`.
struct SplitPreTokenizer: PreTokenizer {
    let pattern: SplitPattern
    let behavior: SplitBehavior
    var invert = false

    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        pieces.flatMap { piece -> [PreToken] in
            let (utf8, matches) = pattern.matches(in: piece.text)
            var parts: [(range: Range<Int>, isDelimiter: Bool)] = []
            var position = 0
            for match in matches where !match.isEmpty {
                if position < match.lowerBound { parts.append((position..<match.lowerBound, invert)) }
                parts.append((match, !invert))
                position = match.upperBound
            }
            if position < utf8.count { parts.append((position..<utf8.count, invert)) }
            return splitting(piece, utf8: utf8, parts: parts, behavior: behavior)
        }
    }
}

/// `Digits`: splits off numeric characters (Rust's `char::is_numeric`: Nd, Nl, No), each on its
/// own with `individual_digits`, else in runs.
struct DigitsPreTokenizer: PreTokenizer {
    var individualDigits = false

    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        pieces.flatMap { piece in
            splitting(piece, behavior: individualDigits ? .isolated : .contiguous) { scalar in
                switch scalar.properties.generalCategory {
                case .decimalNumber, .letterNumber, .otherNumber: true
                default: false
                }
            }
        }
    }
}
