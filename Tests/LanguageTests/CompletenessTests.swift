import FinchLanguage
import Testing

@Suite("Input completeness")
struct CompletenessTests {
    static let cases: [(text: String, expected: InputCompleteness)] = [
        ("", .complete),
        ("   \n\n", .complete),
        ("# only a comment", .complete),
        ("x = 1", .complete),
        ("lora r=16 alpha=32", .complete),
        ("x = [1,\n 2]", .complete),
        ("lora r=16 \\\nalpha=32", .complete),
        ("s = \"\"\"\nআমি খুব খুশি\n\"\"\"", .complete),
        ("lora r=16 \\", .incomplete(indent: "")),
        ("lora r=16 \\   ", .incomplete(indent: "")),
        ("x = \\", .incomplete(indent: "")),
        ("x = [1,", .incomplete(indent: "    ")),
        ("x = [1, 2", .incomplete(indent: "    ")),
        ("lora targets=[\n  query,", .incomplete(indent: "    ")),
        ("x = (1 +", .incomplete(indent: "    ")),
        ("x = ([1]", .incomplete(indent: "    ")),
        ("s = \"\"\"", .incomplete(indent: "")),
        ("s = \"\"\"\nআমি খুব", .incomplete(indent: "")),
        ("x = [\"\"\"abc", .incomplete(indent: "")),
        ("s = \"\"\"abc\\", .incomplete(indent: "")),
        ("x = ]", .invalid),
        ("x =", .invalid),
        ("train lr=", .invalid),
        ("x = [1 2", .invalid),
        ("x = [1, 2]]", .invalid),
        ("x = (1]", .invalid),
        ("s = \"abc", .invalid),
        ("r = 16x [", .invalid),
        ("x = ] [", .invalid),
        ("x = ] \"\"\"abc", .invalid),
        ("lora r=16 \\ alpha=32", .invalid),
        ("x = 1\ny = [", .incomplete(indent: "    ")),
        ("x = ]\ny = [", .invalid),
    ]

    @Test(arguments: cases.indices)
    func classify(_ index: Int) {
        let (text, expected) = Self.cases[index]
        #expect(InputCompleteness.check(text) == expected, "\(text.debugDescription)")
    }

    @Test(arguments: cases.indices)
    func completeIsExactlyWhatParses(_ index: Int) {
        let text = Self.cases[index].text
        let parses = (try? Parser.parse(SourceText(name: "cell[1]", text: text))) != nil
        #expect(parses == (InputCompleteness.check(text) == .complete), "\(text.debugDescription)")
    }

    @Test func typingALineAtATimeFinishesAList() {
        let lines = ["lora r=16 targets=[", "    query,", "    value,", "]"]
        let verdicts = lines.indices.map { InputCompleteness.check(lines[...$0].joined(separator: "\n")) }
        #expect(verdicts == [.incomplete(indent: "    "), .incomplete(indent: "    "), .incomplete(indent: "    "), .complete])
    }
}
