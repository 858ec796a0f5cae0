import Foundation

/// One run of a command: its validated arguments, the sessions, and the front end to report to.
/// Handlers read arguments by name; each argument was checked against its `ValueKind` already.
public final class Invocation {
    public let interpreter: Interpreter
    public let spec: CommandSpec
    /// Where the command's words are (errors not tied to an argument point here).
    public let commandRange: SourceRange
    private let arguments: [String: (value: Value, range: SourceRange)]

    init(interpreter: Interpreter, spec: CommandSpec, commandRange: SourceRange,
         arguments: [String: (value: Value, range: SourceRange)]) {
        self.interpreter = interpreter
        self.spec = spec
        self.commandRange = commandRange
        self.arguments = arguments
    }

    public var dataset: DatasetSession { interpreter.dataset }
    public var trainer: TrainerSession { interpreter.trainer }
    public var metrics: MetricsSession { interpreter.metrics }

    /// Whether the argument was given.
    public func has(_ name: String) -> Bool { arguments[name] != nil }
    public func value(_ name: String) -> Value? { arguments[name]?.value }
    /// Where the argument was written (the command's words when it was not).
    public func range(_ name: String) -> SourceRange { arguments[name]?.range ?? commandRange }

    /// An integer argument (its kind was checked: whole and within ±9e15); other numbers clamp.
    public func int(_ name: String) -> Int? {
        guard case .number(let x)? = value(name), !x.isNaN else { return nil }
        return abs(x) < 9e15 ? Int(x) : (x > 0 ? Int.max / 2 : Int.min / 2)
    }
    public func int(_ name: String, default fallback: Int) -> Int { int(name) ?? fallback }

    public func double(_ name: String) -> Double? {
        if case .number(let x)? = value(name) { return x }
        return nil
    }
    public func double(_ name: String, default fallback: Double) -> Double { double(name) ?? fallback }

    public func bool(_ name: String) -> Bool? {
        if case .bool(let b)? = value(name) { return b }
        return nil
    }
    public func bool(_ name: String, default fallback: Bool) -> Bool { bool(name) ?? fallback }

    /// A string, name or word argument as text.
    public func string(_ name: String) -> String? {
        switch value(name) {
        case .string(let s)?, .word(let s)?: s
        case let other?: other.plainText
        case nil: nil
        }
    }
    public func string(_ name: String, default fallback: String) -> String { string(name) ?? fallback }

    /// A list argument's items (a single value is a list of one).
    public func list(_ name: String) -> [Value] {
        switch value(name) {
        case .list(let items)?: items
        case let single?: [single]
        case nil: []
        }
    }

    /// A list argument's items as text.
    public func strings(_ name: String) -> [String] {
        list(name).map { if case .string(let s) = $0 { s } else if case .word(let s) = $0 { s } else { $0.plainText } }
    }

    /// A file or folder argument, relative to the working folder; a missing one is an error at the argument.
    public func existingPath(_ name: String, what: String = "file") throws(Diagnostic) -> URL {
        guard let text = string(name) else { throw Diagnostic("missing \(name)", at: commandRange) }
        let url = interpreter.resolve(path: text)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw Diagnostic("no such \(what): \(text)", at: range(name),
                             notes: ["paths are relative to \(interpreter.workingDirectory.path)"])
        }
        return url
    }

    /// An error pointing at an argument (or at the command when it was not given).
    public func error(_ message: String, at name: String? = nil, notes: [String] = []) -> Diagnostic {
        Diagnostic(message, at: name.map(range) ?? commandRange, notes: notes)
    }

    /// Reports an event to the front end.
    public func emit(_ event: LanguageEvent) { interpreter.host?.emit(event) }

    /// Whether the user asked to stop (Ctrl-C, interrupt); long loops check it at least once a second.
    public var isCancelled: Bool { interpreter.cancellation.isCancelled }

    /// Asks the user for a line (a front end that cannot ask throws, and the message says what to pass instead).
    public func ask(_ prompt: String, otherwise instead: String) throws -> String {
        guard let host = interpreter.host else { throw error("cannot ask for input here", notes: [instead]) }
        do {
            return try host.readLine(prompt: prompt)
        } catch {
            throw self.error("cannot ask for input here (\(error))", notes: [instead])
        }
    }
}

/// The front end a cell runs for: it shows events and, when it can, asks the user for input.
public protocol LanguageHost: AnyObject {
    func emit(_ event: LanguageEvent)
    /// A line typed by the user; throws when the front end cannot ask (no terminal, allow_stdin false).
    func readLine(prompt: String) throws -> String
}

/// Raised when the user interrupts a command; the sessions keep what was done.
public struct Interrupted: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
