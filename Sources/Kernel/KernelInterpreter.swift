/// The kernel's view of a language: the protocol core (sockets, wire format, handlers) drives an
/// interpreter through this interface and knows nothing else about it (as xeus does). The interpreter
/// publishes through the `ExecutionContext` callbacks while a cell runs.

/// Output in several representations, keyed by MIME type: `text/plain` always, others where useful
/// (`text/html`, `image/svg+xml`, `text/markdown`). `application/json` holds JSON text, which the kernel
/// embeds as a JSON value, not as a string.
public struct MimeBundle: Sendable, Equatable {
    /// MIME type → content.
    public var data: [String: String]

    public init(_ data: [String: String]) { self.data = data }
    /// A bundle with `text/plain` only.
    public init(plain: String) { self.data = ["text/plain": plain] }
}

/// Which output stream a `stream` message goes to.
public enum StreamName: String, Sendable { case stdout, stderr }

/// How a cell ended.
public enum ExecutionOutcome: Sendable, Equatable {
    /// The cell ran; `result` (if any) is its value, published as `execute_result`.
    case ok(result: MimeBundle?)
    /// The cell failed or was interrupted: published as `error` and replied with status "error".
    case error(name: String, value: String, traceback: [String])
}

/// Completion candidates for the text at a cursor. Positions count Unicode scalars.
public struct CompletionResult: Sendable, Equatable {
    public var matches: [String]
    /// The range of `code` that a chosen match replaces.
    public var cursorStart: Int
    public var cursorEnd: Int
    public init(matches: [String], cursorStart: Int, cursorEnd: Int) {
        self.matches = matches
        self.cursorStart = cursorStart
        self.cursorEnd = cursorEnd
    }
}

/// What `is_complete_request` answers.
public enum Completeness: Sendable, Equatable {
    case complete
    /// More lines are expected; `indent` is what the next line should start with.
    case incomplete(indent: String)
    case invalid
    case unknown
}

/// `language_info` and the banner of `kernel_info_reply`.
public struct KernelLanguageInfo: Sendable {
    public var name: String
    public var version: String
    public var mimetype: String
    public var fileExtension: String
    public var pygmentsLexer: String
    public var codemirrorMode: String
    public var implementation: String
    public var implementationVersion: String
    public var banner: String
    /// (text, url) pairs for the help menu.
    public var helpLinks: [(text: String, url: String)]

    public init(
        name: String, version: String, mimetype: String, fileExtension: String, pygmentsLexer: String,
        codemirrorMode: String, implementation: String, implementationVersion: String, banner: String,
        helpLinks: [(text: String, url: String)]
    ) {
        self.name = name
        self.version = version
        self.mimetype = mimetype
        self.fileExtension = fileExtension
        self.pygmentsLexer = pygmentsLexer
        self.codemirrorMode = codemirrorMode
        self.implementation = implementation
        self.implementationVersion = implementationVersion
        self.banner = banner
        self.helpLinks = helpLinks
    }
}

/// Raised by `ExecutionContext.input` when the front end cannot answer (no stdin channel, or the
/// request was interrupted).
public struct InputUnavailable: Error, CustomStringConvertible {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Callbacks an interpreter uses while a cell runs; all publish on iopub (or stdin for `input`) with the
/// executing request as parent. Called from the thread that runs `execute`.
public protocol ExecutionContext: AnyObject {
    /// The `execution_count` of the running cell.
    var executionCount: Int { get }
    /// Whether the front end accepts `input_request` (the request's `allow_stdin`).
    var allowStdin: Bool { get }
    func stream(_ name: StreamName, _ text: String)
    /// `display_data`, with `transient.display_id` when `displayID` is given.
    func display(_ bundle: MimeBundle, displayID: String?)
    /// `update_display_data` for a display published earlier with `displayID`.
    func updateDisplay(_ bundle: MimeBundle, displayID: String)
    func clearOutput(wait: Bool)
    /// A pager payload on the execute reply (what `?` help shows in a side panel).
    func page(_ bundle: MimeBundle)
    /// Asks the front end for a line of input (`input_request` on stdin).
    func input(prompt: String, password: Bool) throws(InputUnavailable) -> String
}

/// A language the kernel runs. `execute`, `complete`, `inspect` and `isComplete` are called on the shell
/// thread, one at a time; `interrupt` may be called from any thread while `execute` runs.
public protocol KernelInterpreter: AnyObject {
    var languageInfo: KernelLanguageInfo { get }
    func execute(_ code: String, context: ExecutionContext) -> ExecutionOutcome
    func complete(_ code: String, cursor: Int) -> CompletionResult
    /// Help for the word at `cursor`, or nil when there is nothing to say.
    func inspect(_ code: String, cursor: Int, detailLevel: Int) -> MimeBundle?
    func isComplete(_ code: String) -> Completeness
    /// Asks a running `execute` to stop soon (within a second) and return an error outcome.
    func interrupt()
}
