import Foundation
import Testing
@testable import FinchData

/// Inputs from fuzzing the table readers (scripts/fuzz table) that once crashed or misbehaved.
@Suite struct DataFuzzRegressionTests {
    /// crash-5f36b2ea: JSON lines of empty objects made a table with rows but no columns, which every column
    /// lookup after it indexed past.
    @Test func jsonLinesOfEmptyObjectsAreRefused() {
        #expect(throws: DataError("t.jsonl", "line 1: every object is empty ({}): no columns to read")) {
            try Table.parse(Data("{}\n".utf8), format: .jsonl, source: "t.jsonl")
        }
        #expect(throws: DataError("t.jsonl", "line 2: every object is empty ({}): no columns to read")) {
            try Table.parse(Data("\n{}\n  {} \n".utf8), format: .jsonl, source: "t.jsonl")
        }
    }
}
