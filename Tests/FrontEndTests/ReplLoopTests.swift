import FinchLanguage
@testable import FinchREPL
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `finch repl` with piped input (plain mode), TAB completion edits and the SIGINT route, in-process.
@Suite struct ReplLoopTests {
    /// Runs `input` through a plain-mode REPL; returns the status and what it wrote.
    private func repl(_ input: String, interpreter: Interpreter = Interpreter()) throws -> (status: Int32, output: CapturedOutput) {
        let output = CapturedOutput()
        let loop = ReplLoop(interpreter: interpreter, reader: LineReader(input: try pipe(holding: input)), output: output, banner: "banner")
        return (loop.run(), output)
    }

    @Test func statementsMultiLineEntriesAndValues() throws {
        let (status, output) = try repl("x = 6*7\nprint x\ny = [1,\n2]\n\n# a comment\ny\nprint \"আমি খুব খুশি\"\n")
        #expect(status == 0)
        #expect(output.standardOutput == "42\n[1, 2]\nআমি খুব খুশি\n")  // no banner and no prompts without a terminal
        #expect(output.standardError == "")
    }

    @Test func failuresNameStdinLinesAndSetTheStatus() throws {
        let interpreter = Interpreter()
        let (status, output) = try repl("a = 1\nb = [a,\n  2]\nlora rnk=4\nc = 3\n", interpreter: interpreter)
        #expect(status == 1)
        #expect(output.standardError.hasPrefix("<stdin>:4:6: error: unknown option 'rnk' for 'lora'\nlora rnk=4\n     ^~~\n"))
        // The loop goes on after an error.
        #expect(interpreter.variables["c"] == .number(3))
    }

    @Test func unfinishedEntryAtTheEndIsRunSoItsErrorShows() throws {
        let (status, output) = try repl("x = [1,\n2\n")
        #expect(status == 1)
        #expect(output.standardError.hasPrefix("<stdin>:"))
    }

    @Test func interruptStopsTheCellAndKeepsTheSessions() throws {
        // `sleep 30` is interrupted from another thread; the next statements still run against the same state.
        let interpreter = Interpreter()
        let output = CapturedOutput()
        let loop = ReplLoop(interpreter: interpreter, reader: LineReader(input: try pipe(holding: "x = 5\nsleep 30\nx\n")), output: output)
        let stopper = RepeatedInterrupts(loop.running)
        let started = Date()
        let status = loop.run()
        stopper.stop()
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(status == 1)
        #expect(output.standardError.contains("<stdin>:2:1: error: sleep interrupted"))
        #expect(output.standardOutput == "5\n")
    }

    @Test func sigintReachesTheHandler() throws {
        let received = DispatchSemaphore(value: 0)
        let signal = InterruptSignal { received.signal() }
        kill(getpid(), SIGINT)
        #expect(received.wait(timeout: .now() + 5) == .success)
        kill(getpid(), SIGINT)
        #expect(received.wait(timeout: .now() + 5) == .success)
        withExtendedLifetime(signal) {}
    }

    @Test func completionFromTheInterpreter() throws {
        let loop = ReplLoop(interpreter: Interpreter(), reader: LineReader(input: try pipe(holding: "")), output: CapturedOutput())
        let data = loop.complete(line: "dat", cursor: 3)
        #expect(data.matches == ["data"])
        #expect(CompletionEdit.plan(line: "dat", cursor: 3, completion: data)
                == CompletionEdit(start: 0, end: 3, insertion: "data ", listing: []))
        let targets = loop.complete(line: "lora ta", cursor: 7)
        #expect(CompletionEdit.plan(line: "lora ta", cursor: 7, completion: targets)?.insertion == "targets=")
        let subcommands = loop.complete(line: "data s", cursor: 6)
        let edit = try #require(CompletionEdit.plan(line: "data s", cursor: 6, completion: subcommands))
        #expect(Set(edit.listing).isSuperset(of: ["show", "split", "stats", "sample"]))
        #expect(edit.insertion == "s")
    }

    @Test func completionEdits() {
        // A single match: a space after a word, none after key=, a folder's / or inside a string.
        #expect(CompletionEdit.plan(line: "tr", cursor: 2, completion: LineCompletion(matches: ["train"], start: 0, end: 2))?.insertion == "train ")
        #expect(CompletionEdit.plan(line: "lora a", cursor: 6, completion: LineCompletion(matches: ["alpha="], start: 5, end: 6))?.insertion == "alpha=")
        #expect(CompletionEdit.plan(line: "data load \"da", cursor: 13, completion: LineCompletion(matches: ["data/"], start: 11, end: 13))?.insertion == "data/")
        #expect(CompletionEdit.plan(line: "data load \"re", cursor: 13, completion: LineCompletion(matches: ["reviews"], start: 11, end: 13))?.insertion == "reviews")
        #expect(CompletionEdit.plan(line: "tr x", cursor: 2, completion: LineCompletion(matches: ["train"], start: 0, end: 2))?.insertion == "train")
        // Several: the common prefix (in Unicode scalars, Bengali included) and the listing.
        let several = CompletionEdit.plan(line: "x = খু", cursor: 6, completion: LineCompletion(matches: ["খুশি", "খুশির"], start: 4, end: 6))
        #expect(several == CompletionEdit(start: 4, end: 6, insertion: "খুশি", listing: ["খুশি", "খুশির"]))
        let noPrefix = CompletionEdit.plan(line: "s", cursor: 1, completion: LineCompletion(matches: ["save", "seed"], start: 0, end: 1))
        #expect(noPrefix?.insertion == "s")
        #expect(CompletionEdit.plan(line: "zz", cursor: 2, completion: LineCompletion(matches: [], start: 0, end: 2)) == nil)
    }

    @Test func columnsFillDownThenAcross() {
        #expect(CompletionEdit.columns(["load", "show", "stats", "split", "sample"], width: 24) == "load    stats   sample\nshow    split")
        #expect(CompletionEdit.columns(["a-very-long-name", "b"], width: 20) == "a-very-long-name\nb")
        #expect(CompletionEdit.columns([], width: 80) == "")
    }
}

/// Interrupts whatever cell runs, every 50 ms, from its own thread until `stop()` (an interrupt that lands
/// before the interpreter starts a cell is cleared by it, so one call is not enough).
final class RepeatedInterrupts: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false

    init(_ running: RunningCell) {
        Thread { [self] in
            for _ in 0..<400 {
                if lock.withLock({ stopped }) { return }
                running.interrupt()
                usleep(50_000)
            }
        }.start()
    }

    func stop() { lock.withLock { stopped = true } }
}
