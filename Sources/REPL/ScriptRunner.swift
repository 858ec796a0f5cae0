import FinchLanguage
import Foundation

/// What `finch run FILE` does: runs a script as one cell named by its path and prints what a cell shows.
///
/// Text mode prints every statement's output, `print` text on its stream, progress (redrawn in a
/// terminal, else the finished line) and the last value, as `TerminalHost` does. JSON mode prints one JSON
/// line per value, print and finished progress (see `JSONLinesHost`). The first failing statement stops
/// the script: its diagnostic (`FILE:LINE:COL: error: …`) goes to standard error and the status is 1
/// (130 when interrupted); statements before it took effect. The script reads no input.
///
/// Any file name is run as a script of statements, except Markdown (`.md`, `.markdown`): a literate
/// script whose ```finch blocks run in order as cells of one session, with relative paths resolved
/// against the document's folder and errors numbered with the Markdown file's own lines. Notebooks
/// (`.ipynb`) are refused: they run in Jupyter, or after `finch convert`.
public final class ScriptRunner {
    public enum Format: Sendable { case text, json }

    /// Exit statuses.
    public static let success: Int32 = 0
    public static let failure: Int32 = 1
    public static let interrupted: Int32 = 130

    public let interpreter: Interpreter
    public let output: TextOutput
    public let format: Format
    /// Whether standard output is a terminal (text mode redraws progress in place).
    public let isTerminal: Bool
    /// The running cell, for a SIGINT handler: `running.interrupt()` stops it (thread-safe).
    public let running = RunningCell()

    public init(interpreter: Interpreter = Interpreter(), format: Format = .text, output: TextOutput = StandardStreams(),
                isTerminal: Bool = Terminal.isTerminal(1)) {
        self.interpreter = interpreter
        self.format = format
        self.output = output
        self.isTerminal = isTerminal
    }

    /// Runs the script at `path` (relative to the current folder); returns the exit status.
    public func run(path: String) -> Int32 {
        let cells: [SourceText]
        switch Self.load(path) {
        case .success(let loaded): cells = loaded
        case .failure(let problem):
            output.write("\(path): error: \(problem.description)\n", toStandardError: true)
            return Self.failure
        }
        if Self.isMarkdown(path) {
            interpreter.workingDirectory = URL(fileURLWithPath: (path as NSString).expandingTildeInPath).deletingLastPathComponent()
        }
        for cell in cells {
            let status = run(cell)
            if status != Self.success { return status }
        }
        return Self.success
    }

    /// Runs `source` as one cell; returns the exit status.
    public func run(_ source: SourceText) -> Int32 {
        let result: CellResult
        let failed: Bool
        switch format {
        case .text:
            let host = TerminalHost(output: output, isTerminal: isTerminal)
            result = running.run(interpreter, onInterrupt: host.noteInterruptKey) { interpreter.run(source, host: host) }
            failed = host.finish(result)
        case .json:
            let host = JSONLinesHost(output: output)
            result = running.run(interpreter) { interpreter.run(source, host: host) }
            failed = host.finish(result, source: source)
        }
        guard failed else { return Self.success }
        return result.failure?.interrupted == true ? Self.interrupted : Self.failure
    }

    /// Why a script could not be read.
    public struct LoadProblem: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    static func isMarkdown(_ path: String) -> Bool {
        ["md", "markdown"].contains(URL(fileURLWithPath: path).pathExtension.lowercased())
    }

    /// The cells of the script at `path`, named `path` (one for a script, one per ```finch block of a
    /// Markdown file), or why it cannot be run.
    public static func load(_ path: String) -> Result<[SourceText], LoadProblem> {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        if url.pathExtension.lowercased() == "ipynb" {
            return .failure(LoadProblem(description: "notebooks run in Jupyter (finch kernel); `finch convert \(path) --to md` gives a script finch run takes"))
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            return .failure(LoadProblem(description: "no such file"))
        }
        guard !isFolder.boolValue else { return .failure(LoadProblem(description: "is a folder, not a script")) }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            return .failure(LoadProblem(description: "cannot read the file"))
        }
        guard var text = String(data: data, encoding: .utf8) else {
            return .failure(LoadProblem(description: "the file is not UTF-8 text"))
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        guard isMarkdown(path) else {
            // A first `#!` line (an executable script) is a comment to the language.
            return .success([SourceText(name: path, text: text)])
        }
        do {
            return .success(try LiterateDocument(markdown: text, name: path).cellSources(name: path))
        } catch {
            return .failure(LoadProblem(description: error.rendered(in: SourceText(name: path, text: text))
                .replacingOccurrences(of: "\(path): error: ", with: "")))
        }
    }
}
