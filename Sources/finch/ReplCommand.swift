import ArgumentParser
import FinchLanguage
import FinchREPL
import Foundation

/// `finch repl` (and `finch` alone): the interactive Finch prompt, or statements from a pipe.
struct Repl: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Type Finch statements at a prompt (what finch does with no subcommand).",
        discussion: """
        Line editing and history (kept in $FINCH_HISTORY, default ~/.finch_history), TAB completes commands,
        options, values and paths, an open [ ( or \"\"\" continues on the next line. Ctrl-C stops a running
        command (sessions stay as they were) or clears the line; Ctrl-D on an empty line exits.
        With standard input not a terminal, statements are read from it without prompts, and the status is
        1 if any of them failed.
        """)

    @Option(help: "History file (default: $FINCH_HISTORY, else ~/.finch_history).") var history: String?

    func run() throws {
        let interactive = Terminal.isTerminal(0)
        let reader = LineReader(historyFile: interactive ? historyFile() : nil)
        let loop = ReplLoop(
            interpreter: Interpreter(), reader: reader,
            banner: "Finch \(FinchVersion.current) — help lists the commands, Ctrl-D exits")
        // A running cell stops on Ctrl-C. At a terminal prompt libedit reads Ctrl-C as a key; elsewhere
        // (a pipe) SIGINT between cells ends the REPL as it would any program.
        let running = loop.running
        let interrupts = InterruptSignal {
            if !running.interrupt(), !interactive { Foundation.exit(ScriptRunner.interrupted) }
        }
        let status = withExtendedLifetime(interrupts) { loop.run() }
        if status != ScriptRunner.success { throw ExitCode(status) }
    }

    private func historyFile() -> URL {
        if let history { return URL(fileURLWithPath: (history as NSString).expandingTildeInPath) }
        if let path = ProcessInfo.processInfo.environment["FINCH_HISTORY"], !path.isEmpty {
            return URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".finch_history")
    }
}
