import Foundation

/// Fault injection for the reliability tests (Tests/Reliability/faults.sh): the environment variable
///
///     FINCH_FAULT=POINT[:NAME][@N]
///
/// kills the process (SIGKILL) at a named point inside the writers, the N-th time (default 1) that point is
/// reached for a destination whose last path component is NAME (any destination without it). Points:
///   file-partial        AtomicFile: half of the temporary file written, nothing renamed yet → SIGKILL
///   file-before-rename  AtomicFile: temporary file complete and flushed, not renamed yet → SIGKILL
///   folder-before-swap  AtomicFolder: new folder complete beside the destination, not swapped in → SIGKILL
/// The variable is read once; when it is unset, `reached` is one comparison of a constant. (A full disk is
/// tested for real, on a small tmpfs.)
public enum FaultInjection {
    /// A named place in the writers where a fault can be injected.
    public enum Point: String, Sendable {
        case filePartial = "file-partial"
        case fileBeforeRename = "file-before-rename"
        case folderBeforeSwap = "folder-before-swap"
    }

    private struct Plan {
        let point: String
        let name: String?
        let occurrence: Int
    }

    private static let plan: Plan? = {
        guard let text = ProcessInfo.processInfo.environment["FINCH_FAULT"], !text.isEmpty else { return nil }
        var rest = Substring(text), occurrence = 1
        if let at = rest.lastIndex(of: "@"), let n = Int(rest[rest.index(after: at)...]), n >= 1 {
            occurrence = n
            rest = rest[..<at]
        }
        let parts = rest.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        return Plan(point: parts[0], name: parts.count > 1 ? parts[1] : nil, occurrence: occurrence)
    }()

    private static let lock = NSLock()
    nonisolated(unsafe) private static var hits = 0

    /// Kills the process when the armed fault is `point` for `destination` and this is its N-th visit.
    public static func reached(_ point: Point, destination: URL) {
        guard let plan else { return }
        guard plan.point == point.rawValue, plan.name == nil || plan.name == destination.lastPathComponent else { return }
        let count = lock.withLock {
            hits += 1
            return hits
        }
        guard count == plan.occurrence else { return }
        FileHandle.standardError.write(Data("FINCH_FAULT: \(point.rawValue) at \(destination.path): killing the process\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
