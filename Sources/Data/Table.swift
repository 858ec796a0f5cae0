import Foundation

/// A data set as read from disk: named columns of text cells, rows in file order.
public struct Table: Sendable, Equatable {
    public let columns: [String]
    public let rows: [[String]]
    /// Where it came from, for messages.
    public let source: String
    /// The file line each row started on (1-based), for messages that point at a row.
    public let lines: [Int]
    /// JSON lines only: per column, the first row whose value was an object or an array (kept as JSON
    /// text, which a `messages` column wants but a text or label column must refuse).
    public let firstStructuredRow: [String: Int]

    public init(columns: [String], rows: [[String]], source: String, lines: [Int]? = nil, firstStructuredRow: [String: Int] = [:]) {
        self.columns = columns
        self.rows = rows
        self.source = source
        self.lines = lines ?? rows.indices.map { $0 + 2 }
        self.firstStructuredRow = firstStructuredRow
    }

    /// The file formats Finch reads.
    public enum Format: String, Sendable, CaseIterable {
        case csv, tsv, jsonl

        /// The format a file name implies (.csv, .tsv / .tab / .txt, .jsonl / .json).
        public static func inferred(from url: URL) -> Format? {
            switch url.pathExtension.lowercased() {
            case "csv": .csv
            case "tsv", "tab": .tsv
            case "jsonl", "ndjson": .jsonl
            default: nil
            }
        }
    }

    /// Reads a file; the format is inferred from the extension unless given.
    public static func read(_ url: URL, format: Format? = nil) throws -> Table {
        guard let format = format ?? Format.inferred(from: url) else {
            throw DataError(url.path, "cannot tell the format from the extension \".\(url.pathExtension)\"; say format=csv, tsv or jsonl")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DataError(url.path, FileManager.default.fileExists(atPath: url.path) ? "cannot be read (\(error.localizedDescription))" : "file not found")
        }
        return try parse(data, format: format, source: url.path)
    }

    /// Parses the bytes of a file in `format`; `source` names it in errors. Refuses, naming the line and
    /// column: bytes that are not UTF-8, ragged rows, empty or repeated column names, more than
    /// `TableLimits.maximumColumns` columns, a field over `TableLimits.maximumFieldBytes`, and files
    /// without a header or without rows.
    public static func parse(_ data: Data, format: Format, source: String) throws -> Table {
        let text = try TableLimits.decodeUTF8(data, source: source)
        guard text.contains(where: { !$0.isWhitespace }) else {
            throw DataError(source, data.isEmpty ? "empty file: expected a header row" : "only blank lines: expected a header row")
        }
        switch format {
        case .tsv: return try DelimitedParser(text: text, source: source, separator: "\t", quoted: false).table()
        case .csv: return try DelimitedParser(text: text, source: source, separator: ",", quoted: true).table()
        case .jsonl: return try readJSONLines(text, source: source)
        }
    }

    /// The index of a column; the error lists the columns and suggests a close one.
    public func columnIndex(_ name: String) throws -> Int {
        if let index = columns.firstIndex(of: name) { return index }
        let suggestion = columns.min { editDistance($0, name) < editDistance($1, name) }
        let hint = suggestion.map { editDistance($0, name) <= max(2, name.count / 3) ? " — did you mean \"\($0)\"?" : "" } ?? ""
        throw DataError(source, "no column \"\(name)\"; the columns are \(columns.map { "\"\($0)\"" }.joined(separator: ", "))\(hint)")
    }

    /// JSON lines: one object per line; columns in order of first appearance, each object's keys sorted.
    private static func readJSONLines(_ text: String, source: String) throws -> Table {
        var columns: [String] = [], index: [String: Int] = [:], firstStructuredRow: [String: Int] = [:]
        var records: [[String: String]] = [], lines: [Int] = []
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                throw DataError(source, "line \(offset + 1): not a JSON object")
            }
            var record: [String: String] = [:]
            for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                if index[key] == nil {
                    guard !key.isEmpty else { throw DataError(source, "line \(offset + 1): a key is empty; every column needs a name") }
                    guard columns.count < TableLimits.maximumColumns else {
                        throw DataError(source, "line \(offset + 1): more than \(TableLimits.maximumColumns) distinct keys (the limit on columns)")
                    }
                    index[key] = columns.count
                    columns.append(key)
                }
                if value is [Any] || value is [String: Any], firstStructuredRow[key] == nil { firstStructuredRow[key] = records.count }
                let cell = cellText(value)
                try TableLimits.checkField(cell, line: offset + 1, column: key, source: source)
                record[key] = cell
            }
            records.append(record)
            lines.append(offset + 1)
        }
        guard !records.isEmpty else { throw DataError(source, "no rows") }
        guard !columns.isEmpty else { throw DataError(source, "line \(lines[0]): every object is empty ({}): no columns to read") }
        return Table(columns: columns, rows: records.map { r in columns.map { r[$0] ?? "" } }, source: source, lines: lines,
                     firstStructuredRow: firstStructuredRow)
    }

    private static func cellText(_ value: Any) -> String {
        switch value {
        case let s as String: return s
        case is NSNull: return ""
        case let n as NSNumber: return n.stringValue
        default:
            let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }
}

/// Data that cannot be used as asked: which file (and row or line), and what is wrong.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let problem: String
    public init(_ source: String, _ problem: String) {
        self.source = source
        self.problem = problem
    }
    public var description: String { "\(source): \(problem)" }
}

/// Levenshtein distance, for "did you mean" suggestions.
public func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased()), b = Array(b.lowercased())
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
