import FinchLanguage
import Testing
import TestSupport

/// Syntax errors as a person sees them: `cell[1]:L:C: error: ...`, the source line, the caret line and
/// the notes, compared in full with Golden/diagnostics/<name>.txt (the source, `---`, the rendering).
@Suite("Diagnostic goldens")
struct DiagnosticGoldenTests {
    static let cells: [(name: String, source: String)] = [
        ("unterminated-string", "x = 1\npredict \"আমি খুব খুশি"),
        ("unterminated-multi-line-string", "prompt = \"\"\"\nline one\nline two"),
        ("unclosed-list", "lora r=16 targets=[query,\n    value"),
        ("list-missing-comma", "labels = [neg neu]"),
        ("unclosed-parenthesis", "x = (1 + 2"),
        ("unexpected-close", "x = 6*7)"),
        ("unexpected-character", "lora r=16 alpha=32 ; train"),
        ("unexpected-invisible-character", "lora\u{00AD} r=16"),
        ("smart-quotes", "data load “reviews.csv”"),
        ("positional-after-option", "embed \"a\" pool=mean \"b\""),
        ("missing-option-value", "train epochs=5 lr="),
        ("missing-option-value-before-next-option", "train lr= epochs=5"),
        ("bad-number-suffix", "memory gpu=80GB batch=16"),
        ("bad-number-suffix-case", "estimate params=7b"),
        ("bad-escape", "data load \"C:\\data\\reviews.csv\""),
        ("trailing-backslash", "train epochs=5 \\"),
        ("misplaced-backslash", "train epochs=5 \\ lr=1e-4"),
        ("help-after-options", "lora r=16?"),
        ("tab-before-error", "\tlora r=16 \t\"x\""),
    ]

    @Test(arguments: cells.map(\.name))
    func render(_ name: String) throws {
        let source = SourceText(name: "cell[1]", text: try #require(Self.cells.first { $0.name == name }?.source))
        do {
            let statements = try Parser.parse(source)
            Issue.record("parsed without an error: \(ASTPrinter.compact(statements))")
        } catch {
            try GoldenFiles(beside: #filePath, subfolder: "diagnostics").check(source.text + "\n---\n" + error.rendered(in: source) + "\n", name + ".txt")
        }
    }

    @Test func aFencedBlockReportsLinesOfItsFile() {
        let source = SourceText(name: "tutorial.md", text: "x = 1\ny = [1,\n     2 3]", lineOffset: 40)
        do {
            let statements = try Parser.parse(source)
            Issue.record("parsed without an error: \(ASTPrinter.compact(statements))")
        } catch {
            #expect(error.rendered(in: source) == """
                tutorial.md:43:8: error: expected ',' between list elements but found '3'
                     2 3]
                       ^
                """)
        }
    }
}
