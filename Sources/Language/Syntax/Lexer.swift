/// Turns Finch source into tokens.
///
/// Lexical rules:
/// - One statement per line; `#` starts a comment that runs to the end of the line (not inside strings).
///   A line whose last character (before spaces) is `\` continues on the next line, and so does a line
///   with an open `[` or `(`: no `endOfLine` token is emitted there. Line breaks are `\n` and `\r\n`.
/// - Numbers: `16`, `2e-4`, `0.05`, `.5`, `1_000`, with at most one suffix right after the digits:
///   `%` (value / 100), `k` (1e3), `M` (1e6), `B` (1e9), `T` (1e12). Any other letter right after a number
///   (`16x`, `3GB`) is an error.
/// - Strings: `"..."` on one line, or `"""..."""` over several. Both resolve the escapes `\"`, `\\`, `\n`,
///   `\t`, `\r` and `\u{XXXX}`; everything else is kept exactly. In a multi-line string a line break right
///   after the opening `"""` and one right before the closing `"""` are dropped (as in Swift, but without
///   any indentation stripping), and a `\` at the end of a line joins it with the next.
/// - Bare words start with a letter or `_` and go on with letters, digits and `_`; a `-` with a letter or
///   digit right after it joins two parts into one word (`all-linear`, `A100-40GB`, `x-1`: subtraction
///   needs spaces, `x - 1`). `true` and `false` are booleans.
/// - Symbols: `= [ ] ( ) , + - * / ** ?`. Any other character is an error.
public enum Lexer {
    /// The tokens of `text`, ending with `endOfInput`.
    ///
    /// Throws for characters and literals that cannot be read, and when the text stops inside a
    /// multi-line string or right after a line-continuing `\`. Unclosed brackets are the parser's to report.
    public static func tokenize(_ text: String) throws(Diagnostic) -> [Token] {
        let scanned = try scan(text)
        if let unfinished = scanned.unfinished { throw unfinished.diagnostic }
        return scanned.tokens
    }

    /// The tokens of `text` and what, if anything, the text stopped in the middle of.
    static func scan(_ text: String) throws(Diagnostic) -> ScannedSource {
        var scanner = Scanner(text)
        try scanner.run()
        return ScannedSource(tokens: scanner.tokens, unfinished: scanner.unfinished, openBrackets: scanner.bracketDepth)
    }
}

/// Something more lines of input would finish.
enum UnfinishedConstruct: Equatable {
    /// The text ends inside a `"""` string opened at `opening`.
    case multiLineString(opening: SourceRange)
    /// The text ends right after a line-continuing `\`.
    case continuation(backslash: SourceRange)

    var diagnostic: Diagnostic {
        switch self {
        case .multiLineString(let opening):
            Diagnostic("unterminated multi-line string", at: opening, notes: ["a multi-line string ends with \"\"\""])
        case .continuation(let backslash):
            Diagnostic("expected a line after '\\' but found end of input", at: backslash,
                       notes: ["a '\\' at the end of a line continues the statement on the next line"])
        }
    }
}

/// What the lexer read: tokens (ending with `endOfInput`), and where the text stopped.
struct ScannedSource {
    var tokens: [Token]
    var unfinished: UnfinishedConstruct?
    /// `[` and `(` still open at the end of the text.
    var openBrackets: Int
}

/// The lexer's state while it walks the characters of one text.
private struct Scanner {
    let characters: [Character]
    var index = 0
    var line = 1
    var column = 1
    var tokens: [Token] = []
    var bracketDepth = 0
    var unfinished: UnfinishedConstruct?

    init(_ text: String) {
        characters = Array(text)
    }

    var location: SourceLocation { SourceLocation(line: line, column: column) }
    var current: Character? { index < characters.count ? characters[index] : nil }

    func peek(_ offset: Int) -> Character? {
        index + offset < characters.count ? characters[index + offset] : nil
    }

    /// Moves past the current character, keeping line and column up to date.
    mutating func advance() {
        if characters[index].isLineBreak {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    mutating func advance(by count: Int) {
        for _ in 0..<count { advance() }
    }

    mutating func emit(_ kind: Token.Kind, from start: SourceLocation) {
        tokens.append(Token(kind, range: SourceRange(start: start, end: location)))
    }

    mutating func run() throws(Diagnostic) {
        while unfinished == nil, let character = current {
            let start = location
            if character.isLineBreak {
                advance()
                if bracketDepth == 0, let last = tokens.last, last.kind != .endOfLine {
                    tokens.append(Token(.endOfLine, range: SourceRange(start: start, end: SourceLocation(line: start.line, column: start.column + 1))))
                }
            } else if character.isWhitespace || (character == "\u{FEFF}" && index == 0) {
                advance()  // blanks, and a byte-order mark that some editors put at the start of a file
            } else if character == "#" {
                while let next = current, !next.isLineBreak { advance() }
            } else if character == "\\" {
                try scanContinuation()
            } else if character == "\"" {
                try scanString()
            } else if character.isDecimalDigit || (character == "." && peek(1)?.isDecimalDigit == true) {
                try scanNumber()
            } else if character.isWordStart {
                scanWord()
            } else {
                try scanSymbol(character)
            }
        }
        emit(.endOfInput, from: location)
    }

    // MARK: Line continuation

    /// A `\` that is the last character of its line (spaces after it allowed) joins the next line.
    mutating func scanContinuation() throws(Diagnostic) {
        let backslash = SourceRange(start: location, end: SourceLocation(line: line, column: column + 1))
        var lookahead = 1
        while let next = peek(lookahead), next.isWhitespace, !next.isLineBreak { lookahead += 1 }
        guard let after = peek(lookahead) else {
            advance(by: lookahead)
            unfinished = .continuation(backslash: backslash)
            return
        }
        guard after.isLineBreak else {
            throw Diagnostic("unexpected character '\\'", at: backslash,
                             notes: ["a '\\' continues a statement only as the last character of its line"])
        }
        advance(by: lookahead + 1)
    }

    // MARK: Numbers

    mutating func scanNumber() throws(Diagnostic) {
        let start = location, startIndex = index
        var mantissa = ""
        scanDigits(into: &mantissa)
        if current == ".", peek(1)?.isDecimalDigit == true {
            mantissa.append(".")
            advance()
            scanDigits(into: &mantissa)
        }
        var exponent = 0
        if let e = current, e == "e" || e == "E" {
            let signed = peek(1) == "-" || peek(1) == "+"
            if peek(signed ? 2 : 1)?.isDecimalDigit == true {
                let negative = peek(1) == "-"
                advance(by: signed ? 2 : 1)
                var digits = ""
                while let digit = current, digit.isDecimalDigit {
                    digits.append(digit)
                    advance()
                }
                // Past six digits the value is 0 or infinite whatever the mantissa; clamp to stay in Int.
                let magnitude = digits.count > 6 ? 999_999 : Int(digits) ?? 0
                exponent = negative ? -magnitude : magnitude
            }
        }
        let numericEnd = index
        var suffix = NumberSuffix.none
        if let character = current, let parsed = NumberSuffix(rawValue: String(character)) {
            suffix = parsed
            advance()
        }
        if let next = current, next.isWordContinuation {
            while let next = current, next.isWordContinuation || next == "%" { advance() }
            throw badSuffix(text: String(characters[startIndex..<index]), suffix: String(characters[numericEnd..<index]), from: start)
        }
        let text = String(characters[startIndex..<index])
        let value = Double("\(mantissa)e\(exponent + suffix.powerOfTen)") ?? .nan
        guard value.isFinite else {
            throw Diagnostic("number '\(text)' is too large", at: SourceRange(start: start, end: location))
        }
        emit(.number(value: value, suffix: suffix, text: text), from: start)
    }

    /// Digits and `_` separators; the separators are left out of `digits`.
    mutating func scanDigits(into digits: inout String) {
        while let character = current, character.isDecimalDigit || character == "_" {
            if character != "_" { digits.append(character) }
            advance()
        }
    }

    func badSuffix(text: String, suffix: String, from start: SourceLocation) -> Diagnostic {
        var notes = ["a number may end with % or with one of the size suffixes k, M, B, T (thousand, million, billion, trillion)"]
        let flipped = suffix == suffix.lowercased() ? suffix.uppercased() : suffix.lowercased()
        if let fixed = NumberSuffix(rawValue: flipped), fixed != .none {
            notes.append("did you mean '\(text.dropLast(suffix.count))\(fixed.rawValue)'?")
        }
        return Diagnostic("unknown number suffix '\(suffix)' in '\(text)'", at: SourceRange(start: start, end: location), notes: notes)
    }

    // MARK: Words

    mutating func scanWord() {
        let start = location
        var word = ""
        while true {
            while let character = current, character.isWordContinuation {
                word.append(character)
                advance()
            }
            guard current == "-", let next = peek(1), next.isLetter || next.isNumber else { break }
            word.append("-")
            advance()
        }
        switch word {
        case "true": emit(.bool(true), from: start)
        case "false": emit(.bool(false), from: start)
        default: emit(.word(word), from: start)
        }
    }

    // MARK: Symbols

    mutating func scanSymbol(_ character: Character) throws(Diagnostic) {
        let start = location
        guard let symbol = Token.Symbol(rawValue: String(character)) else {
            throw unexpectedCharacter(character)
        }
        advance()
        if symbol == .star, current == "*" {
            advance()
            emit(.symbol(.power), from: start)
            return
        }
        switch symbol {
        case .openBracket, .openParenthesis: bracketDepth += 1
        case .closeBracket, .closeParenthesis: bracketDepth = max(0, bracketDepth - 1)
        default: break
        }
        emit(.symbol(symbol), from: start)
    }

    func unexpectedCharacter(_ character: Character) -> Diagnostic {
        let range = SourceRange(start: location, end: SourceLocation(line: line, column: column + 1))
        let shown = character.isVisible
            ? "'\(character)'"
            : character.unicodeScalars.map { "U+" + String($0.value, radix: 16, uppercase: true).leftPadded(to: 4) }.joined(separator: " ")
        var notes: [String] = []
        if "'‘’“”«»".contains(character) {
            notes.append("strings are written between straight double quotes: \"...\"")
        } else if character == ";" {
            notes.append("write one statement per line")
        }
        return Diagnostic("unexpected character \(shown)", at: range, notes: notes)
    }
}

// MARK: Strings

extension Scanner {
    mutating func scanString() throws(Diagnostic) {
        if peek(1) == "\"", peek(2) == "\"" {
            try scanMultiLineString()
            return
        }
        let start = location
        let opening = SourceRange(start: start, end: SourceLocation(line: line, column: column + 1))
        advance()
        var content = ""
        while true {
            guard let character = current, !character.isLineBreak else {
                throw Diagnostic("unterminated string", at: opening,
                                 notes: ["a string ends with \" on the same line; use \"\"\" for text over several lines"])
            }
            if character == "\"" {
                advance()
                emit(.string(content), from: start)
                return
            }
            if character == "\\", let next = peek(1), !next.isLineBreak {
                content += try scanEscape()
            } else if character == "\\" {
                advance()  // a backslash before the line's end: the loop then reports the unterminated string
            } else {
                content.append(character)
                advance()
            }
        }
    }

    mutating func scanMultiLineString() throws(Diagnostic) {
        let start = location
        advance(by: 3)
        let opening = SourceRange(start: start, end: location)
        if current?.isLineBreak == true { advance() }
        var content = ""
        var endsWithLiteralLineBreak = false
        while let character = current {
            if character == "\"", peek(1) == "\"", peek(2) == "\"" {
                advance(by: 3)
                if endsWithLiteralLineBreak { content.removeLast() }
                emit(.string(content), from: start)
                return
            }
            if character == "\\", let next = peek(1) {
                if next.isLineBreak {
                    advance(by: 2)
                } else {
                    content += try scanEscape()
                }
                endsWithLiteralLineBreak = false
            } else if character == "\\" {
                break  // a backslash as the text's last character: the string is still open
            } else {
                content.append(character)
                endsWithLiteralLineBreak = character.isLineBreak
                advance()
            }
        }
        while current != nil { advance() }
        unfinished = .multiLineString(opening: opening)
    }

    /// Reads the escape at a `\` (the character after it is known to exist and not be a line break).
    mutating func scanEscape() throws(Diagnostic) -> String {
        let start = location
        advance()
        let letter = characters[index]
        advance()
        switch letter {
        case "\"": return "\""
        case "\\": return "\\"
        case "n": return "\n"
        case "t": return "\t"
        case "r": return "\r"
        case "u": return try scanUnicodeEscape(from: start)
        default:
            throw Diagnostic("unknown escape '\\\(letter)' in a string", at: SourceRange(start: start, end: location),
                             notes: ["the escapes are \\\" \\\\ \\n \\t \\r and \\u{XXXX}; write \\\\ for a backslash"])
        }
    }

    /// `\u{XXXX}`: 1 to 8 hexadecimal digits naming a Unicode scalar; `start` is the `\`.
    mutating func scanUnicodeEscape(from start: SourceLocation) throws(Diagnostic) -> String {
        var digits = ""
        if current == "{" {
            advance()
            while let character = current, character.isASCIIHexDigit, digits.count < 8 {
                digits.append(character)
                advance()
            }
        }
        guard !digits.isEmpty, current == "}" else {
            throw Diagnostic("invalid unicode escape in a string", at: SourceRange(start: start, end: location),
                             notes: ["write \\u{XXXX} with 1 to 8 hexadecimal digits, such as \\u{0995}"])
        }
        advance()
        guard let value = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(value) else {
            throw Diagnostic("'\\u{\(digits)}' is not a unicode scalar value", at: SourceRange(start: start, end: location))
        }
        return String(scalar)
    }
}

// MARK: Character classes

private extension Character {
    /// `\n` and `\r\n` (one Character in Swift).
    var isLineBreak: Bool { self == "\n" || self == "\r\n" }
    var isDecimalDigit: Bool { asciiValue.map { (0x30...0x39).contains($0) } ?? false }
    var isASCIIHexDigit: Bool { isASCII && isHexDigit }
    var isWordStart: Bool { isLetter || self == "_" }
    var isWordContinuation: Bool { isLetter || isNumber || self == "_" }

    /// False for characters that print as nothing or as blank: controls, format characters, separators,
    /// unassigned and private-use code points.
    var isVisible: Bool {
        unicodeScalars.allSatisfy { scalar in
            switch scalar.properties.generalCategory {
            case .control, .format, .unassigned, .privateUse, .surrogate, .spaceSeparator, .lineSeparator, .paragraphSeparator: false
            default: true
            }
        }
    }
}

private extension NumberSuffix {
    /// The power of ten the suffix multiplies by.
    var powerOfTen: Int {
        switch self {
        case .none: 0
        case .percent: -2
        case .thousand: 3
        case .million: 6
        case .billion: 9
        case .trillion: 12
        }
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
