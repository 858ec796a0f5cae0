import FinchLanguage
import Testing

@Suite("Lexer")
struct LexerTests {
    /// The kinds of the tokens of `text`, without the final `endOfInput`.
    func kinds(_ text: String) throws -> [Token.Kind] {
        try Lexer.tokenize(text).map(\.kind).dropLast()
    }

    @Test func aStatementsTokens() throws {
        #expect(try kinds("lora r=16 targets=[query, value] rslora=false ?") == [
            .word("lora"), .word("r"), .symbol(.equals), .number(value: 16, suffix: .none, text: "16"),
            .word("targets"), .symbol(.equals), .symbol(.openBracket), .word("query"), .symbol(.comma), .word("value"),
            .symbol(.closeBracket), .word("rslora"), .symbol(.equals), .bool(false), .symbol(.question),
        ])
        #expect(try kinds("2**3*4/(1+-2)") == [
            .number(value: 2, suffix: .none, text: "2"), .symbol(.power), .number(value: 3, suffix: .none, text: "3"), .symbol(.star),
            .number(value: 4, suffix: .none, text: "4"), .symbol(.slash), .symbol(.openParenthesis), .number(value: 1, suffix: .none, text: "1"),
            .symbol(.plus), .symbol(.minus), .number(value: 2, suffix: .none, text: "2"), .symbol(.closeParenthesis),
        ])
    }

    static let numbers: [(text: String, value: Double, suffix: NumberSuffix)] = [
        ("80%", 0.8, .percent), ("0.5%", 0.005, .percent), ("4.5k", 4500, .thousand), ("110M", 110e6, .million),
        ("7B", 7e9, .billion), ("1.5T", 1.5e12, .trillion), ("1e3k", 1e6, .thousand), ("0.1k", 100, .thousand),
        ("2e-4", 2e-4, .none), ("1_000_000", 1e6, .none), (".25", 0.25, .none), ("1e-400", 0, .none),
    ]

    @Test func numberSuffixesScaleTheValueAndKeepTheSpelling() throws {
        for (text, value, suffix) in Self.numbers {
            #expect(try kinds(text) == [.number(value: value, suffix: suffix, text: text)])
        }
    }

    @Test func hyphensJoinWordPartsOnlyWithoutSpaces() throws {
        #expect(try kinds("A100-40GB all-linear x-1") == [.word("A100-40GB"), .word("all-linear"), .word("x-1")])
        #expect(try kinds("x - 1") == [.word("x"), .symbol(.minus), .number(value: 1, suffix: .none, text: "1")])
        #expect(try kinds("x- 1") == [.word("x"), .symbol(.minus), .number(value: 1, suffix: .none, text: "1")])
        #expect(try kinds("x--y") == [.word("x"), .symbol(.minus), .symbol(.minus), .word("y")])
        #expect(try kinds("_private true-ish লেবেল") == [.word("_private"), .word("true-ish"), .word("লেবেল")])
    }

    @Test func lineBreaksEndStatementsOutsideBracketsOnly() throws {
        #expect(try kinds("a\n\n\nb") == [.word("a"), .endOfLine, .word("b")])
        #expect(try kinds("[a,\n b]\nc") == [
            .symbol(.openBracket), .word("a"), .symbol(.comma), .word("b"), .symbol(.closeBracket), .endOfLine, .word("c"),
        ])
        #expect(try kinds("a \\\n b") == [.word("a"), .word("b")])
        #expect(try kinds("a # b \"c\n d") == [.word("a"), .endOfLine, .word("d")])
    }

    @Test func windowsLineBreaksCountAsOne() throws {
        let tokens = try Lexer.tokenize("a = 1\r\nbb = \"x\"\r\n")
        #expect(tokens.map(\.kind) == [
            .word("a"), .symbol(.equals), .number(value: 1, suffix: .none, text: "1"), .endOfLine,
            .word("bb"), .symbol(.equals), .string("x"), .endOfLine, .endOfInput,
        ])
        #expect(tokens[4].range == SourceRange(start: .init(line: 2, column: 1), end: .init(line: 2, column: 3)))
    }

    @Test func columnsCountCharacters() throws {
        // "👨‍👩‍👧" is one Character of five scalars; "e\u{301}" one Character of two.
        let tokens = try Lexer.tokenize("\"👨‍👩‍👧e\u{301}\" x")
        #expect(tokens.map(\.range.start.column) == [1, 6, 7])
    }

    @Test func anEndOfInputTokenEndsEveryText() throws {
        for text in ["", "x", "x\n", "# c"] {
            #expect(try Lexer.tokenize(text).last?.kind == .endOfInput)
        }
    }
}
