import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One cell of the execution history: `line` is its execution count within kernel session `session`.
public struct HistoryEntry: Sendable, Equatable {
    public var session: Int
    public var line: Int
    public var source: String
    /// The `text/plain` form of the cell's result, when it had one.
    public var output: String?

    public init(session: Int, line: Int, source: String, output: String? = nil) {
        self.session = session
        self.line = line
        self.source = source
        self.output = output
    }
}

/// The cells run in this and earlier kernel sessions, for `history_request` (tail, range, search).
///
/// The history persists in a JSON-lines file that is only ever appended to, one line per record
/// under an exclusive `flock`, so that several kernels can share it: a session marker
/// `{"session":N,"started":DATE}` when a kernel first needs its session number, an input record
/// `{"session":N,"line":L,"source":CODE}` before a cell runs and an output record
/// `{"session":N,"line":L,"output":TEXT}` after it. Lines that do not parse (a torn write) are
/// skipped. When the file holds more than `maximumEntries` cells, it is rewritten with the newest
/// ones (to a temporary file, then renamed over it). Without a file, the history lives in memory.
public final class KernelHistory: @unchecked Sendable {
    /// Where the history is kept, or nil for memory only.
    public let file: URL?
    /// How many cells the file keeps (and memory: the newest ones).
    public let maximumEntries: Int
    /// How many bytes of result text memory keeps: older cells of a long session keep their source only
    /// (the file keeps every result).
    public let maximumOutputBytes: Int
    /// Bytes of result text in `entries`.
    private var outputBytes = 0
    private let log: KernelLog
    private let lock = NSLock()
    /// Earlier sessions' cells and this session's, ordered by (session, line); nil until loaded.
    private var entries: [HistoryEntry]?
    private var currentSession = 0
    /// The longest result text kept with a cell.
    private static let maximumOutputLength = 100_000

    /// The history file the kernel uses unless told otherwise: `$FINCH_HISTORY_FILE`, else
    /// `$XDG_DATA_HOME/finch/history.jsonl`, else `~/.local/share/finch/history.jsonl`.
    public static func defaultFile(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let path = environment["FINCH_HISTORY_FILE"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let dataHome = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".local/share")
        return dataHome.appendingPathComponent("finch/history.jsonl")
    }

    /// A history kept in `file` (nil: in memory only). Nothing is read until it is first needed.
    public init(file: URL?, maximumEntries: Int = 10_000, maximumOutputBytes: Int = 4 << 20, log: KernelLog = .standardError) {
        self.file = file
        self.maximumEntries = maximumEntries
        self.maximumOutputBytes = maximumOutputBytes
        self.log = log
    }

    /// This kernel's session number: one more than any session already in the file.
    public var session: Int {
        lock.lock()
        defer { lock.unlock() }
        loadIfNeeded()
        return currentSession
    }

    /// Records the source of cell `line` of this session (before it runs).
    public func record(line: Int, source: String) {
        lock.lock()
        defer { lock.unlock() }
        loadIfNeeded()
        entries?.append(HistoryEntry(session: currentSession, line: line, source: source))
        trimEntries()
        append(["session": .int(currentSession), "line": .int(line), "source": .string(source)])
    }

    /// Keeps the newest `maximumEntries` cells in memory, as the file keeps them: a long session (each
    /// cell's source and result text) would otherwise grow without bound. Trimmed a tenth at a time, so
    /// appending stays amortized O(1).
    private func trimEntries() {
        guard let count = entries?.count, count > maximumEntries + max(1, maximumEntries / 10) else { return }
        outputBytes -= entries![..<(count - maximumEntries)].reduce(0) { $0 + ($1.output?.utf8.count ?? 0) }
        entries?.removeFirst(count - maximumEntries)
    }

    /// Drops the result text of the oldest cells until at most three quarters of `maximumOutputBytes` is
    /// kept (a quarter at a time, so recording stays amortized O(1)).
    private func trimOutputs() {
        guard outputBytes > maximumOutputBytes, var kept = entries else { return }
        entries = nil  // one owner while editing: no copy of the array
        for index in kept.indices where outputBytes > maximumOutputBytes / 4 * 3 {
            outputBytes -= kept[index].output?.utf8.count ?? 0
            kept[index].output = nil
        }
        entries = kept
    }

    /// Records the `text/plain` result of cell `line` of this session.
    public func recordOutput(line: Int, output: String) {
        let kept = output.count > Self.maximumOutputLength ? String(output.prefix(Self.maximumOutputLength)) : output
        lock.lock()
        defer { lock.unlock() }
        loadIfNeeded()
        guard let index = entries?.lastIndex(where: { $0.session == currentSession && $0.line == line }) else { return }
        outputBytes += kept.utf8.count - (entries?[index].output?.utf8.count ?? 0)
        entries?[index].output = kept
        trimOutputs()
        append(["session": .int(currentSession), "line": .int(line), "output": .string(kept)])
    }

    /// The last `count` cells, oldest first.
    public func tail(_ count: Int) -> [HistoryEntry] {
        Array(allEntries().suffix(max(0, count)))
    }

    /// The cells `start ..< stop` (all from `start` when `stop` is nil) of `session`; a session of 0
    /// or less counts back from the current one (0 is the current session, -1 the one before).
    public func range(session: Int, start: Int, stop: Int?) -> [HistoryEntry] {
        let all = allEntries()
        let target = session > 0 ? session : self.session + session
        return all.filter { entry in
            entry.session == target && entry.line >= start && (stop.map { entry.line < $0 } ?? true)
        }
    }

    /// The cells whose source matches the glob `pattern` as a whole (`*`, `?`, `[...]`, case
    /// sensitive), oldest first; with `unique`, only the latest of identical sources; with `count`,
    /// only the last `count` matches.
    public func search(pattern: String, count: Int?, unique: Bool) -> [HistoryEntry] {
        var matches = allEntries().filter { fnmatch(pattern, $0.source, 0) == 0 }
        if unique {
            var seen: Set<String> = []
            matches = matches.reversed().filter { seen.insert($0.source).inserted }.reversed()
        }
        if let count { matches = Array(matches.suffix(max(0, count))) }
        return matches
    }

    private func allEntries() -> [HistoryEntry] {
        lock.lock()
        defer { lock.unlock() }
        loadIfNeeded()
        return entries ?? []
    }

    // MARK: The file

    /// Reads the file and claims a session number, under the file lock.
    private func loadIfNeeded() {
        guard entries == nil else { return }
        entries = []
        currentSession = 1
        guard let file else { return }
        do {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            log("history: cannot create \(file.deletingLastPathComponent().path): \(error.localizedDescription)")
            return
        }
        let opened = withLockedFile { descriptor in
            let (loaded, lastSession) = Self.parse(Self.readAll(descriptor))
            currentSession = lastSession + 1
            entries = loaded
            defer {
                outputBytes = entries?.reduce(0) { $0 + ($1.output?.utf8.count ?? 0) } ?? 0
                trimOutputs()
            }
            if loaded.count > maximumEntries {
                entries = Array(loaded.suffix(maximumEntries))
                if rewrite(entries ?? [], session: currentSession) { return }
            }
            let marker: JSON = ["session": .int(currentSession), "started": .string(Timestamp.now())]
            Self.appendLine(marker, to: descriptor)
        }
        if !opened { log("history: cannot open \(file.path); this session's history stays in memory") }
    }

    /// Appends one record to the file (nothing without a file).
    private func append(_ record: JSON) {
        guard file != nil else { return }
        let written = withLockedFile { Self.appendLine(record, to: $0) }
        if !written { log("history: cannot append to \(file!.path)") }
    }

    /// Runs `body` with the history file open for appending and exclusively locked, making sure the
    /// descriptor is the file now at the path (it may have been replaced by a rewrite). False when
    /// the file cannot be opened.
    private func withLockedFile(_ body: (Int32) -> Void) -> Bool {
        guard let path = file?.path else { return false }
        for _ in 0..<5 {
            let descriptor = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            while flock(descriptor, LOCK_EX) != 0 && errno == EINTR {}
            var opened = stat()
            var current = stat()
            guard fstat(descriptor, &opened) == 0, stat(path, &current) == 0, opened.st_ino == current.st_ino else {
                continue  // replaced while we waited for the lock: open the new file
            }
            body(descriptor)
            return true
        }
        return false
    }

    /// Replaces the file with `kept` and a marker for `session` (the session this kernel claims),
    /// through a renamed temporary file; false when that fails (the file stays as it was).
    private func rewrite(_ kept: [HistoryEntry], session: Int) -> Bool {
        guard let file else { return false }
        var text: [UInt8] = []
        let marker: JSON = ["session": .int(session), "started": .string(Timestamp.now())]
        marker.write(to: &text)
        text.append(0x0a)
        for entry in kept {
            JSON.object(["session": .int(entry.session), "line": .int(entry.line), "source": .string(entry.source)]).write(to: &text)
            text.append(0x0a)
            if let output = entry.output {
                JSON.object(["session": .int(entry.session), "line": .int(entry.line), "output": .string(output)]).write(to: &text)
                text.append(0x0a)
            }
        }
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(getpid()).tmp")
        do {
            // The history holds what people typed (tokens included, at times): owner-only, like the file it replaces.
            guard FileManager.default.createFile(atPath: temporary.path, contents: Data(text), attributes: [.posixPermissions: 0o600]) else {
                throw POSIXError(.init(rawValue: errno) ?? .EIO)
            }
            guard rename(temporary.path, file.path) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            return true
        } catch {
            unlink(temporary.path)
            log("history: cannot trim \(file.path): \(error.localizedDescription)")
            return false
        }
    }

    /// Writes `record` and a newline at the end of the file, starting a new line first if a torn
    /// write left the last one unfinished.
    private static func appendLine(_ record: JSON, to descriptor: Int32) {
        var line: [UInt8] = []
        var size = stat()
        if fstat(descriptor, &size) == 0, size.st_size > 0 {
            var last: UInt8 = 0
            if pread(descriptor, &last, 1, size.st_size - 1) == 1, last != 0x0a { line.append(0x0a) }
        }
        record.write(to: &line)
        line.append(0x0a)
        var offset = 0
        while offset < line.count {
            let count = line[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            offset += count
        }
    }

    private static func readAll(_ descriptor: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var offset: off_t = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, offset) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return bytes }
            bytes += chunk[..<count]
            offset += off_t(count)
        }
    }

    /// The cells in `bytes` (ordered by session and line, outputs attached) and the highest session
    /// number mentioned.
    static func parse(_ bytes: [UInt8]) -> (entries: [HistoryEntry], lastSession: Int) {
        var entries: [HistoryEntry] = []
        var indexByCell: [Int: [Int: Int]] = [:]
        var lastSession = 0
        for line in bytes.split(separator: 0x0a, omittingEmptySubsequences: true) {
            guard let record = try? JSON.parse(Array(line)), let session = record["session"]?.intValue else { continue }
            lastSession = max(lastSession, session)
            guard let number = record["line"]?.intValue else { continue }
            if let source = record["source"]?.stringValue {
                indexByCell[session, default: [:]][number] = entries.count
                entries.append(HistoryEntry(session: session, line: number, source: source))
            } else if let output = record["output"]?.stringValue, let index = indexByCell[session]?[number] {
                entries[index].output = output
            }
        }
        let ordered = entries.enumerated().sorted {
            ($0.element.session, $0.element.line, $0.offset) < ($1.element.session, $1.element.line, $1.offset)
        }
        return (ordered.map(\.element), lastSession)
    }
}
