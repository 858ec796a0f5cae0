import Foundation

/// The limits a data file must keep and the checks that enforce them, each error naming the line and column.
public enum TableLimits {
    /// The largest field, in UTF-8 bytes (1 MiB): far past any text a model reads, small enough to
    /// catch a file whose quoting swallowed the rest of it.
    public static let maximumFieldBytes = 1 << 20
    /// The most columns a header (or the keys of a JSON-lines file) may have.
    public static let maximumColumns = 10_000

    /// A field over `maximumFieldBytes` is an error naming its line and column.
    static func checkField(_ field: String, line: Int, column: String, source: String) throws {
        let size = field.utf8.count
        guard size > maximumFieldBytes else { return }
        throw DataError(source, "line \(line), \(columnName(column)): a field of \(size) bytes; the limit is 1 MiB (\(maximumFieldBytes) bytes)")
    }

    /// Header names must be non-empty and distinct.
    static func checkHeader(_ names: [String], line: Int, source: String) throws {
        var seen: [String: Int] = [:]
        for (index, name) in names.enumerated() {
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw DataError(source, "line \(line): column \(index + 1) of the header has no name; every column needs one")
            }
            if let first = seen[name] {
                throw DataError(source, "line \(line): column \"\(name)\" appears twice in the header (columns \(first + 1) and \(index + 1))")
            }
            seen[name] = index
        }
    }

    /// `column "text"`, or a position such as `field 3` as is.
    static func columnName(_ column: String) -> String {
        column.hasPrefix("column ") || column.hasPrefix("field ") ? column : "column \"\(column)\""
    }

    /// The text of `data` (a leading byte-order mark dropped), or an error naming the line and byte of the
    /// first byte that is not UTF-8.
    static func decodeUTF8(_ data: Data, source: String) throws -> String {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        if let bad = firstInvalidUTF8Offset(bytes) {
            let lineStart = bytes[..<bad].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            let line = bytes[..<bad].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            let byte = String(bytes[bad], radix: 16, uppercase: true)
            throw DataError(source, "line \(line), byte \(bad - lineStart + 1) of the line (byte \(bad + 1) of the file): 0x\(byte) is not UTF-8 text; save the file as UTF-8")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629: no overlong
    /// forms, no surrogates, nothing past U+10FFFF), or nil when all are well-formed.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            if lead < 0x80 { index += 1; continue }
            let length: Int, secondRange: ClosedRange<UInt8>
            switch lead {
            case 0xC2...0xDF: (length, secondRange) = (2, 0x80...0xBF)
            case 0xE0: (length, secondRange) = (3, 0xA0...0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (length, secondRange) = (3, 0x80...0xBF)
            case 0xED: (length, secondRange) = (3, 0x80...0x9F)
            case 0xF0: (length, secondRange) = (4, 0x90...0xBF)
            case 0xF1...0xF3: (length, secondRange) = (4, 0x80...0xBF)
            case 0xF4: (length, secondRange) = (4, 0x80...0x8F)
            default: return index
            }
            guard index + 1 < bytes.count, secondRange.contains(bytes[index + 1]) else { return index }
            for offset in 2..<length {
                guard index + offset < bytes.count, (0x80...0xBF).contains(bytes[index + offset]) else { return index }
            }
            index += length
        }
        return nil
    }
}
