@preconcurrency import CEdit
import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// What one read from a `LineReader` gave.
public enum LineInput: Sendable, Equatable {
    /// A line, without its line ending.
    case line(String)
    /// The user pressed Ctrl-C while editing (the line shown so far is abandoned).
    case interrupted
    /// The input ended (Ctrl-D on an empty line, or the end of a pipe or file).
    case end
}

/// Reads lines for the REPL: with libedit's line editing and history when the input is the
/// terminal's standard input, and as plain lines without a prompt otherwise (pipes, files, tests).
///
/// History (libedit's `History`) works in both modes and is loaded from `historyFile` on creation.
/// In a terminal, TAB asks `completer` for candidates and Ctrl-C abandons the line (`LineInput.interrupted`):
/// while libedit edits a line the terminal sends no SIGINT, so Ctrl-C is a key like any other there.
/// A `LineReader` must be used by one thread at a time.
public final class LineReader {
    /// The prompt shown for the first line of an input.
    public let prompt: String
    /// The prompt shown for the following lines of an input that continues.
    public let continuationPrompt: String
    /// Where `saveHistory()` writes history, and where it was loaded from.
    public let historyFile: URL?
    /// Whether lines are read with libedit (the input is a terminal).
    public var isInteractive: Bool { editor != nil }
    /// Called when TAB is pressed, with the line being edited and the cursor (both in Unicode scalars).
    public var completer: ((_ line: String, _ cursor: Int) -> LineCompletion)?

    private let input: FileHandle
    private let history: OpaquePointer
    private var editor: OpaquePointer?
    /// The prompt libedit's prompt function shows now (a C string owned by this reader).
    private var currentPrompt: UnsafeMutablePointer<CChar>
    /// Set by the Ctrl-C key while a line is edited.
    private var interruptedWhileEditing = false
    /// Bytes read from a non-terminal input but not yet returned, from `pendingStart` on.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var inputEnded = false

    /// A reader of `input` (standard input by default) keeping up to `historySize` history entries,
    /// loaded from `historyFile` when that file exists.
    public init(
        prompt: String = "finch> ",
        continuationPrompt: String = "  ...> ",
        historyFile: URL? = nil,
        historySize: Int32 = 1000,
        input: FileHandle = .standardInput
    ) {
        _ = LineReader.localeIsSet
        self.prompt = prompt
        self.continuationPrompt = continuationPrompt
        self.historyFile = historyFile
        self.input = input

        guard let history = history_init() else { fatalError("libedit: history_init failed") }
        self.history = history
        EditLineBridge.history(history, H_SETSIZE, integer: historySize)
        EditLineBridge.history(history, H_SETUNIQUE, integer: 1)
        if let historyFile, FileManager.default.fileExists(atPath: historyFile.path) {
            _ = EditLineBridge.history(history, H_LOAD, string: historyFile.path)
        }
        currentPrompt = strdup(prompt)

        let fd = input.fileDescriptor
        if fd == STDIN_FILENO, isatty(fd) == 1, let editor = el_init("finch", stdin, stdout, stderr) {
            self.editor = editor
            configure(editor)
        }
    }

    deinit {
        if let editor { el_end(editor) }
        history_end(history)
        free(currentPrompt)
    }

    /// Prompt, history, emacs keys, TAB completion, Ctrl-C, then the user's ~/.editrc.
    private func configure(_ editor: OpaquePointer) {
        let promptFunction: @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<CChar>? = { editor in
            LineReader.reader(of: editor)?.currentPrompt
        }
        EditLineBridge.set(editor, EL_CLIENTDATA, UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque()))
        EditLineBridge.set(editor, EL_PROMPT, unsafeBitCast(promptFunction, to: UnsafeRawPointer.self))
        EditLineBridge.set(editor, EL_HIST, EditLineBridge.historyFunction, UnsafeRawPointer(history))
        EditLineBridge.set(editor, EL_EDITOR, "emacs")
        EditLineBridge.set(editor, EL_SIGNAL, integer: 1)
        // While a line is edited, Ctrl-C is a key (no SIGINT): it abandons the line like a shell does.
        EditLineBridge.set(editor, EL_SETTY, strings: ["-d", "-isig"])
        EditLineBridge.addFunction(editor, name: "finch-complete", help: "Complete the word before the cursor", key: "^I") { editor, _ in
            guard let editor, let reader = LineReader.reader(of: editor) else { return UInt8(CC_ERROR) }
            return reader.completeInEditor(editor)
        }
        EditLineBridge.addFunction(editor, name: "finch-interrupt", help: "Abandon the line", key: "^C") { editor, _ in
            guard let editor, let reader = LineReader.reader(of: editor) else { return UInt8(CC_ERROR) }
            reader.interruptedWhileEditing = true
            // Show "^C" at the end of the line, then end the line as Enter does (the caller drops it).
            el_cursor(editor, Int32(EditLineBridge.line(editor).text.unicodeScalars.count))
            el_insertstr(editor, "^C")
            el_push(editor, "\n")
            return UInt8(CC_REFRESH)
        }
        el_source(editor, nil)  // the user's ~/.editrc, if any
    }

    /// The reader an editor belongs to (its client data).
    private static func reader(of editor: OpaquePointer?) -> LineReader? {
        EditLineBridge.clientData(editor).map { Unmanaged<LineReader>.fromOpaque($0).takeUnretainedValue() }
    }

    /// TAB: asks `completer`, inserts a single match or the common prefix, lists several below the line.
    private func completeInEditor(_ editor: OpaquePointer) -> UInt8 {
        guard let completer else { return UInt8(CC_REFRESH_BEEP) }
        let (line, cursor) = EditLineBridge.line(editor)
        guard let edit = CompletionEdit.plan(line: line, cursor: cursor, completion: completer(line, cursor)) else {
            return UInt8(CC_REFRESH_BEEP)
        }
        el_cursor(editor, Int32(edit.end - cursor))
        el_deletestr(editor, Int32(edit.end - edit.start))
        if !edit.insertion.isEmpty { el_insertstr(editor, edit.insertion) }
        guard !edit.listing.isEmpty else { return UInt8(CC_REFRESH) }
        // libedit's own file completion lists the same way: below the line, then the prompt is redrawn.
        let listing = CompletionEdit.columns(edit.listing, width: Terminal.width(of: STDOUT_FILENO))
        fputs("\n" + listing + "\n", stdout)
        fflush(stdout)
        return UInt8(CC_REDISPLAY)
    }

    /// The next input: a line, an interrupted line (Ctrl-C while editing) or the end of the input.
    /// In a terminal the prompt is `prompt`, or `continuationPrompt` when `continuation` is true,
    /// and the line starts out holding `prefill` (an indent, say).
    public func read(continuation: Bool = false, prefill: String = "") -> LineInput {
        read(prompt: continuation ? continuationPrompt : prompt, prefill: prefill)
    }

    /// The next input, after showing `prompt` (in a terminal only: plain input shows no prompt).
    public func read(prompt: String, prefill: String = "") -> LineInput {
        guard let editor else { return readPlainLine().map(LineInput.line) ?? .end }
        free(currentPrompt)
        currentPrompt = strdup(prompt)
        interruptedWhileEditing = false
        if !prefill.isEmpty { el_push(editor, prefill) }
        var count: Int32 = 0
        let line = el_gets(editor, &count)
        if interruptedWhileEditing { return .interrupted }
        guard let line, count > 0 else { return .end }
        return .line(Self.decodeLine(UnsafeRawBufferPointer(start: line, count: strlen(line))))
    }

    /// The next line without its line ending, or nil at the end of the input (an interrupted line reads
    /// as an empty one).
    public func readLine(continuation: Bool = false) -> String? {
        switch read(continuation: continuation) {
        case .line(let line): line
        case .interrupted: ""
        case .end: nil
        }
    }

    /// Appends `line` to the history (empty lines and repeats of the latest entry are skipped).
    public func addHistory(_ line: String) {
        guard !line.isEmpty else { return }
        EditLineBridge.history(history, H_ENTER, string: line)
    }

    /// The history entries, oldest first.
    public var historyEntries: [String] {
        var entries: [String] = []
        var event = HistEvent()
        var status = EditLineBridge.history(history, H_LAST, integer: 0, event: &event)
        while status == 0, let text = event.str {
            entries.append(String(cString: text))
            status = EditLineBridge.history(history, H_PREV, integer: 0, event: &event)
        }
        return entries
    }

    /// Writes the history to `historyFile` (nothing to do without one).
    /// - Throws: `HistoryFileError` when libedit cannot write the file.
    public func saveHistory() throws(HistoryFileError) {
        guard let historyFile else { return }
        guard EditLineBridge.history(history, H_SAVE, string: historyFile.path) >= 0 else {
            throw HistoryFileError(path: historyFile.path)
        }
    }

    /// Reads the next line from a non-terminal input, buffering what follows it.
    private func readPlainLine() -> String? {
        while true {
            if let newline = pending[pendingStart...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[pendingStart..<newline]
                pendingStart = newline + 1
                return Self.decodeLine(line)
            }
            if inputEnded {
                guard pendingStart < pending.count else { return nil }
                defer { pendingStart = pending.count }
                return Self.decodeLine(pending[pendingStart...])
            }
            pending.removeFirst(pendingStart)
            pendingStart = 0
            var chunk = [UInt8](repeating: 0, count: 16_384)
            let count = chunk.withUnsafeMutableBytes { readBytes(input.fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                pending += chunk[..<count]
            } else if count == 0 || errno != EINTR {
                inputEnded = true
            }
        }
    }

    /// UTF-8 text of a line without its trailing `\n` or `\r\n` (invalid bytes become U+FFFD).
    private static func decodeLine(_ bytes: some BidirectionalCollection<UInt8>) -> String {
        var line = bytes[...]
        if line.last == UInt8(ascii: "\n") { line = line.dropLast() }
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        return String(decoding: line, as: UTF8.self)
    }

    /// Selects the user's character encoding (libedit turns non-ASCII input into spaces in the "C"
    /// locale), falling back to C.UTF-8 when the environment names none that is UTF-8. Only
    /// LC_CTYPE changes: number formatting in C libraries stays in the "C" locale.
    private static let localeIsSet: Bool = {
        setlocale(LC_CTYPE, "")
        if String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" {
            setlocale(LC_CTYPE, "C.UTF-8")
        }
        return true
    }()
}

/// `read(2)` (LineReader's own `read` methods hide the global function inside the class).
private func readBytes(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

/// libedit could not write the history file.
public struct HistoryFileError: Error, CustomStringConvertible {
    /// The history file's path.
    public let path: String

    public var description: String { "cannot write the history file \(path)" }
}
