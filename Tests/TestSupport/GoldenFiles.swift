import Foundation
import Testing

/// Golden snapshot files in a folder of the tests. A mismatch fails the test and shows the first
/// differing lines. To re-record after an intended change, run with FINCH_RECORD_GOLDENS=1 (e.g.
/// `FINCH_RECORD_GOLDENS=1 swift test --filter PlotTests`), then review `git diff` of the folder.
public struct GoldenFiles: Sendable {
    public let folder: URL
    public static var recording: Bool { ProcessInfo.processInfo.environment["FINCH_RECORD_GOLDENS"] == "1" }

    /// The `Golden` folder beside the test file `filePath` (pass `#filePath`), or a subfolder of it.
    public init(beside filePath: String, subfolder: String? = nil) {
        let golden = URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("Golden")
        folder = subfolder.map { golden.appendingPathComponent($0) } ?? golden
    }

    /// Compares `actual` with the golden `name`, or (re)writes the golden when recording.
    public func check(_ actual: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = folder.appendingPathComponent(name)
        let shownName = folder.lastPathComponent == "Golden" ? name : "\(folder.lastPathComponent)/\(name)"
        if Self.recording {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(actual.utf8).write(to: url)
            return
        }
        guard let data = FileManager.default.contents(atPath: url.path), let expected = String(data: data, encoding: .utf8) else {
            Issue.record("no golden \(shownName); run with FINCH_RECORD_GOLDENS=1 to record it", sourceLocation: sourceLocation)
            return
        }
        if expected != actual {
            let message = "\(shownName) differs from its golden (FINCH_RECORD_GOLDENS=1 re-records):\n" + Self.diff(expected, actual)
            Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
        }
    }

    /// The first differing lines of two texts, "-" for expected and "+" for actual, with line numbers.
    public static func diff(_ expected: String, _ actual: String, context: Int = 6) -> String {
        let old = expected.components(separatedBy: "\n"), new = actual.components(separatedBy: "\n")
        let first = zip(old, new).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(old.count, new.count)
        var lines = ["@@ line \(first + 1) (expected \(old.count) lines, actual \(new.count)) @@"]
        if first > 0 { lines.append("  " + old[first - 1]) }
        lines += old[first..<min(old.count, first + context)].map { "- " + $0 }
        lines += new[first..<min(new.count, first + context)].map { "+ " + $0 }
        return lines.joined(separator: "\n")
    }
}
