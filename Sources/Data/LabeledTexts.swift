import Foundation

/// Texts with class labels, taken from two columns of a table: what a classifier trains on.
public struct LabeledTexts: Sendable, Equatable {
    public var texts: [String]
    /// Class ids, indices into `labelNames`.
    public var labels: [Int]
    public var labelNames: [String]

    public init(texts: [String], labels: [Int], labelNames: [String]) {
        self.texts = texts
        self.labels = labels
        self.labelNames = labelNames
    }

    /// Reads `text` and `label` columns. Label names are `labelNames` when given (a value outside them
    /// is an error naming the row), else the distinct values sorted (numerically when all are integers).
    public init(table: Table, text: String, label: String, labelNames given: [String]? = nil) throws {
        let textIndex = try table.columnIndex(text), labelIndex = try table.columnIndex(label)
        for column in [text, label] {
            if let row = table.firstStructuredRow[column] {
                throw DataError(table.source, "line \(table.lines[row]), column \"\(column)\": a JSON object or array where text is expected")
            }
        }
        let values = table.rows.map { $0[labelIndex] }
        if let row = values.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw DataError(table.source, "line \(table.lines[row]), column \"\(label)\": the label is empty; every row needs one")
        }
        let names: [String]
        if let given {
            names = given
        } else {
            let distinct = Set(values)
            names = distinct.allSatisfy { Int($0) != nil } ? distinct.sorted { Int($0)! < Int($1)! } : distinct.sorted()
        }
        if let repeated = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw DataError(table.source, "label \"\(repeated)\" is listed twice in the label names (\(names.joined(separator: ", ")))")
        }
        let ids = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        var labels: [Int] = []
        labels.reserveCapacity(values.count)
        for (row, value) in values.enumerated() {
            guard let id = ids[value] else {
                throw DataError(table.source, "line \(table.lines[row]), column \"\(label)\": label \"\(value)\" is not one of \(names.joined(separator: ", "))")
            }
            labels.append(id)
        }
        self.init(texts: table.rows.map { $0[textIndex] }, labels: labels, labelNames: names)
    }

    public var count: Int { texts.count }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int]) -> LabeledTexts {
        LabeledTexts(texts: indices.map { texts[$0] }, labels: indices.map { labels[$0] }, labelNames: labelNames)
    }
}
