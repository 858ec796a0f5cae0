/// Parses a cell (or a whole script) into statements.
///
/// Statement forms, one per line:
/// - `name = expression`: an assignment, when the line starts with a word followed by `=`.
/// - `word?`, `data load?`, `?word`: a help query (a lone `?` asks for help on everything: empty topic).
/// - A line starting with a word followed by a binary operator (`x * 2`), or starting with a number,
///   string, boolean, list, `(`, `-` or `+`: an expression.
/// - Any other line starting with a word: a command. Its leading bare words go in `words` (up to the first
///   other token or `key=`), then come positional expressions, then `key=value` options. When the words
///   run into an operator (`print x * 2`) the last word starts the first positional instead.
///
/// Expressions, loosest first: `+ -`, then `* /`, then unary `-`/`+`, then `**` (right-associative and
/// tighter than unary minus, so `-2**2` is -4), then literals, words, `[lists]` and `(parentheses)`.
public enum Parser {
    /// The statements of `source`, or the first syntax error in it.
    public static func parse(_ source: SourceText) throws(Diagnostic) -> [Statement] {
        let scanned = try Lexer.scan(source.text)
        var parser = TokenParser(tokens: scanned.tokens, lineOffset: source.lineOffset)
        let statements: [Statement]
        do {
            statements = try parser.parseStatements()
        } catch {
            // Running out of tokens is better explained by what the text stopped in the middle of.
            if parser.failedAtEndOfInput, let unfinished = scanned.unfinished { throw unfinished.diagnostic }
            throw error
        }
        if let unfinished = scanned.unfinished { throw unfinished.diagnostic }
        return statements
    }
}

/// The parser's state over the tokens of one text.
struct TokenParser {
    /// Parentheses and lists nested deeper than this are an error rather than a risk to the stack.
    static let maximumNesting = 100

    let tokens: [Token]
    /// Added to line numbers quoted in messages ("the list opened at 3:9"), as `Diagnostic` does.
    let lineOffset: Int
    var position = 0
    /// Signs, powers, lists and parentheses being parsed, one inside the other.
    var nesting = 0
    /// Lists and parentheses being parsed: inside them the input may go on over several lines.
    var openBrackets = 0
    /// Set when the error thrown was about running into the end of the input: more text could fix it.
    private(set) var failedAtEndOfInput = false

    init(tokens: [Token], lineOffset: Int) {
        self.tokens = tokens
        self.lineOffset = lineOffset
    }

    var current: Token { tokens[position] }

    func peek(_ offset: Int = 1) -> Token {
        tokens[min(position + offset, tokens.count - 1)]
    }

    /// The last token consumed.
    var previous: Token { tokens[max(0, position - 1)] }

    @discardableResult
    mutating func advance() -> Token {
        let token = current
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    mutating func parseStatements() throws(Diagnostic) -> [Statement] {
        var statements: [Statement] = []
        while true {
            while current.kind == .endOfLine { advance() }
            if current.kind == .endOfInput { return statements }
            statements.append(try parseStatement())
            if !current.endsStatement {
                throw current.isClosingBracket ? unexpected(current) : failure("expected end of line but found \(describe(current))", at: current)
            }
        }
    }

    mutating func parseStatement() throws(Diagnostic) -> Statement {
        if current.symbol == .question { return try parseHelpQuery() }
        guard let name = current.word else {
            guard current.startsExpression else { throw unexpected(current) }
            return .expression(try parseExpression(after: ""))
        }
        if peek().symbol == .equals {
            let nameToken = advance()
            advance()
            let value = try parseExpression(after: "\(name) =")
            return .assignment(name: name, nameRange: nameToken.range, value: value, range: nameToken.range.union(value.range))
        }
        // `x * 2` is an expression; `print -1`, `seed -1` stay commands (command names are never variables).
        if peek().symbol?.isBinaryOperator == true, !CommandTable.firstWords.contains(name) {
            return .expression(try parseExpression(after: ""))
        }
        if let helpQuery = parseHelpSuffix() { return helpQuery }
        return .command(try parseCommand())
    }

    // MARK: Help

    /// `?`, `?lora`, `? data load`.
    mutating func parseHelpQuery() throws(Diagnostic) -> Statement {
        let question = advance()
        var topic: [String] = []
        while let word = current.word {
            topic.append(word)
            advance()
        }
        guard current.endsStatement else {
            throw failure("expected a command name after '?' but found \(describe(current))", at: current)
        }
        return .helpQuery(topic: topic, range: question.range.union(previous.range))
    }

    /// `lora?`, `data load?`: words, then `?`, then the end of the statement; nil (and nothing consumed)
    /// when the line is something else.
    mutating func parseHelpSuffix() -> Statement? {
        var offset = 0
        while peek(offset).word != nil { offset += 1 }
        guard peek(offset).symbol == .question, peek(offset + 1).endsStatement else { return nil }
        let topic = (0..<offset).compactMap { peek($0).word }
        let range = current.range.union(peek(offset).range)
        position += offset + 1
        return .helpQuery(topic: topic, range: range)
    }

    // MARK: Commands

    mutating func parseCommand() throws(Diagnostic) -> CommandStatement {
        let first = current
        var words: [(String, SourceRange)] = []
        while let word = current.word, peek().symbol != .equals {
            words.append((word, current.range))
            advance()
        }
        if words.count > 1, current.symbol?.isBinaryOperator == true {
            words.removeLast()
            position -= 1
        }
        var positionals: [Expression] = []
        var options: [OptionArgument] = []
        while !current.endsStatement {
            if let key = current.word, peek().symbol == .equals {
                let keyToken = advance()
                advance()
                if let next = current.word, peek().symbol == .equals {
                    throw failure("expected a value after '\(key)=' but found '\(next)='", at: current)
                }
                options.append(OptionArgument(key: key, keyRange: keyToken.range, value: try parseExpression(after: "\(key)=")))
            } else if current.startsExpression {
                let positional = try parseExpression(after: "")
                guard options.isEmpty else {
                    throw Diagnostic("positional argument after options", at: positional.range,
                                     notes: ["options (key=value) come after the positional arguments"])
                }
                positionals.append(positional)
            } else {
                throw unexpectedInCommand(current)
            }
        }
        return CommandStatement(words: words, positionals: positionals, options: options, range: first.range.union(previous.range))
    }

    func unexpectedInCommand(_ token: Token) -> Diagnostic {
        switch token.symbol {
        case .question:
            Diagnostic("unexpected '?'", at: token.range, notes: ["'?' right after a command's words asks for its help, as in 'lora?'"])
        case .comma:
            Diagnostic("unexpected ','", at: token.range, notes: ["arguments are separated by spaces; commas separate the elements of a [list]"])
        default:
            unexpected(token)
        }
    }

    // MARK: Expressions

    /// An expression; `context` is what came before it, quoted when the value is missing
    /// ("expected a value after 'lr=' but found end of line"), or "" when the caller checked that one starts.
    mutating func parseExpression(after context: String) throws(Diagnostic) -> Expression {
        try parseLeftAssociative([.plus, .minus], after: context) { (parser: inout Self, context) throws(Diagnostic) in
            try parser.parseTerm(after: context)
        }
    }

    /// `a * b`, `a / b`.
    mutating func parseTerm(after context: String) throws(Diagnostic) -> Expression {
        try parseLeftAssociative([.star, .slash], after: context) { (parser: inout Self, context) throws(Diagnostic) in
            try parser.parseUnary(after: context)
        }
    }

    /// `operand (op operand)*` for the operators `symbols`, grouped from the left.
    private mutating func parseLeftAssociative(
        _ symbols: [Token.Symbol], after context: String,
        operand: (inout Self, String) throws(Diagnostic) -> Expression
    ) throws(Diagnostic) -> Expression {
        var left = try operand(&self, context)
        while let symbol = current.symbol, symbols.contains(symbol) {
            advance()
            let right = try operand(&self, symbol.rawValue)
            left = .binary(op: symbol.rawValue, left: left, right: right, range: left.range.union(right.range))
        }
        return left
    }

    /// `-x`, `+x`.
    mutating func parseUnary(after context: String) throws(Diagnostic) -> Expression {
        guard let symbol = current.symbol, symbol == .minus || symbol == .plus else { return try parsePower(after: context) }
        let operatorToken = advance()
        try enterNesting(at: operatorToken)
        defer { nesting -= 1 }
        let operand = try parseUnary(after: symbol.rawValue)
        return .unary(op: symbol.rawValue, operand: operand, range: operatorToken.range.union(operand.range))
    }

    /// `a ** b`, right-associative; the exponent may carry a sign (`2 ** -1`).
    mutating func parsePower(after context: String) throws(Diagnostic) -> Expression {
        let base = try parsePrimary(after: context)
        guard current.symbol == .power else { return base }
        try enterNesting(at: advance())
        defer { nesting -= 1 }
        let exponent = try parseUnary(after: "**")
        return .binary(op: "**", left: base, right: exponent, range: base.range.union(exponent.range))
    }

    mutating func parsePrimary(after context: String) throws(Diagnostic) -> Expression {
        let token = current
        switch token.kind {
        case .number(let value, let suffix, let text):
            advance()
            return .number(value: value, suffix: suffix, text: text, range: token.range)
        case .string(let text):
            advance()
            return .string(text, range: token.range)
        case .bool(let value):
            advance()
            return .bool(value, range: token.range)
        case .word(let word):
            advance()
            return .word(word, range: token.range)
        case .symbol(.openBracket):
            return try parseList()
        case .symbol(.openParenthesis):
            return try parseParenthesized()
        default:
            throw failure("expected a value after '\(context)' but found \(describe(token))", at: token)
        }
    }

    /// `[a, b, c]`, a trailing comma allowed; the lexer lets it span lines.
    mutating func parseList() throws(Diagnostic) -> Expression {
        let open = advance()
        try enterNesting(at: open)
        openBrackets += 1
        defer {
            nesting -= 1
            openBrackets -= 1
        }
        var elements: [Expression] = []
        while current.symbol != .closeBracket {
            if current.startsExpression {
                elements.append(try parseExpression(after: ""))
            } else if current.symbol == .comma {
                throw failure("expected a value after '\(previous.symbol == .comma ? "," : "[")' but found ','", at: current)
            } else {
                throw unclosed("']' to close the list", openedBy: open)
            }
            if current.symbol == .comma {
                advance()
            } else if current.symbol != .closeBracket {
                throw current.startsExpression
                    ? failure("expected ',' between list elements but found \(describe(current))", at: current)
                    : unclosed("']' to close the list", openedBy: open)
            }
        }
        let close = advance()
        return .list(elements, range: open.range.union(close.range))
    }

    /// `(expression)`; the result's range takes in the parentheses.
    mutating func parseParenthesized() throws(Diagnostic) -> Expression {
        let open = advance()
        try enterNesting(at: open)
        openBrackets += 1
        defer {
            nesting -= 1
            openBrackets -= 1
        }
        let inner = try parseExpression(after: "(")
        guard current.symbol == .closeParenthesis else { throw unclosed("')' to close the '('", openedBy: open) }
        let close = advance()
        return inner.withRange(open.range.union(close.range))
    }

    mutating func enterNesting(at token: Token) throws(Diagnostic) {
        nesting += 1
        if nesting > Self.maximumNesting {
            throw Diagnostic("expression nested too deeply", at: token.range,
                             notes: ["at most \(Self.maximumNesting) levels of parentheses, lists, signs and powers"])
        }
    }

    // MARK: Diagnostics

    /// How a message names `token`; running out of input outside brackets reads as the end of the line.
    func describe(_ token: Token) -> String {
        token.kind == .endOfInput && openBrackets == 0 ? "end of line" : token.quoted
    }

    /// An error about finding `token`. At the end of a statement the caret goes right after the last token.
    mutating func failure(_ message: String, at token: Token) -> Diagnostic {
        failedAtEndOfInput = token.kind == .endOfInput
        let range = token.endsStatement && position > 0 ? SourceRange(start: previous.range.end, end: previous.range.end) : token.range
        return Diagnostic(message, at: range)
    }

    mutating func unclosed(_ expectation: String, openedBy open: Token) -> Diagnostic {
        let start = open.range.start
        return failure("expected \(expectation) opened at \(start.line + lineOffset):\(start.column) but found \(describe(current))", at: current)
    }

    func unexpected(_ token: Token) -> Diagnostic {
        let note: [String] = switch token.symbol {
        case .closeBracket: ["no list is open here"]
        case .closeParenthesis: ["no '(' is open here"]
        default: []
        }
        return Diagnostic("unexpected \(token.quoted)", at: token.range, notes: note)
    }
}

private extension Token {
    /// Numbers, strings, booleans, words, `[`, `(`, and the signs `-` and `+`.
    var startsExpression: Bool {
        switch kind {
        case .number, .string, .bool, .word: true
        case .symbol(let symbol): [.openBracket, .openParenthesis, .minus, .plus].contains(symbol)
        case .endOfLine, .endOfInput: false
        }
    }

    var isClosingBracket: Bool { symbol == .closeBracket || symbol == .closeParenthesis }
}

private extension Expression {
    /// The same expression with another range (a parenthesized expression covers its parentheses).
    func withRange(_ range: SourceRange) -> Expression {
        switch self {
        case .number(let value, let suffix, let text, _): .number(value: value, suffix: suffix, text: text, range: range)
        case .string(let text, _): .string(text, range: range)
        case .bool(let value, _): .bool(value, range: range)
        case .word(let word, _): .word(word, range: range)
        case .list(let elements, _): .list(elements, range: range)
        case .unary(let op, let operand, _): .unary(op: op, operand: operand, range: range)
        case .binary(let op, let left, let right, _): .binary(op: op, left: left, right: right, range: range)
        }
    }
}
