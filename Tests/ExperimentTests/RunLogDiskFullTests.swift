import Foundation
import Testing
@testable import FinchExperiment

/// `RunLog.save` onto a full disk (a 64 KiB tmpfs, filled; skipped when mount is refused, i.e. not root):
/// the error names the file and says "No space left", the previous log is unchanged, no temporary remains.
@Suite struct RunLogDiskFullTests {
    @discardableResult
    func command(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test func saveOnAFullDiskFailsClearlyAndKeepsThePreviousLog() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-runlog-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        guard getuid() == 0, try command(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", folder.path]) == 0 else {
            print("skipped: mount -t tmpfs refused (needs root)")
            return
        }
        defer { try? command(["umount", "-l", folder.path]) }

        let log = RunLog()
        log.record(RunRecord(kind: "train", seconds: 1, model: "minilm", configuration: ["lr": "0.001"], data: "40 rows", seed: 1,
                             metrics: ["accuracy": 0.5]))
        let url = folder.appendingPathComponent("runs.json")
        try log.save(to: url)
        let previous = try Data(contentsOf: url)

        let filler = open(folder.appendingPathComponent("filler").path, O_WRONLY | O_CREAT, 0o644)
        let page = [UInt8](repeating: 0, count: 4096)
        while write(filler, page, page.count) > 0 {}
        close(filler)
        for _ in 0..<20 {
            log.record(RunRecord(kind: "train", seconds: 1, model: "minilm", configuration: ["lr": "0.001"], data: "40 rows", seed: 1,
                                 metrics: ["accuracy": 0.5], losses: Array(repeating: 0.5, count: 200)))
        }
        #expect(throws: (any Error).self) { try log.save(to: url) }
        do { try log.save(to: url) } catch {
            #expect("\(error)".hasPrefix(url.path + ": "))
            #expect("\(error)".contains("No space left on device"))
        }
        #expect(try Data(contentsOf: url) == previous)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["filler", "runs.json"])
    }
}
