/// The syntax tree of a Finch cell. Every node carries the source range it came from, so diagnostics can
/// point at it (line:column, caret under the token).

/// A position in a cell or file: 1-based line, 1-based column counted in Characters of that line.
public struct SourceLocation: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
    public static func < (a: Self, b: Self) -> Bool { (a.line, a.column) < (b.line, b.column) }
    public var description: String { "\(line):\(column)" }
}

/// A half-open range of source: `start` is the first character, `end` the one after the last.
public struct SourceRange: Sendable, Equatable {
    public var start: SourceLocation
    public var end: SourceLocation
    public init(start: SourceLocation, end: SourceLocation) {
        self.start = start
        self.end = end
    }
    /// The range spanning both.
    public func union(_ other: SourceRange) -> SourceRange {
        SourceRange(start: min(start, other.start), end: max(end, other.end))
    }
}

/// A number's spelling decides how it may be used: `7B` is a count, `80%` a fraction.
public enum NumberSuffix: String, Sendable, Equatable {
    case none = ""
    case percent = "%"
    case thousand = "k"
    case million = "M"
    case billion = "B"
    case trillion = "T"
}

public indirect enum Expression: Sendable, Equatable {
    /// A number literal; `value` already applies the suffix (`80%` → 0.8, `7B` → 7e9).
    case number(value: Double, suffix: NumberSuffix, text: String, range: SourceRange)
    case string(String, range: SourceRange)
    case bool(Bool, range: SourceRange)
    /// A bare word: a variable's name, or an enum value such as `cosine` or `all-linear`.
    case word(String, range: SourceRange)
    case list([Expression], range: SourceRange)
    /// `-x` (and `+x`).
    case unary(op: String, operand: Expression, range: SourceRange)
    /// `+ - * / **` on numbers (`+` also joins strings and lists).
    case binary(op: String, left: Expression, right: Expression, range: SourceRange)

    public var range: SourceRange {
        switch self {
        case .number(_, _, _, let range), .string(_, let range), .bool(_, let range), .word(_, let range),
             .list(_, let range), .unary(_, _, let range), .binary(_, _, _, let range):
            range
        }
    }
}

/// `key=value` after a command's positional arguments.
public struct OptionArgument: Sendable, Equatable {
    public var key: String
    public var keyRange: SourceRange
    public var value: Expression
    public init(key: String, keyRange: SourceRange, value: Expression) {
        self.key = key
        self.keyRange = keyRange
        self.value = value
    }
}

/// A command statement: its words as written (`data load`, `train resume`, `save adapter`: the parser
/// does not know the table, so `words` holds every leading bare word), then positional expressions and
/// options. The evaluator matches the longest known command from `words` and treats the rest as positionals.
public struct CommandStatement: Sendable, Equatable {
    /// Leading bare words, each with its range.
    public var words: [(String, SourceRange)]
    public var positionals: [Expression]
    public var options: [OptionArgument]
    public var range: SourceRange

    public init(words: [(String, SourceRange)], positionals: [Expression], options: [OptionArgument], range: SourceRange) {
        self.words = words
        self.positionals = positionals
        self.options = options
        self.range = range
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.words.map(\.0) == b.words.map(\.0) && a.words.map(\.1) == b.words.map(\.1)
            && a.positionals == b.positionals && a.options == b.options && a.range == b.range
    }
}

public enum Statement: Sendable, Equatable {
    /// `name = expression`
    case assignment(name: String, nameRange: SourceRange, value: Expression, range: SourceRange)
    /// A statement starting with a bare word that is not an assignment and not a lone expression.
    case command(CommandStatement)
    /// An expression on its own (`6*7`, `x`, `"text"`, `[1, 2]`); a cell's last one is its result.
    case expression(Expression)
    /// `word?` or `?word`: help for a command in the pager.
    case helpQuery(topic: [String], range: SourceRange)

    public var range: SourceRange {
        switch self {
        case .assignment(_, _, _, let range), .helpQuery(_, let range): range
        case .command(let command): command.range
        case .expression(let expression): expression.range
        }
    }
}
