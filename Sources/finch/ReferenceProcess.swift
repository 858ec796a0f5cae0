import ArgumentParser
import Foundation

/// A Python reference process spoken to one JSON line at a time (Tests/Reference/*_reference.py in
/// serving mode), so Finch and PyTorch can be measured in interleaved rounds within one run.
final class ReferenceProcess {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer = Data()

    init(python: String, script: String, arguments: [String]) throws {
        guard FileManager.default.fileExists(atPath: script) else {
            throw ValidationError("reference script \(script) not found; run finch bench from the repository root")
        }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script] + arguments
        process.standardInput = input
        process.standardOutput = output
        do {
            try process.run()
        } catch {
            throw ValidationError("cannot start \(python) \(script): \(error.localizedDescription)")
        }
    }

    /// Sends one command line.
    func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Reads the next JSON object line; fails if the process ends first.
    func receive() throws -> [String: Any] {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] { return object }
                continue
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                throw ValidationError("the PyTorch reference process ended early (status \(process.isRunning ? -1 : process.terminationStatus)); see its messages above")
            }
            buffer.append(chunk)
        }
    }

    func close() {
        send("quit")
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// Peak resident memory of this process, in KiB.
func peakResidentKiB() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss)
}

/// The median of a non-empty list.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
