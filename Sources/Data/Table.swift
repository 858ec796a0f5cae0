import Foundation

/// A data set as read from disk: named columns of text cells, rows in file order.
public struct Table: Sendable, Equatable {
    public let columns: [String]
    public let rows: [[String]]
    /// Where it came from, for messages.
    public let source: String
    /// The file line each row started on (1-based), for messages that point at a row.
    public let lines: [Int]

    public init(columns: [String], rows: [[String]], source: String, lines: [Int]? = nil) {
        self.columns = columns
        self.rows = rows
        self.source = source
        self.lines = lines ?? rows.indices.map { $0 + 2 }
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
        guard let text = String(data: data, encoding: .utf8) else { throw DataError(url.path, "is not UTF-8 text") }
        switch format {
        case .tsv: return try DelimitedParser(text: text, source: url.path, separator: "\t", quoted: false).table()
        case .csv: return try DelimitedParser(text: text, source: url.path, separator: ",", quoted: true).table()
        case .jsonl: return try readJSONLines(text, source: url.path)
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
        var columns: [String] = [], index: [String: Int] = [:]
        var records: [[String: String]] = [], lines: [Int] = []
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                throw DataError(source, "line \(offset + 1): not a JSON object")
            }
            var record: [String: String] = [:]
            for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                if index[key] == nil { index[key] = columns.count; columns.append(key) }
                record[key] = cellText(value)
            }
            records.append(record)
            lines.append(offset + 1)
        }
        guard !records.isEmpty else { throw DataError(source, "no rows") }
        return Table(columns: columns, rows: records.map { r in columns.map { r[$0] ?? "" } }, source: source, lines: lines)
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

/// Delimited text: a header row, then one record per line (CSV quoting per RFC 4180 when `quoted`).
struct DelimitedParser {
    let text: String
    let source: String
    let separator: Character
    let quoted: Bool

    func table() throws -> Table {
        var records: [[String]] = [], lines: [Int] = []
        var field = "", record: [String] = []
        var inQuotes = false, line = 1, recordLine = 1, afterQuote = false
        func endRecord() {
            record.append(field)
            field = ""
            if !(record.count == 1 && record[0].isEmpty) { records.append(record); lines.append(recordLine) }
            record = []
        }
        var iterator = text.makeIterator()
        while let c = iterator.next() {
            if inQuotes {
                if c == "\"" { inQuotes = false; afterQuote = true } else { field.append(c); if c == "\n" || c == "\r\n" { line += 1 } }
                continue
            }
            if quoted, c == "\"" {
                if field.isEmpty && !afterQuote { inQuotes = true; continue }
                if afterQuote { field.append("\""); inQuotes = true; afterQuote = false; continue }
                throw DataError(source, "line \(line): a quote inside an unquoted field (quote the whole field and double the quote)")
            }
            afterQuote = false
            if c == separator {
                record.append(field)
                field = ""
            } else if c == "\n" || c == "\r\n" {
                endRecord()
                line += 1
                recordLine = line
            } else if c != "\r" {
                field.append(c)
            }
        }
        if inQuotes { throw DataError(source, "line \(recordLine): unterminated quoted field") }
        if !field.isEmpty || !record.isEmpty { endRecord() }
        guard let header = records.first else { throw DataError(source, "empty file: expected a header row") }
        let body = Array(records.dropFirst())
        for (row, fields) in body.enumerated() where fields.count != header.count {
            throw DataError(source, "line \(lines[row + 1]): expected \(header.count) fields (\(header.joined(separator: ", "))), found \(fields.count)")
        }
        guard !body.isEmpty else { throw DataError(source, "no rows after the header") }
        return Table(columns: header, rows: body, source: source, lines: Array(lines.dropFirst()))
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
