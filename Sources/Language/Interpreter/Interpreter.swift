import Foundation
import FinchTensor

/// How a cell ended when it did not finish: the diagnostic, rendered against the cell's source.
public struct CellFailure: Error, Sendable, Equatable {
    public let diagnostic: Diagnostic
    /// `NAME:LINE:COL: error: …` with the source line, caret and notes.
    public let rendered: String
    /// Whether the user interrupted the cell.
    public let interrupted: Bool
    /// The 0-based index of the failing statement (statements before it took effect).
    public let statementIndex: Int
}

/// What a cell produced: its value (the last statement's output, if any) or the failure that stopped it.
public struct CellResult: Sendable, Equatable {
    public var value: Output?
    public var failure: CellFailure?
}

/// Runs Finch cells against three sessions that live as long as the interpreter (the process).
/// One cell runs at a time; `interrupt()` may be called from any thread.
public final class Interpreter {
    public let dataset = DatasetSession()
    public let trainer = TrainerSession()
    public let metrics = MetricsSession()
    /// Variables set by `name = value`.
    public internal(set) var variables: [String: Value] = [:]
    /// The seed that `seed N` sets: the default for splits, samples, folds, heads, adapters and training.
    public internal(set) var seed: UInt64 = 42
    /// Relative paths in commands resolve against this folder.
    public var workingDirectory: URL
    /// Where model names (`model load "all-MiniLM-L6-v2"`) are looked up when no such folder exists here.
    public var modelsDirectory: URL
    private let interruption = CellInterruption()
    /// The running cell's cancellation token (a fresh one for every cell).
    var cancellation: CancellationToken { interruption.current }
    /// The front end of the running cell.
    weak var host: LanguageHost?
    /// Cells run so far (named `cell[N]` in diagnostics by front ends that have no other name).
    public private(set) var cellsRun = 0

    public init(workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                modelsDirectory: URL? = nil) {
        self.workingDirectory = workingDirectory
        let environment = ProcessInfo.processInfo.environment
        self.modelsDirectory = modelsDirectory ?? URL(fileURLWithPath: environment["FINCH_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/finch/models").path)
    }

    /// Asks the running cell to stop; commands check within a second and the cell ends with an error.
    /// An interrupt that comes after a cell ended is forgotten when the next one starts.
    public func interrupt() { interruption.interrupt() }

    /// What another thread (a signal handler, the kernel's control thread) holds to interrupt cells.
    public var interrupter: Interrupter { Interrupter(interruption: interruption) }

    /// Runs every statement of `source` in order, reporting to `host`. The first failing statement stops
    /// the cell; what the statements before it did stays.
    public func run(_ source: SourceText, host: LanguageHost) -> CellResult {
        cellsRun += 1
        interruption.startCell()
        self.host = host
        defer { self.host = nil }
        let statements: [Statement]
        do {
            statements = try Parser.parse(source)
        } catch {
            return CellResult(value: nil, failure: failure(error, in: source, statement: 0))
        }
        var last: Output?
        for (index, statement) in statements.enumerated() {
            if let shown = last { host.emit(.output(shown)) }
            do {
                last = try execute(statement)
            } catch {
                let diagnostic = diagnostic(for: error, statement: statement)
                return CellResult(value: nil, failure: failure(diagnostic, in: source, statement: index,
                                                               interrupted: error is Interrupted || cancellation.isCancelled))
            }
        }
        return CellResult(value: last, failure: nil)
    }

    private func failure(_ diagnostic: Diagnostic, in source: SourceText, statement: Int, interrupted: Bool = false) -> CellFailure {
        CellFailure(diagnostic: diagnostic, rendered: diagnostic.rendered(in: source), interrupted: interrupted, statementIndex: statement)
    }

    /// Any error of a statement as a diagnostic: engine errors point at the command's words.
    private func diagnostic(for error: Error, statement: Statement) -> Diagnostic {
        if let diagnostic = error as? Diagnostic { return diagnostic }
        let range = statement.commandRange
        if let session = error as? SessionError {
            return Diagnostic(session.problem, at: range, notes: session.hint.map { [$0] } ?? [])
        }
        return Diagnostic("\(error)", at: range)
    }

    /// Runs one statement; returns what it shows.
    func execute(_ statement: Statement) throws -> Output? {
        switch statement {
        case let .assignment(name, nameRange, expression, _):
            if CommandTable.firstWords.contains(name) {
                throw Diagnostic("'\(name)' is a command; choose another variable name", at: nameRange)
            }
            variables[name] = try Evaluator(variables: variables).value(expression)
            return nil
        case .expression(let expression):
            return Output(try Evaluator(variables: variables).value(expression))
        case let .helpQuery(topic, range):
            host?.emit(.page(try Help.output(for: topic, at: range)))
            return nil
        case .command(let command):
            return try execute(command)
        }
    }

    private func execute(_ command: CommandStatement) throws -> Output? {
        let words = command.words.map(\.0)
        guard let spec = CommandTable.longestMatch(words) else {
            // A lone word that names a variable is an expression.
            if words.count == 1, command.positionals.isEmpty, command.options.isEmpty, let value = variables[words[0]] {
                return Output(value)
            }
            throw CommandTable.unknownCommand(words: command.words, variables: Array(variables.keys))
        }
        let arguments = try Binder(spec: spec, variables: variables).bind(command)
        let wordsRange = command.words[0].1.union(command.words[spec.words.count - 1].1)
        let invocation = Invocation(interpreter: self, spec: spec, commandRange: wordsRange, arguments: arguments)
        let output = try spec.run(invocation)
        if cancellation.isCancelled { throw Interrupted("interrupted") }
        return output
    }

    /// A path as written in a command, resolved against the working folder.
    public func resolve(path: String) -> URL {
        let expanded = (path as NSString).expandingTildeInPath
        return expanded.hasPrefix("/") ? URL(fileURLWithPath: expanded) : workingDirectory.appendingPathComponent(expanded)
    }
}

/// Interrupts the cells of one interpreter from any thread.
public struct Interrupter: Sendable {
    let interruption: CellInterruption
    public func interrupt() { interruption.interrupt() }
}

/// The cancellation token of the running cell, replaced by a fresh one as each cell starts, so an
/// interrupt that lands after a cell ended cannot stop the next one.
final class CellInterruption: @unchecked Sendable {
    private let lock = NSLock()
    private var token = CancellationToken()

    var current: CancellationToken { lock.withLock { token } }
    func startCell() { lock.withLock { token = CancellationToken() } }
    func interrupt() { lock.withLock { token.cancel() } }
}

extension Statement {
    /// Where a statement's errors point when nothing more precise is known: a command's words.
    var commandRange: SourceRange {
        if case .command(let command) = self, let first = command.words.first, let last = command.words.last {
            return first.1.union(last.1)
        }
        return range
    }
}
