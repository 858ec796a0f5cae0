import Foundation
@testable import FinchLanguage
import Testing

/// A `data load` of a bad file fails naming the file, line and column, and the session keeps the data it had.
@Suite("Data load guards")
struct DataGuardTests {
    @Test(arguments: [
        ("ragged.tsv", Array("text\tlabel\nfine\tpos\ntab\tinside\tneg\n".utf8), "",
         "ragged.tsv: line 3: expected 2 fields (text, label), found 3: field 3 is past the last column \"label\" (a tab inside a text?)"),
        ("latin1.csv", Array("text,label\nok,pos\n".utf8) + [0x63, 0x61, 0x66, 0xE9] + Array(",neg\n".utf8), "",
         "latin1.csv: line 3, byte 4 of the line (byte 22 of the file): 0xE9 is not UTF-8 text; save the file as UTF-8"),
        ("unknown.csv", Array("text,label\nok,pos\nbad,meh\n".utf8), " labels=[pos, neg]",
         "unknown.csv: line 3, column \"label\": label \"meh\" is not one of pos, neg"),
        ("missing.csv", Array("text,label\nok,pos\nno label,\n".utf8), "",
         "missing.csv: line 3, column \"label\": the label is empty; every row needs one"),
        ("empty.csv", [], "", "empty.csv: empty file: expected a header row"),
        ("blank.csv", Array("\n\n".utf8), "", "blank.csv: only blank lines: expected a header row"),
        ("header.csv", Array("text,label\n".utf8), "", "header.csv: no rows after the header"),
        ("twice.csv", Array("text,label,text\na,b,c\n".utf8), "", "twice.csv: line 1: column \"text\" appears twice in the header (columns 1 and 3)"),
        ("nested.jsonl", Array("{\"text\": [1, 2], \"label\": \"a\"}\n".utf8), "",
         "nested.jsonl: line 1, column \"text\": a JSON object or array where text is expected"),
    ])
    func aFailedLoadNamesThePlaceAndKeepsThePreviousData(name: String, bytes: [UInt8], options: String, problem: String) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-guard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("text,label\nগুড,pos\nব্যাড,neg\n".utf8).write(to: folder.appendingPathComponent("good.csv"))
        try Data(bytes).write(to: folder.appendingPathComponent(name))
        let interpreter = Interpreter(workingDirectory: folder)
        try check(run(interpreter, "data load \"good.csv\""))
        let before = try #require(interpreter.dataset.rows)

        let failure = try #require(run(interpreter, "data load \"\(name)\"\(options)").failure)
        #expect(failure.diagnostic.message == problem)
        #expect(interpreter.dataset.source == "good.csv", "a failed load keeps the loaded data")
        #expect(interpreter.dataset.rows == before)
        #expect(interpreter.dataset.table?.columns == ["text", "label"])
    }
}
