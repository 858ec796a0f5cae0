import FinchData
import Foundation
import FuzzSupport

/// Parses the input as CSV, TSV and JSON lines, then takes labeled texts from the first and last columns of each
/// table that parses. Every accepted table must be rectangular, keep the field and column limits, and name a
/// file line for each row.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTable(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Data(fuzzBytes(data, size))
    for format in Table.Format.allCases {
        guard let table = try? Table.parse(bytes, format: format, source: "fuzz.\(format.rawValue)") else { continue }
        fuzzCheck(!table.columns.isEmpty && !table.rows.isEmpty, "\(format) table without columns or rows")
        fuzzCheck(table.columns.count <= TableLimits.maximumColumns, "\(format) table with \(table.columns.count) columns")
        fuzzCheck(Set(table.columns).count == table.columns.count, "\(format) table with repeated columns \(table.columns)")
        fuzzCheck(table.lines.count == table.rows.count && zip(table.lines, table.lines.dropFirst()).allSatisfy(<),
                  "\(format) rows without increasing line numbers: \(table.lines)")
        for row in table.rows {
            fuzzCheck(row.count == table.columns.count, "\(format) row of \(row.count) fields under \(table.columns.count) columns")
            fuzzCheck(row.allSatisfy { $0.utf8.count <= TableLimits.maximumFieldBytes }, "\(format) field over the limit")
        }
        if let labeled = try? LabeledTexts(table: table, text: table.columns[0], label: table.columns[table.columns.count - 1]) {
            fuzzCheck(labeled.count == table.rows.count, "\(format): \(labeled.count) labeled texts from \(table.rows.count) rows")
            fuzzCheck(labeled.labels.allSatisfy { labeled.labelNames.indices.contains($0) }, "\(format): a label id outside the names")
        }
    }
    return 0
}

/// The entry point SwiftPM links in place of `main`: libFuzzer's loop over `fuzzTable`.
@_cdecl("FuzzTable_main")
public func fuzzTableMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzTable)
}
