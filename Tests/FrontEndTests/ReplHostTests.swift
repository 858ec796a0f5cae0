@testable import FinchLanguage
import FinchREPL
import Foundation
import Testing

/// How `TerminalHost` (finch repl, finch run) and `JSONLinesHost` (finch run --json) show each event.
@Suite struct ReplHostTests {
    private let erase = "\r\u{1B}[K"

    private func failure(interrupted: Bool = false) -> CellResult {
        let source = SourceText(name: "cell[1]", text: "sleep 30")
        let diagnostic = Diagnostic("sleep interrupted", at: nil)
        return CellResult(value: nil, failure: CellFailure(diagnostic: diagnostic, rendered: diagnostic.rendered(in: source),
                                                           interrupted: interrupted, statementIndex: 0))
    }

    @Test func plainOutputsStreamsPagesAndValue() {
        let out = CapturedOutput()
        let host = TerminalHost(output: out, isTerminal: false)
        host.emit(.output(Output(plain: "first\nsecond")))
        host.emit(.stream(toStandardError: false, text: "printed\n"))
        host.emit(.stream(toStandardError: true, text: "warned\n"))
        host.emit(.page(Output(plain: "sleep SECONDS\n")))
        host.emit(.clear)
        host.emit(.output(Output(plain: "")))
        #expect(host.finish(CellResult(value: Output(plain: "42"), failure: nil)) == false)
        #expect(out.standardOutput == "first\nsecond\nprinted\nsleep SECONDS\n42\n")
        #expect(out.standardError == "warned\n")
    }

    @Test func plainProgressShowsOnlyTheFinishedLine() {
        let out = CapturedOutput()
        let host = TerminalHost(output: out, isTerminal: false)
        host.emit(.progress(id: "p", output: Output(plain: "step 1/3 loss 0.9"), finished: false))
        host.emit(.progress(id: "p", output: Output(plain: "step 2/3 loss 0.7"), finished: false))
        host.emit(.progress(id: "p", output: Output(plain: "step 3/3 loss 0.5\nextra line"), finished: true))
        host.finish(CellResult(value: nil, failure: nil))
        #expect(out.standardOutput == "step 3/3 loss 0.5\n")
    }

    @Test func plainProgressStoppedEarlyShowsItsLastLine() {
        let out = CapturedOutput()
        let host = TerminalHost(output: out, isTerminal: false)
        host.emit(.progress(id: "p", output: Output(plain: "step 2/400"), finished: false))
        #expect(host.finish(failure(interrupted: true)))
        #expect(out.standardOutput == "step 2/400\n")
        #expect(out.standardError.hasPrefix("cell[1]: error: sleep interrupted"))
    }

    @Test func terminalProgressIsOneRedrawnLine() {
        let out = CapturedOutput()
        let host = TerminalHost(output: out, isTerminal: true, width: { 40 })
        host.emit(.progress(id: "p", output: Output(plain: "step 1/3"), finished: false))
        host.emit(.progress(id: "p", output: Output(plain: "step 2/3"), finished: false))
        host.emit(.stream(toStandardError: false, text: "note"))
        host.emit(.progress(id: "p", output: Output(plain: "step 3/3"), finished: true))
        host.emit(.output(Output(plain: "done")))
        #expect(out.standardOutput == "\(erase)step 1/3\(erase)step 2/3\(erase)note\nstep 2/3\(erase)step 3/3\ndone\n")
    }

    @Test func terminalProgressIsCutToTheWidth() {
        let out = CapturedOutput()
        let host = TerminalHost(output: out, isTerminal: true, width: { 20 })
        host.emit(.progress(id: "p", output: Output(plain: String(repeating: "খ", count: 30)), finished: true))
        #expect(out.standardOutput == erase + String(repeating: "খ", count: 18) + "…\n")
    }

    @Test func terminalClearAndInterruptedProgress() {
        let out = CapturedOutput()
        let host = TerminalHost(output: out, isTerminal: true, width: { 80 })
        host.emit(.clear)
        host.emit(.progress(id: "p", output: Output(plain: "step 2/400"), finished: false))
        #expect(host.finish(failure(interrupted: true)))
        #expect(out.standardOutput == "\u{1B}[H\u{1B}[2J\(erase)step 2/400\n")
    }

    @Test func echoedControlCPutsTheErrorOnAFreshLine() {
        // Ctrl-C echoes "^C" at the cursor: the error must not start right after it.
        let out = CapturedOutput()
        let host = TerminalHost(output: out, isTerminal: true)
        host.noteInterruptKey()
        host.finish(failure(interrupted: true))
        #expect(out.standardOutput == "\n")
        #expect(out.standardError == "cell[1]: error: sleep interrupted\n")

        // A progress redraw after the echo erases it: no blank line before the error.
        let redrawn = CapturedOutput()
        let training = TerminalHost(output: redrawn, isTerminal: true, width: { 80 })
        training.emit(.progress(id: "p", output: Output(plain: "step 11/30"), finished: false))
        training.noteInterruptKey()
        training.emit(.progress(id: "p", output: Output(plain: "step 12/30"), finished: true))
        training.finish(failure(interrupted: true))
        #expect(redrawn.standardOutput == "\(erase)step 11/30\(erase)step 12/30\n")

        // The echo at the end of an open progress line: one newline ends both.
        let open = CapturedOutput()
        let stopped = TerminalHost(output: open, isTerminal: true, width: { 80 })
        stopped.emit(.progress(id: "p", output: Output(plain: "step 3/30"), finished: false))
        stopped.noteInterruptKey()
        stopped.finish(failure(interrupted: true))
        #expect(open.standardOutput == "\(erase)step 3/30\n")

        // Not a terminal: nothing was echoed into the output.
        let piped = CapturedOutput()
        let plain = TerminalHost(output: piped, isTerminal: false)
        plain.noteInterruptKey()
        plain.finish(failure(interrupted: true))
        #expect(piped.standardOutput == "")
    }

    @Test func noInputMeansReadLineThrows() throws {
        let host = TerminalHost(output: CapturedOutput(), isTerminal: false)
        #expect(throws: InputUnavailable.self) { try host.readLine(prompt: "? ") }
        #expect(throws: InputUnavailable.self) { try JSONLinesHost(output: CapturedOutput()).readLine(prompt: "? ") }
        let asking = TerminalHost(output: CapturedOutput(), isTerminal: false, readLine: { "answer to \($0)" })
        #expect(try asking.readLine(prompt: "q") == "answer to q")
    }

    @Test func jsonLinesForEveryKindOfEvent() throws {
        let out = CapturedOutput()
        let host = JSONLinesHost(output: out)
        host.emit(.output(Output(plain: "42", json: 42)))
        host.emit(.output(Output(plain: "no json form")))
        host.emit(.stream(toStandardError: true, text: "আমি খুব খুশি\n"))
        host.emit(.progress(id: "p", output: Output(plain: "step 1"), finished: false))
        host.emit(.progress(id: "p", output: Output(plain: "step 2", json: .object([("step", 2)])), finished: true))
        host.emit(.page(Output(plain: "help text")))
        host.emit(.clear)
        let source = SourceText(name: "s.finch", text: "x = 1\nfoo")
        let range: SourceRange = try #require(diagnosticRange(in: source))
        let diagnostic = Diagnostic("unknown command 'foo'", at: range)
        host.finish(CellResult(value: nil, failure: CellFailure(diagnostic: diagnostic, rendered: diagnostic.rendered(in: source),
                                                                interrupted: false, statementIndex: 1)), source: source)
        let lines = out.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines == [
            "42", #"{"text":"no json form"}"#, #"{"stream":"stderr","text":"আমি খুব খুশি\n"}"#,
            #"{"progress":"p","text":"step 2","value":{"step":2}}"#, #"{"help":"help text"}"#,
            #"{"error":"unknown command 'foo'","line":2,"column":1,"interrupted":false}"#,
        ])
        for line in lines {
            _ = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
        }
        #expect(out.standardError.hasPrefix("s.finch:2:1: error: unknown command 'foo'\nfoo\n^~~"))
    }

    /// The range of the failing statement of `source`, as the interpreter reports it.
    private func diagnosticRange(in source: SourceText) -> SourceRange? {
        let result = Interpreter().run(source, host: TerminalHost(output: CapturedOutput(), isTerminal: false))
        return result.failure?.diagnostic.range
    }
}
