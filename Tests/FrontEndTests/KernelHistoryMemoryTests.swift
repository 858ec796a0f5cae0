import FinchKernel
import Foundation
import Testing

/// A long kernel session keeps at most `maximumEntries` cells (source and result text) in memory.
@Suite struct KernelHistoryMemoryTests {
    @Test func memoryKeepsOnlyTheNewestCells() {
        let history = KernelHistory(file: nil, maximumEntries: 100)
        for line in 1...1_000 {
            history.record(line: line, source: "help train  # \(line)")
            history.recordOutput(line: line, output: String(repeating: "x", count: 5_000))
        }
        let kept = history.tail(10_000)
        #expect(kept.count >= 100 && kept.count <= 110)
        #expect(kept.last?.line == 1_000 && kept.last?.output?.count == 5_000)
        #expect(history.tail(3).map(\.line) == [998, 999, 1_000])
        #expect(history.search(pattern: "*# 950", count: nil, unique: false).map(\.line) == [950])
    }
}

/// Result text kept in memory is bounded in bytes: the oldest cells keep only their source.
@Suite struct KernelHistoryOutputBudgetTests {
    @Test func oldestResultsAreDroppedFirst() {
        let history = KernelHistory(file: nil, maximumEntries: 10_000, maximumOutputBytes: 100_000)
        for line in 1...100 {
            history.record(line: line, source: "cell \(line)")
            history.recordOutput(line: line, output: String(repeating: "y", count: 5_000))
        }
        let kept = history.tail(1_000)
        #expect(kept.count == 100)
        let withOutput = kept.filter { $0.output != nil }
        #expect(withOutput.count * 5_000 <= 100_000 && withOutput.count >= 15)
        #expect(withOutput.map(\.line) == Array((101 - withOutput.count)...100))
    }
}
