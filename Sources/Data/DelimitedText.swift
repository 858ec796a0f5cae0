/// Delimited text: a header row, then one record per line (CSV quoting per RFC 4180 when `quoted`).
/// Every record must have as many fields as the header; blank lines are skipped.
struct DelimitedParser {
    let text: String
    let source: String
    let separator: Character
    let quoted: Bool

    func table() throws -> Table {
        var records: [[String]] = [], lines: [Int] = []
        var field = "", record: [String] = []
        var inQuotes = false, line = 1, recordLine = 1, afterQuote = false
        func endField() throws {
            let column = records.first.map { record.count < $0.count ? $0[record.count] : "field \(record.count + 1)" } ?? "column \(record.count + 1) of the header"
            try TableLimits.checkField(field, line: recordLine, column: column, source: source)
            record.append(field)
            field = ""
            if records.isEmpty, record.count > TableLimits.maximumColumns {
                throw DataError(source, "line \(recordLine): the header has more than \(TableLimits.maximumColumns) columns (the limit)")
            }
        }
        func endRecord() throws {
            try endField()
            if !(record.count == 1 && record[0].isEmpty) {
                if let header = records.first {
                    try checkWidth(record, header: header, line: recordLine)
                } else {
                    try TableLimits.checkHeader(record, line: recordLine, source: source)
                }
                records.append(record)
                lines.append(recordLine)
            }
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
                try endField()
            } else if c == "\n" || c == "\r\n" {
                try endRecord()
                line += 1
                recordLine = line
            } else if c != "\r" {
                field.append(c)
            }
        }
        if inQuotes { throw DataError(source, "line \(recordLine): unterminated quoted field") }
        if !field.isEmpty || !record.isEmpty { try endRecord() }
        guard let header = records.first else { throw DataError(source, "empty file: expected a header row") }
        guard records.count > 1 else { throw DataError(source, "no rows after the header") }
        return Table(columns: header, rows: Array(records.dropFirst()), source: source, lines: Array(lines.dropFirst()))
    }

    /// A ragged row is an error naming the column it lacks or the field past the last column.
    func checkWidth(_ fields: [String], header: [String], line: Int) throws {
        guard fields.count != header.count else { return }
        let expected = header.count <= 20 ? "expected \(header.count) fields (\(header.joined(separator: ", ")))" : "expected \(header.count) fields"
        let detail = fields.count < header.count
            ? "no value for column \"\(header[fields.count])\""
            : "field \(header.count + 1) is past the last column \"\(header[header.count - 1])\""
        let hint = separator == "\t" ? " (a tab inside a text?)" : " (quote a field that holds a comma)"
        throw DataError(source, "line \(line): \(expected), found \(fields.count): \(detail)\(fields.count > header.count ? hint : "")")
    }
}
