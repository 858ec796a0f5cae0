import FinchKernel
import Foundation
import Testing

/// Cell history: kept per session in an append-only JSON-lines file and served by history_request.
@Suite struct KernelHistoryTests {
    /// `[session, line, source]` rows of a history reply.
    func rows(_ reply: TestMessage) -> [[JSON]] {
        reply.content["history"]?.arrayValue?.compactMap(\.arrayValue) ?? []
    }

    @Test func historyPersistsAcrossKernelsAndAnswersTailRangeAndSearch() throws {
        let file = temporaryDirectory().appendingPathComponent("nested/history.jsonl")

        let firstKernel = try RunningKernel(historyFile: file)
        let first = try TestClient(firstKernel.server.endpoints)
        for code in ["6*7", "print a", "6*7"] {
            _ = try first.reply(to: try first.execute(code), on: first.shell)
        }
        _ = try first.reply(to: try first.execute("print not stored", storeHistory: false), on: first.shell)
        firstKernel.stop()

        let kernel = try RunningKernel(historyFile: file)
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)
        _ = try client.reply(to: try client.execute("print b"), on: client.shell)

        let tail = try client.send("history_request", ["output": false, "raw": true, "hist_access_type": "tail", "n": 3], on: client.shell)
        let tailRows = rows(try client.reply(to: tail, on: client.shell))
        #expect(tailRows.map { $0[2] } == ["print a", "6*7", "print b"])
        let firstSession = try #require(tailRows[0][0].intValue)
        #expect(tailRows.map { $0[0].intValue } == [firstSession, firstSession, firstSession + 1])
        #expect(tailRows.map { $0[1].intValue } == [2, 3, 1])

        let withOutput = try client.send("history_request", ["output": true, "raw": true, "hist_access_type": "tail", "n": 2], on: client.shell)
        #expect(rows(try client.reply(to: withOutput, on: client.shell)).map { $0[2] } == [["6*7", "42"], ["print b", nil]])

        let range = try client.send("history_request", [
            "output": false, "raw": true, "hist_access_type": "range", "session": .int(firstSession), "start": 2, "stop": 3,
        ], on: client.shell)
        #expect(rows(try client.reply(to: range, on: client.shell)) == [[.int(firstSession), 2, "print a"]])
        let previous = try client.send("history_request", [
            "output": false, "raw": true, "hist_access_type": "range", "session": -1, "start": 1,
        ], on: client.shell)
        #expect(rows(try client.reply(to: previous, on: client.shell)).map { $0[2] } == ["6*7", "print a", "6*7"])
        let current = try client.send("history_request", ["output": false, "raw": true, "hist_access_type": "range", "session": 0], on: client.shell)
        #expect(rows(try client.reply(to: current, on: client.shell)).map { $0[2] } == ["print b"])

        let search = try client.send("history_request", ["output": false, "raw": true, "hist_access_type": "search", "pattern": "6*?"], on: client.shell)
        #expect(rows(try client.reply(to: search, on: client.shell)).map { $0[1] } == [1, 3])
        let unique = try client.send("history_request", [
            "output": false, "raw": true, "hist_access_type": "search", "pattern": "6*?", "unique": true,
        ], on: client.shell)
        #expect(rows(try client.reply(to: unique, on: client.shell)).map { $0[1] } == [3])
        let lastPrint = try client.send("history_request", [
            "output": false, "raw": true, "hist_access_type": "search", "pattern": "print*", "n": 1,
        ], on: client.shell)
        #expect(rows(try client.reply(to: lastPrint, on: client.shell)).map { $0[2] } == ["print b"])
    }

    @Test func fileIsAppendOnlyAndSurvivesATornLine() throws {
        let file = temporaryDirectory().appendingPathComponent("history.jsonl")
        let history = KernelHistory(file: file, log: .silent)
        #expect(history.session == 1)
        history.record(line: 1, source: "print \"খুব ভালো 🙂\"\nnext line")
        history.recordOutput(line: 1, output: "42")
        // A torn write from a crashed kernel, then a newer session.
        let handle = try FileHandle(forWritingTo: file)
        handle.seekToEndOfFile()
        handle.write(Data(#"{"session":1,"line":2,"sou"#.utf8))
        try handle.close()

        let next = KernelHistory(file: file, log: .silent)
        #expect(next.session == 2)
        next.record(line: 1, source: "6*7")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        // Marker, input, output, the torn line (ended before the next record), marker, input.
        #expect(lines.count == 6)
        #expect(lines[3] == #"{"session":1,"line":2,"sou"#)
        #expect(lines.last == #"{"line":1,"session":2,"source":"6*7"}"#)

        let reread = KernelHistory(file: file, log: .silent)
        #expect(reread.session == 3)
        #expect(reread.tail(10) == [
            HistoryEntry(session: 1, line: 1, source: "print \"খুব ভালো 🙂\"\nnext line", output: "42"),
            HistoryEntry(session: 2, line: 1, source: "6*7"),
        ])
    }

    @Test func longHistoryIsTrimmedToTheNewestCells() throws {
        let file = temporaryDirectory().appendingPathComponent("history.jsonl")
        let writer = KernelHistory(file: file, maximumEntries: 5, log: .silent)
        for line in 1...12 { writer.record(line: line, source: "cell \(line)") }

        let reader = KernelHistory(file: file, maximumEntries: 5, log: .silent)
        #expect(reader.session == 2)
        #expect(reader.tail(100).map(\.source) == (8...12).map { "cell \($0)" })
        let text = try String(contentsOf: file, encoding: .utf8)
        #expect(!text.contains("\"cell 7\""))
        // The trimmed file still knows session 2 was taken.
        #expect(KernelHistory(file: file, maximumEntries: 5, log: .silent).session == 3)
    }

    @Test func memoryOnlyHistoryWorksWithoutAFile() {
        let history = KernelHistory(file: nil, log: .silent)
        history.record(line: 1, source: "a")
        history.record(line: 2, source: "b")
        #expect(history.session == 1)
        #expect(history.range(session: 0, start: 2, stop: nil).map(\.source) == ["b"])
        #expect(history.search(pattern: "[ab]", count: nil, unique: false).count == 2)
    }

    @Test func defaultFileFollowsTheEnvironment() {
        #expect(KernelHistory.defaultFile(environment: ["FINCH_HISTORY_FILE": "/tmp/h.jsonl"]).path == "/tmp/h.jsonl")
        #expect(KernelHistory.defaultFile(environment: ["XDG_DATA_HOME": "/data"]).path == "/data/finch/history.jsonl")
        #expect(KernelHistory.defaultFile(environment: [:]).path.hasSuffix(".local/share/finch/history.jsonl"))
    }
}
