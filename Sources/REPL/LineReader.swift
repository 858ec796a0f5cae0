@preconcurrency import CEdit
import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// Reads lines for the REPL: with libedit's line editing and history when the input is the
/// terminal's standard input, and as plain lines without a prompt otherwise (pipes, files, tests).
///
/// History (libedit's `History`) works in both modes and is loaded from `historyFile` on creation.
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

    private let input: FileHandle
    private let history: OpaquePointer
    private let editor: OpaquePointer?
    /// C copies of the two prompts, and the slot libedit's prompt function reads (its client data).
    private let promptStrings: (first: UnsafeMutablePointer<CChar>, continuation: UnsafeMutablePointer<CChar>)
    private let promptSlot: UnsafeMutablePointer<UnsafeMutablePointer<CChar>>
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

        promptStrings = (strdup(prompt), strdup(continuationPrompt))
        promptSlot = .allocate(capacity: 1)
        promptSlot.initialize(to: promptStrings.first)

        let fd = input.fileDescriptor
        if fd == STDIN_FILENO, isatty(fd) == 1, let editor = el_init("finch", stdin, stdout, stderr) {
            self.editor = editor
            let promptFunction: @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<CChar>? = { editor in
                EditLineBridge.clientData(editor)?.assumingMemoryBound(to: UnsafeMutablePointer<CChar>.self).pointee
            }
            EditLineBridge.set(editor, EL_CLIENTDATA, UnsafeRawPointer(promptSlot))
            EditLineBridge.set(editor, EL_PROMPT, unsafeBitCast(promptFunction, to: UnsafeRawPointer.self))
            EditLineBridge.set(editor, EL_HIST, EditLineBridge.historyFunction, UnsafeRawPointer(history))
            EditLineBridge.set(editor, EL_EDITOR, "emacs")
            EditLineBridge.set(editor, EL_SIGNAL, integer: 1)
            el_source(editor, nil)  // the user's ~/.editrc, if any
        } else {
            self.editor = nil
        }
    }

    deinit {
        if let editor { el_end(editor) }
        history_end(history)
        promptSlot.deallocate()
        free(promptStrings.first)
        free(promptStrings.continuation)
    }

    /// The next line without its line ending, or nil at the end of the input.
    /// In a terminal the prompt is `prompt`, or `continuationPrompt` when `continuation` is true.
    public func readLine(continuation: Bool = false) -> String? {
        guard let editor else { return readPlainLine() }
        promptSlot.pointee = continuation ? promptStrings.continuation : promptStrings.first
        var count: Int32 = 0
        guard let line = el_gets(editor, &count), count > 0 else { return nil }
        return Self.decodeLine(UnsafeRawBufferPointer(start: line, count: strlen(line)))
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
            let count = chunk.withUnsafeMutableBytes { read(input.fileDescriptor, $0.baseAddress, $0.count) }
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

/// libedit could not write the history file.
public struct HistoryFileError: Error, CustomStringConvertible {
    /// The history file's path.
    public let path: String

    public var description: String { "cannot write the history file \(path)" }
}

/// Calls to libedit's variadic functions (`el_set`, `el_get`, `history`), which Swift cannot call.
///
/// They are looked up with `dlsym` and called through fixed-argument C function types. This matches
/// the variadic calling convention on x86-64 (System V) and Linux AArch64, where variadic arguments
/// travel in the same registers as fixed ones; it would not on Apple arm64. Static inline wrappers
/// in `Sources/CEdit/shim.h` would replace this enum.
private enum EditLineBridge {
    private typealias SetPointers = @convention(c) (OpaquePointer?, Int32, UnsafeRawPointer?, UnsafeRawPointer?) -> Int32
    private typealias SetInteger = @convention(c) (OpaquePointer?, Int32, Int32) -> Int32
    private typealias GetPointer = @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int32
    private typealias HistoryString = @convention(c) (OpaquePointer?, UnsafeMutablePointer<HistEvent>, Int32, UnsafePointer<CChar>) -> Int32
    private typealias HistoryInteger = @convention(c) (OpaquePointer?, UnsafeMutablePointer<HistEvent>, Int32, Int32) -> Int32

    private nonisolated(unsafe) static let elSet = symbol("el_set")
    private nonisolated(unsafe) static let elGet = symbol("el_get")
    /// libedit's `history` function, also handed to `el_set(EL_HIST)`.
    nonisolated(unsafe) static let historyFunction = UnsafeRawPointer(symbol("history"))

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), name) else { fatalError("libedit: no symbol \(name)") }
        return symbol
    }

    @discardableResult
    static func set(_ editor: OpaquePointer, _ operation: Int32, _ first: UnsafeRawPointer?, _ second: UnsafeRawPointer? = nil) -> Int32 {
        unsafeBitCast(elSet, to: SetPointers.self)(editor, operation, first, second)
    }

    @discardableResult
    static func set(_ editor: OpaquePointer, _ operation: Int32, _ string: String) -> Int32 {
        string.withCString { set(editor, operation, UnsafeRawPointer($0)) }
    }

    @discardableResult
    static func set(_ editor: OpaquePointer, _ operation: Int32, integer: Int32) -> Int32 {
        unsafeBitCast(elSet, to: SetInteger.self)(editor, operation, integer)
    }

    /// The pointer stored with `el_set(EL_CLIENTDATA)`.
    static func clientData(_ editor: OpaquePointer?) -> UnsafeMutableRawPointer? {
        var data: UnsafeMutableRawPointer?
        _ = unsafeBitCast(elGet, to: GetPointer.self)(editor, EL_CLIENTDATA, &data)
        return data
    }

    @discardableResult
    static func history(_ history: OpaquePointer, _ operation: Int32, string: String) -> Int32 {
        var event = HistEvent()
        return string.withCString { unsafeBitCast(historyFunction, to: HistoryString.self)(history, &event, operation, $0) }
    }

    @discardableResult
    static func history(_ history: OpaquePointer, _ operation: Int32, integer: Int32) -> Int32 {
        var event = HistEvent()
        return self.history(history, operation, integer: integer, event: &event)
    }

    /// A `history` call whose result (`num`, `str`) lands in `event`.
    static func history(_ history: OpaquePointer, _ operation: Int32, integer: Int32, event: inout HistEvent) -> Int32 {
        unsafeBitCast(historyFunction, to: HistoryInteger.self)(history, &event, operation, integer)
    }
}
