import FinchLanguage

/// A front end for tests: records every event and answers input from a queue.
final class RecordingHost: LanguageHost {
    var events: [LanguageEvent] = []
    var answers: [String] = []

    func emit(_ event: LanguageEvent) { events.append(event) }

    func readLine(prompt: String) throws -> String {
        guard !answers.isEmpty else { throw InputNotAvailable() }
        return answers.removeFirst()
    }

    /// Text printed to standard output.
    var printed: String {
        events.compactMap { if case let .stream(false, text) = $0 { text } else { nil } }.joined()
    }

    /// Outputs shown by statements before the last.
    var outputs: [Output] {
        events.compactMap { if case let .output(output) = $0 { output } else { nil } }
    }

    /// Progress updates, in order.
    var progress: [(id: String, output: Output, finished: Bool)] {
        events.compactMap { if case let .progress(id, output, finished) = $0 { (id, output, finished) } else { nil } }
    }

    struct InputNotAvailable: Error {}
}

/// Runs `code` as one cell and returns the result (a failure is returned, not thrown).
@discardableResult
func run(_ interpreter: Interpreter, _ code: String, host: RecordingHost = RecordingHost(), name: String = "cell[1]") -> CellResult {
    interpreter.run(SourceText(name: name, text: code), host: host)
}
