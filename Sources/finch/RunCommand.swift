import ArgumentParser
import FinchLanguage
import FinchREPL
import Foundation

/// `finch run FILE`: runs a Finch script as one cell and prints what it shows (or JSON lines).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a .finch script, or the ```finch blocks of a Markdown file, stopping at the first error.",
        discussion: """
        Prints what a notebook cell would show: each statement's output, print text, progress and the \
        last value. The first error is printed as FILE:LINE:COL: error: … with the line and a caret \
        (for Markdown, the line of the .md file), and the status is 1 (130 after Ctrl-C).

        Paths in a script are relative to the current folder; in a Markdown file, to the file's folder \
        (as in a notebook). A Markdown file's blocks run in order as cells of one session.

        With --json, standard output holds one JSON value a line: each statement's value (its JSON \
        form, or {"text": …}), {"stream": "stdout"|"stderr", "text": …} for print, {"progress": ID, \
        "text": …} for finished progress and {"error": …, "line": L, "column": C} for a failure.
        """)

    @Flag(help: "Print each value as one JSON line instead of text.") var json = false
    @Argument(help: "The script (.finch) or literate Markdown file (.md).") var file: String

    func run() throws {
        lineBufferStandardOutput()
        let runner = ScriptRunner(format: json ? .json : .text)
        let running = runner.running
        let interrupts = InterruptSignal { if !running.interrupt() { Foundation.exit(ScriptRunner.interrupted) } }
        let status = withExtendedLifetime(interrupts) { runner.run(path: file) }
        if status != ScriptRunner.success { throw ExitCode(status) }
    }
}
