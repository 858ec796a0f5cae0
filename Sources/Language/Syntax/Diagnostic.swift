/// A cell or file of Finch source, with the name diagnostics print (`train.finch`, `cell[3]`,
/// `tutorial.md`) and where its first line sits in that file (fenced blocks of Markdown start mid-file).
public struct SourceText: Sendable {
    public var name: String
    public var text: String
    /// Added to every line number printed (0 for a whole file or a cell).
    public var lineOffset: Int

    public init(name: String, text: String, lineOffset: Int = 0) {
        self.name = name
        self.text = text
        self.lineOffset = lineOffset
    }

    /// The lines of `text`, split on "\n" and "\r\n" (Swift reads "\r\n" as one Character).
    public var lines: [Substring] {
        text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
    }
}

/// An error in a statement, with where it is and what would fix it. Parse errors, unknown commands and
/// keys, wrong types, out-of-range values and failures of a command all become one of these.
public struct Diagnostic: Error, Sendable, Equatable {
    /// What is wrong, in one sentence without a trailing period: "unknown option 'rnk' for 'lora'".
    public var message: String
    /// Where: the token the caret goes under (nil when the error is not tied to a place, such as a
    /// failure inside the engine; then the statement's range is used by the evaluator).
    public var range: SourceRange?
    /// Further lines: "did you mean 'r'?", "allowed values: cosine, linear, constant".
    public var notes: [String]

    public init(_ message: String, at range: SourceRange? = nil, notes: [String] = []) {
        self.message = message
        self.range = range
        self.notes = notes
    }

    /// `NAME:LINE:COL: error: MESSAGE`, the source line, a caret line (`^` under the first character,
    /// `~` under the rest of the range on that line), then one `note: ...` line per note.
    public func rendered(in source: SourceText) -> String {
        guard let range else {
            return (["\(source.name): error: \(message)"] + notes.map { "note: \($0)" }).joined(separator: "\n")
        }
        let lines = source.lines
        let line = range.start.line
        var out = ["\(source.name):\(line + source.lineOffset):\(range.start.column): error: \(message)"]
        if line >= 1, line <= lines.count {
            let text = String(lines[line - 1])
            let width = range.end.line == line ? max(1, range.end.column - range.start.column) : max(1, text.count - range.start.column + 1)
            // Tabs stay tabs under the caret so it lines up in any terminal.
            let lead = text.prefix(max(0, range.start.column - 1)).map { $0 == "\t" ? "\t" : " " }.joined()
            out.append(text)
            out.append(lead + "^" + String(repeating: "~", count: width - 1))
        }
        out += notes.map { "note: \($0)" }
        return out.joined(separator: "\n")
    }
}
