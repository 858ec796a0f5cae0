import FinchLanguage
import Foundation

/// What `finch repl` does: reads statements, runs each complete entry as a cell, prints what it shows.
///
/// In a terminal (`reader.isInteractive`): a banner, libedit editing with history, TAB completion from the
/// interpreter, a continuation prompt while `isComplete` says the entry goes on (pre-filled with its
/// indent), Ctrl-C at the prompt abandons the entry, Ctrl-D on an empty line ends the loop (status 0) and
/// the history is saved (after every entry too). Errors are printed and the loop goes on.
///
/// Not in a terminal: statements are read without prompts, entries still gathered by `isComplete`,
/// diagnostics named `<stdin>` with the input's line numbers; the status is 1 when any cell failed.
///
/// A SIGINT handler calls `running.interrupt()` (thread-safe) to stop the running cell; the sessions keep
/// what it did.
public final class ReplLoop {
    public let interpreter: Interpreter
    public let reader: LineReader
    public let output: TextOutput
    /// One line shown before the first prompt in a terminal (nil: none).
    public let banner: String?
    /// The running cell, for a SIGINT handler: `running.interrupt()` stops it (thread-safe).
    public let running = RunningCell()
    private lazy var host = TerminalHost(output: output, isTerminal: isTerminal, readLine: { [unowned self] in try self.ask($0) })
    private let isTerminal: Bool
    /// Entries run so far (cells are named `cell[N]` in a terminal).
    public private(set) var entries = 0
    /// Cells that failed (or were interrupted).
    public private(set) var failures = 0

    public init(interpreter: Interpreter, reader: LineReader, output: TextOutput = StandardStreams(),
                isTerminal: Bool? = nil, banner: String? = nil) {
        self.interpreter = interpreter
        self.reader = reader
        self.output = output
        self.isTerminal = isTerminal ?? (reader.isInteractive && Terminal.isTerminal(1))
        self.banner = banner
        reader.completer = { [weak self] line, cursor in
            self?.complete(line: line, cursor: cursor) ?? LineCompletion(matches: [], start: cursor, end: cursor)
        }
    }

    /// Reads and runs entries until the input ends; returns the exit status.
    public func run() -> Int32 {
        if reader.isInteractive, let banner { output.write(banner + "\n", toStandardError: false) }
        var pending: [String] = []
        var firstLine = 1, lineNumber = 0
        while true {
            let prefill = pending.isEmpty ? "" : indent(for: pending.joined(separator: "\n"))
            switch reader.read(continuation: !pending.isEmpty, prefill: prefill) {
            case .interrupted:
                pending = []
            case .end:
                if reader.isInteractive {
                    output.write(pending.isEmpty ? "\n" : "\n(unfinished entry dropped)\n", toStandardError: false)
                    saveHistory(reportingErrors: true)
                    return ScriptRunner.success
                }
                if !pending.isEmpty { runEntry(pending.joined(separator: "\n"), firstLine: firstLine) }
                return failures > 0 ? ScriptRunner.failure : ScriptRunner.success
            case .line(let line):
                lineNumber += line.split(separator: "\n", omittingEmptySubsequences: false).count
                if pending.isEmpty { firstLine = lineNumber }
                pending.append(line)
                let code = pending.joined(separator: "\n")
                if case .incomplete = interpreter.isComplete(code) { continue }
                pending = []
                runEntry(code, firstLine: firstLine)
            }
        }
    }

    /// Runs one complete entry (blank entries are skipped), adding it to the history in a terminal.
    private func runEntry(_ code: String, firstLine: Int) {
        guard !code.allSatisfy(\.isWhitespace) else { return }
        entries += 1
        let source: SourceText
        if reader.isInteractive {
            reader.addHistory(code)
            saveHistory(reportingErrors: false)
            source = SourceText(name: "cell[\(entries)]", text: code)
        } else {
            source = SourceText(name: "<stdin>", text: code, lineOffset: firstLine - 1)
        }
        let result = running.run(interpreter, onInterrupt: host.noteInterruptKey) { interpreter.run(source, host: host) }
        if host.finish(result) { failures += 1 }
    }

    /// The indent a continuation line starts with (what `isComplete` asks for), in a terminal.
    private func indent(for code: String) -> String {
        guard reader.isInteractive, case .incomplete(let indent) = interpreter.isComplete(code) else { return "" }
        return indent
    }

    /// Completion for the edited line (commands, keys, values, variables, paths inside strings).
    func complete(line: String, cursor: Int) -> LineCompletion {
        let completions = interpreter.complete(line, cursor: cursor)
        return LineCompletion(matches: completions.matches, start: completions.start, end: completions.end)
    }

    /// A line for the running cell (`input`), read from the terminal or the plain input.
    private func ask(_ prompt: String) throws -> String {
        if !reader.isInteractive { output.write(prompt, toStandardError: false) }
        switch reader.read(prompt: prompt) {
        case .line(let line):
            if !reader.isInteractive { output.write("\n", toStandardError: false) }
            return line
        case .interrupted:
            interpreter.interrupt()
            throw Interrupted("interrupted")
        case .end:
            throw InputUnavailable("the input ended")
        }
    }

    private var historyErrorShown = false

    /// Writes the history file; a failure is reported once.
    private func saveHistory(reportingErrors: Bool) {
        do {
            try reader.saveHistory()
        } catch {
            guard reportingErrors || !historyErrorShown else { return }
            historyErrorShown = true
            output.write("finch: \(error)\n", toStandardError: true)
        }
    }
}
