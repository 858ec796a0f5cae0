import Foundation
import Testing
@testable import FinchData
import TestSupport

func writeTemporary(_ text: String, name: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-data-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent(name)
    try Data(text.utf8).write(to: url)
    return url
}

@Suite struct TableTests {
    @Test func readsTheRealDataSets() throws {
        let sst2 = try Table.read(TestPaths.data.appendingPathComponent("sst2/train.tsv"))
        #expect(sst2.columns == ["label", "sentence"] && sst2.rows.count == 67_349)
        let cricket = try Table.read(TestPaths.data.appendingPathComponent("bengali-absa/cricket_train.tsv"))
        #expect(cricket.columns == ["id", "text", "class_label"] && cricket.rows.count == 1942)
        let absa = try LabeledTexts(table: cricket, text: "text", label: "class_label")
        #expect(absa.labelNames == ["negative", "neutral", "positive"])
        let gsm8k = try Table.read(TestPaths.data.appendingPathComponent("gsm8k/train.jsonl"))
        #expect(gsm8k.columns == ["answer", "question"] && gsm8k.rows.count == 7473)
    }

    @Test func csvQuotingFollowsRFC4180() throws {
        let url = try writeTemporary("text,label\r\n\"খেলা, দারুণ\",pos\n\"he said \"\"hi\"\"\nthen left\",neg\nplain,neu\n", name: "t.csv")
        let table = try Table.read(url)
        #expect(table.rows == [["খেলা, দারুণ", "pos"], ["he said \"hi\"\nthen left", "neg"], ["plain", "neu"]])
        #expect(table.lines == [2, 3, 5])
    }

    @Test func numericLabelsSortNumerically() throws {
        let url = try writeTemporary("label\ttext\n10\ta\n2\tb\n0\tc\n", name: "t.tsv")
        let data = try LabeledTexts(table: try Table.read(url), text: "text", label: "label")
        #expect(data.labelNames == ["0", "2", "10"] && data.labels == [2, 1, 0])
    }

    @Test(arguments: [
        ("t.tsv", "a\tb\n1\t2\n3\n", "line 3: expected 2 fields (a, b), found 1: no value for column \"b\""),
        ("t.csv", "a,b\n\"open,2\n", "line 2: unterminated quoted field"),
        ("t.csv", "a,b\nx\"y,2\n", "line 2: a quote inside an unquoted field (quote the whole field and double the quote)"),
        ("t.jsonl", "{\"a\": 1}\n[1]\n", "line 2: not a JSON object"),
        ("t.tsv", "", "empty file: expected a header row"),
        ("t.tsv", "a\tb\n", "no rows after the header"),
        ("t.xlsx", "a", "cannot tell the format from the extension \".xlsx\"; say format=csv, tsv or jsonl"),
    ])
    func badFilesNameTheLine(name: String, text: String, problem: String) throws {
        let url = try writeTemporary(text, name: name)
        #expect(throws: DataError(url.path, problem)) { try Table.read(url) }
    }

    @Test func missingColumnsAndLabelsAreNamed() throws {
        let url = try writeTemporary("text\tlabel\nভালো\tpos\nখারাপ\tbad\n", name: "t.tsv")
        let table = try Table.read(url)
        #expect(throws: DataError(url.path, "no column \"lable\"; the columns are \"text\", \"label\" — did you mean \"label\"?")) {
            try LabeledTexts(table: table, text: "text", label: "lable")
        }
        #expect(throws: DataError(url.path, "label \"pos\" is listed twice in the label names (pos, neg, pos)")) {
            try LabeledTexts(table: table, text: "text", label: "label", labelNames: ["pos", "neg", "pos"])
        }
        #expect(throws: DataError(url.path, "line 3, column \"label\": label \"bad\" is not one of pos, neg")) {
            try LabeledTexts(table: table, text: "text", label: "label", labelNames: ["pos", "neg"])
        }
        #expect(throws: DataError(url.deletingLastPathComponent().appendingPathComponent("nope.tsv").path, "file not found")) {
            try Table.read(url.deletingLastPathComponent().appendingPathComponent("nope.tsv"))
        }
    }
}
