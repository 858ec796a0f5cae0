/// A grid of values with each cell shaded by its share and its value printed in it: a confusion
/// matrix (true labels on rows, predictions on columns, colour normalised per row), or any matrix.
/// Missing cells (ragged rows) and non-finite values are left blank and noted.
public struct Heatmap: Sendable, Equatable {
    /// What a cell's colour is relative to.
    public enum Normalization: Sendable, Equatable {
        /// The cell's share of its row total (recall, for a confusion matrix).
        case rows
        /// The cell's share of its column total (precision, for a confusion matrix).
        case columns
        /// The cell against the largest cell.
        case all
    }

    /// Shown at the top and used as the SVG's accessible `<title>`; may be empty.
    public var title: String
    /// Title of the row axis, e.g. "true".
    public var rowLabel: String
    /// Title of the column axis, e.g. "predicted".
    public var columnLabel: String
    /// Row labels, top to bottom; rows beyond them are numbered.
    public var rowNames: [String]
    /// Column labels, left to right; columns beyond them are numbered.
    public var columnNames: [String]
    /// values[row][column]
    public var values: [[Double]]
    /// What the shading is relative to.
    public var normalization: Normalization

    /// A heatmap of any values, shaded relative to the largest unless told otherwise.
    public init(title: String = "", rowLabel: String = "", columnLabel: String = "", rowNames: [String],
                columnNames: [String], values: [[Double]], normalization: Normalization = .all) {
        self.title = title
        self.rowLabel = rowLabel
        self.columnLabel = columnLabel
        self.rowNames = rowNames
        self.columnNames = columnNames
        self.values = values
        self.normalization = normalization
    }

    /// A heatmap of counts, coloured by share of row unless told otherwise.
    public init(title: String = "", rowLabel: String = "true", columnLabel: String = "predicted", rowNames: [String],
                columnNames: [String], counts: [[Int]], normalization: Normalization = .rows) {
        self.init(title: title, rowLabel: rowLabel, columnLabel: columnLabel, rowNames: rowNames, columnNames: columnNames,
                  values: counts.map { $0.map(Double.init) }, normalization: normalization)
    }

    /// A confusion matrix: `counts[true][predicted]` over the same labels on both axes.
    public static func confusion(labels: [String], counts: [[Int]], title: String = "Confusion matrix") -> Heatmap {
        Heatmap(title: title, rowNames: labels, columnNames: labels, counts: counts)
    }

    var rowCount: Int { max(rowNames.count, values.count) }
    var columnCount: Int { max(columnNames.count, values.map(\.count).max() ?? 0) }

    /// A row's name, or its number when names run out.
    func rowName(_ row: Int) -> String { row < rowNames.count ? rowNames[row] : String(row + 1) }
    /// A column's name, or its number when names run out.
    func columnName(_ column: Int) -> String { column < columnNames.count ? columnNames[column] : String(column + 1) }

    /// The value of a cell, nil where missing or not finite.
    func value(_ row: Int, _ column: Int) -> Double? {
        guard row < values.count, column < values[row].count, Axis.isPlottable(values[row][column], on: .linear) else { return nil }
        return values[row][column]
    }

    /// Each cell's share (0…1) under the normalisation; negative values count as 0.
    func shares() -> [[Double]] {
        let rows = 0..<rowCount, columns = 0..<columnCount
        func positive(_ row: Int, _ column: Int) -> Double { max(0, value(row, column) ?? 0) }
        let rowTotals = rows.map { row in columns.map { positive(row, $0) }.reduce(0, +) }
        let columnTotals = columns.map { column in rows.map { positive($0, column) }.reduce(0, +) }
        let largest = rows.flatMap { row in columns.map { positive(row, $0) } }.max() ?? 0
        return rows.map { row in
            columns.map { column in
                let total = switch normalization {
                case .rows: rowTotals[row]
                case .columns: columnTotals[column]
                case .all: largest
                }
                return total > 0 ? positive(row, column) / total : 0
            }
        }
    }

    /// A cell's value as printed: whole numbers exactly (below ten million), others compactly.
    func formatted(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e7 ? NumberFormat.fixed(value, decimals: 0) : NumberFormat.compact(value)
    }

    /// What the shading means, for a legend.
    var shareName: String {
        switch normalization {
        case .rows: "share of row"
        case .columns: "share of column"
        case .all: "relative to the largest cell"
        }
    }

    /// Notes on blank cells.
    var notes: [String] {
        var missing = 0, nonFinite = 0
        for row in 0..<rowCount {
            for column in 0..<columnCount {
                if row < values.count, column < values[row].count { if value(row, column) == nil { nonFinite += 1 } } else { missing += 1 }
            }
        }
        var notes: [String] = []
        if nonFinite > 0 { notes.append("\(nonFinite) non-finite cell\(nonFinite == 1 ? "" : "s") left blank") }
        if missing > 0 { notes.append("\(missing) missing cell\(missing == 1 ? "" : "s") left blank") }
        return notes
    }
}
