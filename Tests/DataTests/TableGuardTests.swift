import Foundation
import Testing
@testable import FinchData

/// The guards of `Table.parse` and `LabeledTexts`: every refused file names the line and column, and says what the
/// limit is where one applies.
@Suite struct TableGuardTests {
    static func parse(_ text: String, _ format: Table.Format = .csv) throws -> Table {
        try Table.parse(Data(text.utf8), format: format, source: "t.\(format.rawValue)")
    }

    static func problem(_ body: () throws -> Any) -> String? {
        do { _ = try body() } catch let error as DataError { return error.problem } catch { return "\(error)" }
        return nil
    }

    @Test(arguments: [
        ("a\tb\n1\t2\t3\n", Table.Format.tsv, "line 2: expected 2 fields (a, b), found 3: field 3 is past the last column \"b\" (a tab inside a text?)"),
        ("text,label\nx,pos\ny\n", .csv, "line 3: expected 2 fields (text, label), found 1: no value for column \"label\""),
        ("text,label\nhi, there,pos\n", .csv, "line 2: expected 2 fields (text, label), found 3: field 3 is past the last column \"label\" (quote a field that holds a comma)"),
        ("", .csv, "empty file: expected a header row"),
        ("\n\n  \r\n", .tsv, "only blank lines: expected a header row"),
        ("\n\n", .jsonl, "only blank lines: expected a header row"),
        ("text,label\n\n", .csv, "no rows after the header"),
        ("text,label,text\nа,b,c\n", .csv, "line 1: column \"text\" appears twice in the header (columns 1 and 3)"),
        ("text,,label\na,b,c\n", .csv, "line 1: column 2 of the header has no name; every column needs one"),
        ("text\tlabel\t\na\tb\tc\n", .tsv, "line 1: column 3 of the header has no name; every column needs one"),
        ("{\"\": 1}\n", .jsonl, "line 1: a key is empty; every column needs a name"),
    ])
    func raggedEmptyAndBadHeadersAreRefused(text: String, format: Table.Format, expected: String) {
        #expect(Self.problem { try Self.parse(text, format) } == expected)
    }

    @Test func invalidUTF8NamesTheLineAndByte() {
        var bytes = Array("text,label\nok,pos\nbad".utf8)
        bytes += [0xFF] + Array("x,neg\n".utf8)
        #expect(Self.problem { try Table.parse(Data(bytes), format: .csv, source: "t.csv") }
                == "line 3, byte 4 of the line (byte 22 of the file): 0xFF is not UTF-8 text; save the file as UTF-8")
        // A sequence cut short at the end of the file, an overlong form and a surrogate are refused too.
        for (tail, offset) in [([0xE0, 0xA6] as [UInt8], 1), ([0xC0, 0x80], 1), ([0x61, 0xED, 0xA0, 0x80], 2)] {
            let problem = Self.problem { try Table.parse(Data(Array("a\n".utf8) + tail), format: .tsv, source: "t.tsv") }
            #expect(problem?.hasPrefix("line 2, byte \(offset) of the line") == true, "\(tail): \(problem ?? "accepted")")
        }
        #expect(TableLimits.firstInvalidUTF8Offset(Array("আমি 😀 ok".utf8)) == nil)
    }

    @Test func aByteOrderMarkIsNotPartOfTheFirstColumnName() throws {
        let table = try Table.parse(Data([0xEF, 0xBB, 0xBF] + Array("text,label\nx,y\n".utf8)), format: .csv, source: "t.csv")
        #expect(table.columns == ["text", "label"])
    }

    @Test func absurdFieldsAndHeadersHitTheDocumentedLimits() {
        let long = String(repeating: "x", count: TableLimits.maximumFieldBytes + 1)
        #expect(Self.problem { try Self.parse("text,label\n\(long),pos\n") }
                == "line 2, column \"text\": a field of 1048577 bytes; the limit is 1 MiB (1048576 bytes)")
        #expect(Self.problem { try Self.parse("{\"text\": \"\(long)\"}\n", .jsonl) }
                == "line 1, column \"text\": a field of 1048577 bytes; the limit is 1 MiB (1048576 bytes)")
        let wide = (0...TableLimits.maximumColumns).map { "c\($0)" }.joined(separator: "\t")
        #expect(Self.problem { try Self.parse(wide + "\n", .tsv) } == "line 1: the header has more than 10000 columns (the limit)")
        let exactlyAtTheLimit = (1...TableLimits.maximumColumns).map { "c\($0)" }.joined(separator: "\t")
        #expect(Self.problem { try Self.parse(exactlyAtTheLimit + "\n" + exactlyAtTheLimit + "\n", .tsv) } == nil)
    }

    @Test func labelsMustBePresentAndKnown() throws {
        let table = try Self.parse("text,label\nভালো,pos\nখারাপ,\n")
        #expect(Self.problem { try LabeledTexts(table: table, text: "text", label: "label") }
                == "line 3, column \"label\": the label is empty; every row needs one")
        let other = try Self.parse("text,label\nভালো,pos\nখারাপ,meh\n")
        #expect(Self.problem { try LabeledTexts(table: other, text: "text", label: "label", labelNames: ["pos", "neg"]) }
                == "line 3, column \"label\": label \"meh\" is not one of pos, neg")
    }

    @Test func aJSONObjectOrArrayIsNotText() throws {
        let table = try Self.parse("""
            {"text": "fine", "label": "a", "messages": [{"role": "user", "content": "hi"}]}

            {"text": {"nested": true}, "label": "b", "messages": []}
            """, .jsonl)
        #expect(table.firstStructuredRow == ["messages": 0, "text": 1])
        #expect(Self.problem { try LabeledTexts(table: table, text: "text", label: "label") }
                == "line 3, column \"text\": a JSON object or array where text is expected")
        #expect(Self.problem { try LabeledTexts(table: table, text: "messages", label: "label") }
                == "line 1, column \"messages\": a JSON object or array where text is expected")
    }
}
