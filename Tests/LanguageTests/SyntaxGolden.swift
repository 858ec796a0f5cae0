import Foundation
import Testing

/// Golden files of the syntax tests under Tests/LanguageTests/Golden/<folder>. A mismatch fails the test
/// and shows the first differing lines. To re-record after an intended change, run
///
///     FINCH_RECORD_GOLDENS=1 swift test --filter LanguageTests
///
/// then review the changes with `git diff Tests/LanguageTests/Golden` before committing them.
enum SyntaxGolden {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static var recording: Bool { ProcessInfo.processInfo.environment["FINCH_RECORD_GOLDENS"] == "1" }

    /// Compares `actual` with the golden `folder/name`, or (re)writes it when recording.
    static func check(_ actual: String, folder: String, name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let directory = root.appendingPathComponent(folder)
        let url = directory.appendingPathComponent(name)
        if recording {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(actual.utf8).write(to: url)
            return
        }
        guard let data = FileManager.default.contents(atPath: url.path), let expected = String(data: data, encoding: .utf8) else {
            Issue.record("no golden \(folder)/\(name); run with FINCH_RECORD_GOLDENS=1 to record it", sourceLocation: sourceLocation)
            return
        }
        if expected != actual {
            let message = "\(folder)/\(name) differs from its golden (FINCH_RECORD_GOLDENS=1 re-records):\n" + diff(expected, actual)
            Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
        }
    }

    /// The first differing lines of two texts, "-" for expected and "+" for actual.
    static func diff(_ expected: String, _ actual: String, context: Int = 6) -> String {
        let old = expected.components(separatedBy: "\n"), new = actual.components(separatedBy: "\n")
        let first = zip(old, new).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(old.count, new.count)
        var lines = ["@@ line \(first + 1) (expected \(old.count) lines, actual \(new.count)) @@"]
        lines += old[first..<min(old.count, first + context)].map { "- " + $0 }
        lines += new[first..<min(new.count, first + context)].map { "+ " + $0 }
        return lines.joined(separator: "\n")
    }
}
