/// Whether a REPL prompt or a Jupyter `is_complete_request` should run the text or ask for another line.
public enum InputCompleteness: Sendable, Equatable {
    /// The text parses: run it. Empty text and text with only comments are complete.
    case complete
    /// The text stops inside a `"""` string, inside an open `[` or `(`, or after a line-ending `\`:
    /// ask for another line, pre-filled with `indent` ("    " inside brackets, "" otherwise).
    case incomplete(indent: String)
    /// The text has an error that no further line can fix: run it so that the error is shown.
    case invalid

    /// Classifies `text`. Exactly the complete texts are those `Parser.parse` accepts.
    public static func check(_ text: String) -> InputCompleteness {
        let scanned: ScannedSource
        do {
            scanned = try Lexer.scan(text)
        } catch {
            return .invalid
        }
        var parser = TokenParser(tokens: scanned.tokens, lineOffset: 0)
        do {
            _ = try parser.parseStatements()
        } catch {
            guard parser.failedAtEndOfInput else { return .invalid }
            if case .multiLineString = scanned.unfinished { return .incomplete(indent: "") }
            if scanned.openBrackets > 0 { return .incomplete(indent: "    ") }
            // `x = \` goes on; `x =` alone lacks a value that an empty next line would not supply.
            return scanned.unfinished == nil ? .invalid : .incomplete(indent: "")
        }
        return scanned.unfinished == nil ? .complete : .incomplete(indent: "")
    }
}
