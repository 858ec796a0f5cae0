import FinchLanguage
import Foundation

/// Shows a cell's events as JSON lines on standard output, one JSON value a line, for programs that read
/// Finch (`finch run --json`). Standard output holds nothing else:
///
/// - a statement's value: its JSON form, or `{"text": PLAIN}` when it has none;
/// - `print`: `{"stream": "stdout" | "stderr", "text": TEXT}`;
/// - progress: only the finished update, as `{"progress": ID, "text": LINE}` (with `"value"`, its JSON
///   form, when it has one);
/// - help pages: `{"help": TEXT}`; `clear`: nothing;
/// - a failure: `{"error": MESSAGE, "line": L, "column": C, "interrupted": B}` (line and column when the
///   error has a place), while its rendered diagnostic goes to standard error for people.
public final class JSONLinesHost: LanguageHost {
    public let output: TextOutput
    private let lock = NSLock()

    public init(output: TextOutput) {
        self.output = output
    }

    public func emit(_ event: LanguageEvent) {
        switch event {
        case .output(let shown):
            write(Self.value(of: shown))
        case let .stream(toStandardError, text):
            write(.object([("stream", .string(toStandardError ? "stderr" : "stdout")), ("text", .string(text))]))
        case let .progress(id, shown, finished):
            guard finished else { return }
            var fields: [(String, JSONValue)] = [("progress", .string(id)), ("text", .string(TerminalHost.firstLine(of: shown.plain)))]
            if let json = shown.json { fields.append(("value", json)) }
            write(.object(fields))
        case .page(let shown):
            write(.object([("help", .string(shown.plain))]))
        case .clear:
            break
        }
    }

    public func readLine(prompt: String) throws -> String {
        throw InputUnavailable("finch run reads no input")
    }

    /// Writes the cell's value as a JSON line, or its failure (a JSON line, and the rendered diagnostic on
    /// standard error). Returns whether the cell failed.
    @discardableResult
    public func finish(_ result: CellResult, source: SourceText) -> Bool {
        if let failure = result.failure {
            var fields: [(String, JSONValue)] = [("error", .string(failure.diagnostic.message))]
            if let range = failure.diagnostic.range {
                fields += [("line", JSONValue(range.start.line + source.lineOffset)), ("column", JSONValue(range.start.column))]
            }
            fields.append(("interrupted", .bool(failure.interrupted)))
            write(.object(fields))
            lock.withLock { output.write(failure.rendered + "\n", toStandardError: true) }
            return true
        }
        if let value = result.value { write(Self.value(of: value)) }
        return false
    }

    /// A statement's JSON line: its JSON form, else its plain text as `{"text": …}`.
    static func value(of shown: Output) -> JSONValue {
        shown.json ?? .object([("text", .string(shown.plain))])
    }

    private func write(_ value: JSONValue) {
        lock.withLock { output.write(value.text + "\n", toStandardError: false) }
    }
}
