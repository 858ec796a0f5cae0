import FinchREPL
import Foundation
import Testing

/// A pipe already holding `text` and closed for writing (keep `text` under the 64 KiB pipe buffer).
func pipe(holding text: String) throws -> FileHandle {
    let pipe = Pipe()
    try pipe.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    try pipe.fileHandleForWriting.close()
    return pipe.fileHandleForReading
}

/// A fresh folder under the temporary directory.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("finch-frontend-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct LineReaderTests {
    @Test func pipedLinesRoundTripExactly() throws {
        let lines = ["আমি বাংলায় গান গাই", "খুব ভালো 🙂👍🏽", "", "  indented\tand tabbed  ", "x = 1 # done"]
        let reader = LineReader(input: try pipe(holding: lines.joined(separator: "\n") + "\n"))
        #expect(!reader.isInteractive)
        for line in lines {
            #expect(reader.readLine() == line)
        }
        #expect(reader.readLine() == nil)
        #expect(reader.readLine(continuation: true) == nil)
    }

    @Test func lastLineWithoutNewlineAndCRLF() throws {
        let reader = LineReader(input: try pipe(holding: "first\r\nসেকেন্ড\nlast without newline"))
        #expect(reader.readLine() == "first")
        #expect(reader.readLine(continuation: true) == "সেকেন্ড")
        #expect(reader.readLine() == "last without newline")
        #expect(reader.readLine() == nil)
    }

    @Test func emptyInputEndsAtOnce() throws {
        #expect(LineReader(input: try pipe(holding: "")).readLine() == nil)
    }

    @Test func longInputAcrossReadBoundaries() throws {
        // Three-byte Bengali letters and four-byte emoji straddle the reader's 16 KiB reads.
        let lines = (0..<3_000).map { "\($0) বাংলা লেখা \(String(repeating: "🙂", count: $0 % 7))" }
        let file = try temporaryFolder().appendingPathComponent("input.txt")
        try Data(lines.joined(separator: "\n").utf8).write(to: file)
        let reader = LineReader(input: try FileHandle(forReadingFrom: file))
        var read: [String] = []
        while let line = reader.readLine(), read.count <= lines.count {
            read.append(line)
        }
        #expect(read == lines)
    }

    @Test func historySavesAndLoads() throws {
        let file = try temporaryFolder().appendingPathComponent("history")
        let entries = ["print(\"hello\")", "খুব ভালো 🙂", "train(model, epochs: 3)\nevaluate(model)", "a b  c"]
        let writer = LineReader(historyFile: file, input: try pipe(holding: ""))
        for entry in entries {
            writer.addHistory(entry)
        }
        writer.addHistory("")
        writer.addHistory(entries.last!)
        #expect(writer.historyEntries == entries)
        try writer.saveHistory()

        let reader = LineReader(historyFile: file, input: try pipe(holding: ""))
        #expect(reader.historyEntries == entries)
        reader.addHistory("next")
        #expect(reader.historyEntries == entries + ["next"])
    }

    @Test func historySizeKeepsTheNewest() throws {
        let reader = LineReader(historySize: 2, input: try pipe(holding: ""))
        for entry in ["one", "two", "three"] {
            reader.addHistory(entry)
        }
        #expect(reader.historyEntries == ["two", "three"])
    }

    @Test func unwritableHistoryFileThrows() throws {
        let file = try temporaryFolder().appendingPathComponent("missing/folder/history")
        let reader = LineReader(historyFile: file, input: try pipe(holding: ""))
        reader.addHistory("x")
        let error = #expect(throws: HistoryFileError.self) { try reader.saveHistory() }
        #expect(error?.path == file.path)
    }
}
