import FinchLanguage
import Testing

/// One input and the compact form (`ASTPrinter.compact`) of what it parses to.
struct ParseCase: Sendable, CustomTestStringConvertible {
    let source: String
    let expected: String
    init(_ source: String, _ expected: String) {
        self.source = source
        self.expected = expected
    }
    var testDescription: String { source.debugDescription }
}

/// One input and the first error it gives: message and where the caret goes.
struct SyntaxErrorCase: Sendable, CustomTestStringConvertible {
    let source: String
    let message: String
    let line: Int
    let column: Int
    init(_ source: String, _ message: String, at line: Int, _ column: Int) {
        self.source = source
        self.message = message
        self.line = line
        self.column = column
    }
    var testDescription: String { source.debugDescription }
}

extension Parser {
    /// The statements of `text` as the cell `cell[1]`.
    static func parseCell(_ text: String) throws(Diagnostic) -> [Statement] {
        try parse(SourceText(name: "cell[1]", text: text))
    }
}

@Suite("Parser")
struct ParserTests {
    static let literals: [ParseCase] = [
        ParseCase("16", "16.0"),
        ParseCase("2e-4", "0.0002"),
        ParseCase("2E+3", "2000.0"),
        ParseCase("0.05", "0.05"),
        ParseCase(".5", "0.5"),
        ParseCase("1_000", "1000.0"),
        ParseCase("80%", "0.8"),
        ParseCase("7B", "7000000000.0"),
        ParseCase("110M", "110000000.0"),
        ParseCase("4.5k", "4500.0"),
        ParseCase("2T", "2000000000000.0"),
        ParseCase("0.5%", "0.005"),
        ParseCase("true", "true"),
        ParseCase("false", "false"),
        ParseCase(#""plain""#, #""plain""#),
        ParseCase(#""say \"hi\"\\ \n\t\r \u{0995}""#, #""say \"hi\"\\ \n\t\r ক""#),
        ParseCase(#""""#, #""""#),
        ParseCase("[query, value]", "[query, value]"),
        ParseCase("[1e-4, 2e-4,]", "[0.0001, 0.0002]"),
        ParseCase("[]", "[]"),
        ParseCase("[[1, 2], [3]]", "[[1.0, 2.0], [3.0]]"),
        ParseCase("[\n  query,\n  value,  # the attention projections\n]", "[query, value]"),
    ]

    @Test("literals", arguments: literals)
    func literal(_ testCase: ParseCase) throws {
        #expect(ASTPrinter.compact(try Parser.parseCell(testCase.source)) == testCase.expected)
    }

    static let expressions: [ParseCase] = [
        ParseCase("6*7", "(6.0 * 7.0)"),
        ParseCase("1 + 2 * 3", "(1.0 + (2.0 * 3.0))"),
        ParseCase("(1 + 2) * 3", "((1.0 + 2.0) * 3.0)"),
        ParseCase("10 - 4 - 3", "((10.0 - 4.0) - 3.0)"),
        ParseCase("8 / 4 / 2", "((8.0 / 4.0) / 2.0)"),
        ParseCase("2 ** 3 ** 2", "(2.0 ** (3.0 ** 2.0))"),
        ParseCase("-2**2", "(-(2.0 ** 2.0))"),
        ParseCase("2 ** -1", "(2.0 ** (-1.0))"),
        ParseCase("-x * 2", "((-x) * 2.0)"),
        ParseCase("+3", "(+3.0)"),
        ParseCase("--3", "(-(-3.0))"),
        ParseCase("x * 2", "(x * 2.0)"),
        ParseCase("x - 1", "(x - 1.0)"),
        ParseCase("x + y ** 2 / z", "(x + ((y ** 2.0) / z))"),
        ParseCase(#""a" + "b""#, #"("a" + "b")"#),
        ParseCase("[1] + [2]", "([1.0] + [2.0])"),
        ParseCase("(((4)))", "4.0"),
    ]

    @Test("expressions and precedence", arguments: expressions)
    func expression(_ testCase: ParseCase) throws {
        #expect(ASTPrinter.compact(try Parser.parseCell(testCase.source)) == testCase.expected)
    }

    static let statements: [ParseCase] = [
        // Assignments
        ParseCase("x = 3", "x = 3.0"),
        ParseCase("lr=2e-4", "lr = 0.0002"),
        ParseCase("rates = [1e-4, 2e-4]", "rates = [0.0001, 0.0002]"),
        ParseCase("base = lr * 2", "base = (lr * 2.0)"),
        // Commands: words, positionals, options
        ParseCase("params", "cmd(params; ; )"),
        ParseCase("x", "cmd(x; ; )"),
        ParseCase("train resume", "cmd(train resume; ; )"),
        ParseCase(#"data load "reviews.csv" text=review label=sentiment"#, #"cmd(data load; "reviews.csv"; text=review, label=sentiment)"#),
        ParseCase("lora r=16 alpha=32 targets=[query, value]", "cmd(lora; ; r=16.0, alpha=32.0, targets=[query, value])"),
        ParseCase("lora r = 16", "cmd(lora; ; r=16.0)"),
        ParseCase("data split train=80% valid=10% test=10%", "cmd(data split; ; train=0.8, valid=0.1, test=0.1)"),
        ParseCase("train lr=base*2 epochs=3", "cmd(train; ; lr=(base * 2.0), epochs=3.0)"),
        ParseCase("lrfind start=-7 end=1", "cmd(lrfind; ; start=(-7.0), end=1.0)"),
        ParseCase(#"embed "ভালো" "bad" pool=mean"#, #"cmd(embed; "ভালো", "bad"; pool=mean)"#),
        ParseCase("seed 42", "cmd(seed; 42.0; )"),
        ParseCase("print (1 + 2) * 3", "cmd(print; ((1.0 + 2.0) * 3.0); )"),
        ParseCase("print x * 2", "cmd(print; (x * 2.0); )"),
        ParseCase("print x", "cmd(print x; ; )"),
        ParseCase("reset data", "cmd(reset data; ; )"),
        ParseCase(#"save adapter "out/adapter""#, #"cmd(save adapter; "out/adapter"; )"#),
        ParseCase("plot loss", "cmd(plot loss; ; )"),
        ParseCase("estimate params=7B method=qlora gpu=A100-40GB hours=2.5", "cmd(estimate; ; params=7000000000.0, method=qlora, gpu=A100-40GB, hours=2.5)"),
        ParseCase("model load \"m\" task=causal-lm", "cmd(model load; \"m\"; task=causal-lm)"),
        ParseCase("qlora r=16 alpha=32 targets=all-linear quant=nf4 double_quant=true",
                  "cmd(qlora; ; r=16.0, alpha=32.0, targets=all-linear, quant=nf4, double_quant=true)"),
        ParseCase("data load \"x.csv\" labels=[neg, neu, pos]", "cmd(data load; \"x.csv\"; labels=[neg, neu, pos])"),
        ParseCase("sweep lr=[1e-4, 2e-4, 5e-4] r=[8, 16]", "cmd(sweep; ; lr=[0.0001, 0.0002, 0.0005], r=[8.0, 16.0])"),
        // Hyphenated words
        ParseCase("lora bias=lora_only targets=all-linear", "cmd(lora; ; bias=lora_only, targets=all-linear)"),
        ParseCase("embed model=multilingual-e5-small", "cmd(embed; ; model=multilingual-e5-small)"),
        ParseCase("y = x-1", "y = x-1"),
        ParseCase("y = x - 1", "y = (x - 1.0)"),
        ParseCase("y = x -1", "y = (x - 1.0)"),
        ParseCase("y = 7-1", "y = (7.0 - 1.0)"),
        // Help queries
        ParseCase("lora?", "help(lora)"),
        ParseCase("?lora", "help(lora)"),
        ParseCase("? data load", "help(data load)"),
        ParseCase("data load?", "help(data load)"),
        ParseCase("data load ?  # which options?", "help(data load)"),
        ParseCase("?", "help()"),
        // Several statements, comments, blank lines and continuations
        ParseCase("x = 1\n\n# a comment\ny = 2  # another\n", "x = 1.0\ny = 2.0"),
        ParseCase("text = \"# not a comment\"", "text = \"# not a comment\""),
        ParseCase("train epochs=5 \\\n      lr=2e-4", "cmd(train; ; epochs=5.0, lr=0.0002)"),
        ParseCase("train epochs=5 \\   \n lr=2e-4", "cmd(train; ; epochs=5.0, lr=0.0002)"),
        ParseCase("lora r=16 targets=[\n  query,\n  value\n] alpha=32", "cmd(lora; ; r=16.0, targets=[query, value], alpha=32.0)"),
        ParseCase("x = (1 +\n 2)", "x = (1.0 + 2.0)"),
        ParseCase("a = 1\r\nb = 2\r\n", "a = 1.0\nb = 2.0"),
        ParseCase("", ""),
        ParseCase("# only a comment", ""),
    ]

    @Test("statements", arguments: statements)
    func statement(_ testCase: ParseCase) throws {
        #expect(ASTPrinter.compact(try Parser.parseCell(testCase.source)) == testCase.expected)
    }

    @Test func aTrailingHyphenIsSubtractionWithoutARightOperand() {
        #expect(throws: Diagnostic("expected a value after '-' but found end of line", at: caret(1, 7, width: 0))) { try Parser.parseCell("y = x-") }
    }

    // MARK: Strings

    @Test(arguments: ["আমি খুব খুশি", "ami khub happy 😀", "এটা really ভালো ছিল 👍🏽 #hashtag", "e\u{301} é 👨‍👩‍👧"])
    func stringsRoundTripExactly(_ text: String) throws {
        let statements = try Parser.parseCell("predict \"\(text)\"")
        guard case .command(let command) = statements.first, case .string(let value, _) = command.positionals.first else {
            Issue.record("not a command with a string: \(statements)")
            return
        }
        #expect(value == text)
        #expect(Array(value.unicodeScalars) == Array(text.unicodeScalars))
    }

    static let multiLineStrings: [(source: String, value: String)] = [
        ("\"\"\"\nআমি খুব খুশি\nami khub happy 😀\n\"\"\"", "আমি খুব খুশি\nami khub happy 😀"),
        ("\"\"\"one line\"\"\"", "one line"),
        ("\"\"\"\n  indented\n    kept\n\"\"\"", "  indented\n    kept"),
        ("\"\"\"\n\nblank lines kept\n\n\"\"\"", "\nblank lines kept\n"),
        ("\"\"\"a \"quoted\" \"\"word\"\" # no comment\"\"\"", "a \"quoted\" \"\"word\"\" # no comment"),
        ("\"\"\"joined \\\nline\"\"\"", "joined line"),
        ("\"\"\"ends with an escaped break\\n\"\"\"", "ends with an escaped break\n"),
        ("\"\"\"\r\nwindows\r\nline\r\n\"\"\"", "windows\r\nline"),
    ]

    @Test func multiLineStrings() throws {
        for (source, value) in Self.multiLineStrings {
            guard case .assignment(_, _, .string(let parsedValue, _), _)? = try Parser.parseCell("s = " + source).first else {
                Issue.record("not an assignment of a string: \(source.debugDescription)")
                continue
            }
            #expect(parsedValue == value, "\(source.debugDescription)")
        }
    }

    @Test func aMultiLineStringsRangeRunsFromTheOpeningToTheClosingQuotes() throws {
        let statements = try Parser.parseCell("s = \"\"\"\nআমি\nখুশি\"\"\" # done\nx = 1")
        guard case .assignment(_, _, let value, _)? = statements.first else {
            Issue.record("not an assignment")
            return
        }
        // খুশি is two Characters (four scalars), so the closing quotes end at column 6.
        #expect(value.range == SourceRange(start: .init(line: 1, column: 5), end: .init(line: 3, column: 6)))
        #expect(statements.map(\.range) == [
            SourceRange(start: .init(line: 1, column: 1), end: .init(line: 3, column: 6)),
            SourceRange(start: .init(line: 4, column: 1), end: .init(line: 4, column: 6)),
        ])
    }

    // MARK: Ranges

    @Test func rangesCountCharactersNotBytes() throws {
        let statements = try Parser.parseCell("predict \"আমি খুব খুশি\" n=3")
        guard case .command(let command) = statements.first else {
            Issue.record("not a command")
            return
        }
        #expect(command.words.map(\.1) == [caret(1, 1, width: 7)])
        // "আমি খুব খুশি" is 8 Characters (12 scalars, 32 UTF-8 bytes): with its quotes, columns 9 to 18.
        #expect(command.positionals.map(\.range) == [caret(1, 9, width: 10)])
        #expect(command.options.map(\.keyRange) == [caret(1, 20, width: 1)])
        #expect(command.options.map(\.value.range) == [caret(1, 22, width: 1)])
        #expect(command.range == caret(1, 1, width: 22))
    }

    @Test func parenthesesArePartOfTheirExpressionsRange() throws {
        #expect(try Parser.parseCell("x = (1 + 2) * 3").first?.range == caret(1, 1, width: 15))
        guard case .assignment(_, _, let value, _)? = try Parser.parseCell("x = (1 + 2)").first else {
            Issue.record("not an assignment")
            return
        }
        #expect(value.range == caret(1, 5, width: 7))
    }

    @Test func helpQueriesCoverTheQuestionMark() throws {
        #expect(try Parser.parseCell("data load?") == [.helpQuery(topic: ["data", "load"], range: caret(1, 1, width: 10))])
        #expect(try Parser.parseCell("  ?lora") == [.helpQuery(topic: ["lora"], range: caret(1, 3, width: 5))])
    }

    @Test func lineOffsetShowsInQuotedPositionsAndRenderedHeader() {
        let source = SourceText(name: "tutorial.md", text: "x = 1\ny = [1,\n 2", lineOffset: 40)
        #expect(throws: Diagnostic("expected ']' to close the list opened at 42:5 but found end of input", at: caret(3, 3, width: 0))) {
            try Parser.parse(source)
        }
    }

    // MARK: Errors

    static let errors: [SyntaxErrorCase] = [
        SyntaxErrorCase("train lr=", "expected a value after 'lr=' but found end of line", at: 1, 10),
        SyntaxErrorCase("train lr= epochs=3", "expected a value after 'lr=' but found 'epochs='", at: 1, 11),
        SyntaxErrorCase("x = ]", "expected a value after 'x =' but found ']'", at: 1, 5),
        SyntaxErrorCase("x = [1, 2", "expected ']' to close the list opened at 1:5 but found end of input", at: 1, 10),
        SyntaxErrorCase("x = [1, 2)", "expected ']' to close the list opened at 1:5 but found ')'", at: 1, 10),
        SyntaxErrorCase("x = [1 2]", "expected ',' between list elements but found '2'", at: 1, 8),
        SyntaxErrorCase("x = [1,, 2]", "expected a value after ',' but found ','", at: 1, 8),
        SyntaxErrorCase("x = [,]", "expected a value after '[' but found ','", at: 1, 6),
        SyntaxErrorCase("x = (1 + 2", "expected ')' to close the '(' opened at 1:5 but found end of input", at: 1, 11),
        SyntaxErrorCase("x = ()", "expected a value after '(' but found ')'", at: 1, 6),
        SyntaxErrorCase("6*7)", "unexpected ')'", at: 1, 4),
        SyntaxErrorCase(")", "unexpected ')'", at: 1, 1),
        SyntaxErrorCase("= 3", "unexpected '='", at: 1, 1),
        SyntaxErrorCase("x = 1 2", "expected end of line but found '2'", at: 1, 7),
        SyntaxErrorCase("6 *", "expected a value after '*' but found end of line", at: 1, 4),
        SyntaxErrorCase("lora r=16 \"x\"", "positional argument after options", at: 1, 11),
        SyntaxErrorCase("lora r=16 x", "positional argument after options", at: 1, 11),
        SyntaxErrorCase("lora r=16?", "unexpected '?'", at: 1, 10),
        SyntaxErrorCase("lora r=16, alpha=32", "unexpected ','", at: 1, 10),
        SyntaxErrorCase("?lora 3", "expected a command name after '?' but found '3'", at: 1, 7),
        SyntaxErrorCase("r = 16x", "unknown number suffix 'x' in '16x'", at: 1, 5),
        SyntaxErrorCase("memory gpu=3GB", "unknown number suffix 'GB' in '3GB'", at: 1, 12),
        SyntaxErrorCase("x = 1e", "unknown number suffix 'e' in '1e'", at: 1, 5),
        SyntaxErrorCase("x = 7Bn", "unknown number suffix 'Bn' in '7Bn'", at: 1, 5),
        SyntaxErrorCase("x = 1e400", "number '1e400' is too large", at: 1, 5),
        SyntaxErrorCase("x = 'a'", "unexpected character '''", at: 1, 5),
        SyntaxErrorCase("x = 1; y = 2", "unexpected character ';'", at: 1, 6),
        SyntaxErrorCase("x = a.b", "unexpected character '.'", at: 1, 6),
        SyntaxErrorCase("x\u{200B} = 1", "unexpected character U+200B", at: 1, 2),
        SyntaxErrorCase("x = 1 \\ # more", "unexpected character '\\'", at: 1, 7),
        SyntaxErrorCase("x = 1 \\", "expected a line after '\\' but found end of input", at: 1, 7),
        SyntaxErrorCase("s = \"abc", "unterminated string", at: 1, 5),
        SyntaxErrorCase("s = \"abc\ndef\"", "unterminated string", at: 1, 5),
        SyntaxErrorCase("s = \"abc\\", "unterminated string", at: 1, 5),
        SyntaxErrorCase("s = \"\"\"abc\n", "unterminated multi-line string", at: 1, 5),
        SyntaxErrorCase("s = \"\"\"abc\\", "unterminated multi-line string", at: 1, 5),
        SyntaxErrorCase("s = \"C:\\Users\"", "unknown escape '\\U' in a string", at: 1, 8),
        SyntaxErrorCase("s = \"\\u{}\"", "invalid unicode escape in a string", at: 1, 6),
        SyntaxErrorCase("s = \"\\u0995\"", "invalid unicode escape in a string", at: 1, 6),
        SyntaxErrorCase("s = \"\\u{D800}\"", "'\\u{D800}' is not a unicode scalar value", at: 1, 6),
        SyntaxErrorCase("x = 1\ny = [1,\n2 3]", "expected ',' between list elements but found '3'", at: 3, 3),
        SyntaxErrorCase("x = ] \"\"\"open", "expected a value after 'x =' but found ']'", at: 1, 5),
        SyntaxErrorCase("x = \"\"\"open", "unterminated multi-line string", at: 1, 5),
        SyntaxErrorCase(String(repeating: "(", count: 101) + "1" + String(repeating: ")", count: 101), "expression nested too deeply", at: 1, 101),
        SyntaxErrorCase(String(repeating: "-", count: 101) + "1", "expression nested too deeply", at: 1, 101),
        SyntaxErrorCase("x = " + Array(repeating: "2", count: 102).joined(separator: "**"), "expression nested too deeply", at: 1, 306),
    ]

    @Test("syntax errors", arguments: errors)
    func syntaxError(_ testCase: SyntaxErrorCase) {
        do {
            let statements = try Parser.parseCell(testCase.source)
            Issue.record("parsed to \(ASTPrinter.compact(statements))")
        } catch {
            #expect(error.message == testCase.message)
            #expect(error.range?.start == FinchLanguage.SourceLocation(line: testCase.line, column: testCase.column))
        }
    }

    @Test func deepButAllowedNestingParses() throws {
        let depth = 100
        let text = String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
        #expect(try Parser.parseCell(text).count == 1)
    }

    // MARK: Helpers

    /// A one-line range starting at `line:column`, `width` characters wide.
    func caret(_ line: Int, _ column: Int, width: Int = 1) -> SourceRange {
        SourceRange(start: .init(line: line, column: column), end: .init(line: line, column: column + width))
    }
}
