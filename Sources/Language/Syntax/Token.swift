/// The smallest pieces of Finch source: what the lexer hands the parser.

/// One token with the source it was read from.
public struct Token: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A number literal; `value` already applies the suffix (`80%` → 0.8), `text` is the spelling.
        case number(value: Double, suffix: NumberSuffix, text: String)
        /// A string literal's content, escapes already resolved.
        case string(String)
        /// A bare word: `lora`, `all-linear`, `A100-40GB`, `x-1`.
        case word(String)
        /// `true` or `false`.
        case bool(Bool)
        /// Punctuation or an operator.
        case symbol(Symbol)
        /// The line break that ends a statement (never emitted inside brackets or after a trailing `\`).
        case endOfLine
        /// The end of the source; always the last token.
        case endOfInput
    }

    public var kind: Kind
    /// Where the token was read, from its first character to just past its last.
    public var range: SourceRange

    public init(_ kind: Kind, range: SourceRange) {
        self.kind = kind
        self.range = range
    }

    /// How diagnostics name this token: `'lr'`, `'['`, `a string`, `end of line`.
    public var quoted: String {
        switch kind {
        case .number(_, _, let text): "'\(text)'"
        case .string: "a string"
        case .word(let word): "'\(word)'"
        case .bool(let value): "'\(value)'"
        case .symbol(let symbol): "'\(symbol.rawValue)'"
        case .endOfLine: "end of line"
        case .endOfInput: "end of input"
        }
    }

    /// True for the tokens that end a statement.
    public var endsStatement: Bool {
        kind == .endOfLine || kind == .endOfInput
    }

    /// The word's text when this token is a bare word.
    public var word: String? {
        if case .word(let word) = kind { word } else { nil }
    }

    /// The symbol when this token is one.
    public var symbol: Symbol? {
        if case .symbol(let symbol) = kind { symbol } else { nil }
    }
}

extension Token {
    /// A punctuation or operator token.
    public enum Symbol: String, Sendable, Equatable {
        case equals = "="
        case openBracket = "["
        case closeBracket = "]"
        case openParenthesis = "("
        case closeParenthesis = ")"
        case comma = ","
        case plus = "+"
        case minus = "-"
        case star = "*"
        case slash = "/"
        case power = "**"
        case question = "?"

        /// The operators that join two operands: `+ - * / **`.
        public var isBinaryOperator: Bool {
            switch self {
            case .plus, .minus, .star, .slash, .power: true
            default: false
            }
        }
    }
}
