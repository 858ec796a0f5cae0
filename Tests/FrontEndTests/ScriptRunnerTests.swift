import FinchLanguage
import FinchREPL
import Foundation
import Testing

/// `finch run FILE` in-process: scripts as one cell, errors with the file's line numbers, JSON lines.
@Suite struct ScriptRunnerTests {
    /// Writes `text` to a fresh `name` and runs it; returns the status, the output and the interpreter.
    private func run(_ text: String, name: String = "script.finch", format: ScriptRunner.Format = .text)
        throws -> (status: Int32, output: CapturedOutput, path: String, interpreter: Interpreter) {
        let path = try temporaryFolder().appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let output = CapturedOutput()
        let runner = ScriptRunner(format: format, output: output, isTerminal: false)
        return (runner.run(path: path), output, path, runner.interpreter)
    }

    @Test func printsWhatACellShows() throws {
        let (status, output, _, _) = try run("x = 6*7\nprint x\nprint \"আমি খুব খুশি\" to=stderr\nx + 1\n")
        #expect(status == 0)
        #expect(output.standardOutput == "42\n43\n")
        #expect(output.standardError == "আমি খুব খুশি\n")
    }

    @Test func statementOutputsBeforeTheLastAreShownToo() throws {
        let (status, output, _, _) = try run("6*7\n\"text\"\nseed 7\n")
        #expect(status == 0)
        #expect(output.standardOutput == "42\ntext\nseed 7\n")
    }

    @Test func errorAtLineThreeStopsTheScript() throws {
        let (status, output, path, interpreter) = try run("a = 1\nb = a + 1\nlora rnk=4\nc = 3\n")
        #expect(status == 1)
        #expect(output.standardError.hasPrefix("\(path):3:6: error: unknown option 'rnk' for 'lora'\nlora rnk=4\n     ^~~\n"))
        #expect(interpreter.variables["a"] == .number(1))
        #expect(interpreter.variables["b"] == .number(2))
        #expect(interpreter.variables["c"] == nil)
        #expect(output.standardOutput == "")
    }

    @Test func jsonLinesParse() throws {
        let (status, output, _, _) = try run("x = 6*7\nprint x\nx\n[1, 2]\n\"আমি\"\nprint \"err\" to=stderr\nnope\n", format: .json)
        #expect(status == 1)
        let lines = output.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 6)
        let values = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8), options: [.fragmentsAllowed]) }
        #expect((values[0] as? [String: Any])?["stream"] as? String == "stdout")
        #expect((values[0] as? [String: Any])?["text"] as? String == "42\n")
        #expect((values[1] as? NSNumber)?.intValue == 42)
        #expect((values[2] as? [Any])?.count == 2)
        #expect(values[3] as? String == "আমি")
        #expect((values[4] as? [String: Any])?["stream"] as? String == "stderr")
        let error = try #require(values[5] as? [String: Any])
        #expect((error["line"] as? NSNumber)?.intValue == 7)
        #expect(error["error"] as? String == "unknown command 'nope'")
        #expect(output.standardError.contains(":7:1: error: unknown command 'nope'"))
    }

    @Test func missingFileIsAClearError() {
        let output = CapturedOutput()
        let status = ScriptRunner(output: output, isTerminal: false).run(path: "/nonexistent/train.finch")
        #expect(status == 1)
        #expect(output.standardError == "/nonexistent/train.finch: error: no such file\n")
    }

    @Test func markdownRunsItsFinchBlocksAndOtherNamesRun() throws {
        let markdown = try run("# Notes\n\n```finch\nx = 6\n```\n\nText.\n\n```python\nnot = finch\n```\n\n```finch\nprint x * 7\nnope\n```\n", name: "notes.md")
        #expect(markdown.status == 1)
        #expect(markdown.output.standardOutput == "42\n")
        #expect(markdown.output.standardError.contains("notes.md:15:1: error: unknown command 'nope'"))
        let plain = try run("print 1\n", name: "script.txt")
        #expect(plain.status == 0)
        #expect(plain.output.standardOutput == "1\n")
    }

    @Test func notUTF8IsAClearError() throws {
        let path = try temporaryFolder().appendingPathComponent("bad.finch").path
        try Data([0x78, 0x20, 0x3D, 0x20, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: path))
        let output = CapturedOutput()
        #expect(ScriptRunner(output: output, isTerminal: false).run(path: path) == 1)
        #expect(output.standardError == "\(path): error: the file is not UTF-8 text\n")
    }

    @Test func interruptedScriptExits130() throws {
        let path = try temporaryFolder().appendingPathComponent("slow.finch").path
        try Data("x = 1\nsleep 30\nx = 2\n".utf8).write(to: URL(fileURLWithPath: path))
        let output = CapturedOutput()
        let runner = ScriptRunner(output: output, isTerminal: false)
        let stopper = RepeatedInterrupts(runner.running)
        #expect(runner.run(path: path) == 130)
        stopper.stop()
        #expect(runner.interpreter.variables["x"] == .number(1))
        #expect(output.standardError.contains("\(path):2:1: error: sleep interrupted"))
    }
}
