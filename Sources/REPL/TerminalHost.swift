import FinchLanguage
import Foundation

/// The front end has no way to ask the user for a line (`finch run`, or the input ended).
public struct InputUnavailable: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Shows a cell's events as text, the way `finch repl` and `finch run` print them.
///
/// - statement outputs, help pages and the cell's value: their plain text (charts are drawn with
///   Unicode blocks already), one newline after each;
/// - `print`: its text, on standard output or standard error as the statement asked;
/// - progress: in a terminal one line redrawn in place (`\r` + erase line), cut to the terminal's width
///   and ended with a newline by the finished update; other output during progress is written above
///   the line, which is then redrawn. Not in a terminal: only the finished update's line (or, when the
///   cell stops before that, the last update's);
/// - `clear`: clears the screen in a terminal; nothing elsewhere.
///
/// Events may come from any thread; each is written whole.
public final class TerminalHost: LanguageHost, @unchecked Sendable {
    public let output: TextOutput
    /// Whether standard output is a terminal (progress is redrawn in place, `clear` clears).
    public let isTerminal: Bool
    private let width: () -> Int
    private let lineSource: ((String) throws -> String)?
    private let lock = NSLock()
    /// The progress display drawn last, and its line. In a terminal the line is on screen without a
    /// newline; elsewhere it has not been written yet.
    private var progress: (id: String, line: String)?
    /// The terminal echoed "^C" after what was written last (the cursor is not where the host left it).
    private var echoedInterrupt = false

    /// A host writing to `output`. `readLine` answers `input` with the prompt; without `readLine` the host
    /// has no input and `input`-style questions fail (the language then says what to pass instead).
    public init(output: TextOutput, isTerminal: Bool, width: @escaping () -> Int = { Terminal.width(of: 1) },
                readLine: ((String) throws -> String)? = nil) {
        self.output = output
        self.isTerminal = isTerminal
        self.width = width
        self.lineSource = readLine
    }

    /// Notes that Ctrl-C was pressed while the cell runs: the terminal echoed "^C" at the cursor, so the
    /// next text starts on a new line unless it redraws the line anyway (thread-safe).
    public func noteInterruptKey() {
        lock.withLock { echoedInterrupt = isTerminal }
    }

    public func emit(_ event: LanguageEvent) {
        lock.withLock {
            switch event {
            case .output(let shown), .page(let shown):
                writeAboveProgress(lines(shown.plain), toStandardError: false)
            case let .stream(toStandardError, text):
                writeAboveProgress(text, toStandardError: toStandardError)
            case let .progress(id, shown, finished):
                showProgress(id: id, line: Self.firstLine(of: shown.plain), finished: finished)
            case .clear:
                guard isTerminal else { return }
                progress = nil
                write(Terminal.clearScreen, toStandardError: false)
            }
        }
    }

    public func readLine(prompt: String) throws -> String {
        guard let lineSource else {
            throw InputUnavailable("this front end reads no input")
        }
        lock.withLock { endProgressLine() }
        return try lineSource(prompt)
    }

    /// Ends what the cell left open (a progress line), then shows its value (standard output) or failure
    /// (its rendered diagnostic, standard error). Returns whether the cell failed.
    @discardableResult
    public func finish(_ result: CellResult) -> Bool {
        lock.withLock {
            endProgressLine()
            if let failure = result.failure {
                write(failure.rendered + "\n", toStandardError: true)
            } else if let value = result.value {
                write(lines(value.plain), toStandardError: false)
            }
            if echoedInterrupt { write("\n", toStandardError: false) }
        }
        return result.failure != nil
    }

    /// Writes to the output; after an echoed "^C", text that neither redraws its line nor starts a new one
    /// is put on a new line.
    private func write(_ text: String, toStandardError: Bool) {
        if echoedInterrupt, !text.hasPrefix("\r"), !text.hasPrefix("\n") { output.write("\n", toStandardError: false) }
        echoedInterrupt = false
        output.write(text, toStandardError: toStandardError)
    }

    /// Text with one final newline (nothing for empty text).
    private func lines(_ text: String) -> String {
        text.isEmpty ? "" : text.hasSuffix("\n") ? text : text + "\n"
    }

    /// Writes `text` so that an open progress line stays the last line on screen.
    private func writeAboveProgress(_ text: String, toStandardError: Bool) {
        guard !text.isEmpty else { return }
        guard isTerminal, let open = progress else {
            write(text, toStandardError: toStandardError)
            return
        }
        write(Terminal.eraseLine, toStandardError: false)
        write(text.hasSuffix("\n") ? text : text + "\n", toStandardError: toStandardError)
        write(open.line, toStandardError: false)
    }

    private func showProgress(id: String, line: String, finished: Bool) {
        guard isTerminal else {
            if let shown = progress, shown.id != id { write(shown.line + "\n", toStandardError: false) }
            progress = finished ? nil : (id, line)
            if finished { write(line + "\n", toStandardError: false) }
            return
        }
        if let open = progress, open.id != id { write("\n", toStandardError: false) }
        let fitted = Self.fit(line, width: width())
        write(Terminal.eraseLine + fitted + (finished ? "\n" : ""), toStandardError: false)
        progress = finished ? nil : (id, fitted)
    }

    /// After an unfinished progress display: the line ends (terminal), or the last update is written.
    private func endProgressLine() {
        guard let open = progress else { return }
        write(isTerminal ? "\n" : open.line + "\n", toStandardError: false)
        progress = nil
    }

    /// The first line of a progress display's text (progress is one line; extra lines are dropped).
    static func firstLine(of text: String) -> String {
        String(text.prefix { $0 != "\n" && $0 != "\r" })
    }

    /// `line` cut to fit in `width` columns without wrapping (one column stays free for the cursor).
    static func fit(_ line: String, width: Int) -> String {
        let room = max(10, width - 1)
        return line.count <= room ? line : String(line.prefix(room - 1)) + "…"
    }
}
