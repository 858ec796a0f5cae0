extension BarChart {
    /// Left-aligned partial blocks: index k draws k eighths of a cell.
    static let eighths = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]

    /// The chart for a terminal, always horizontal: one row per bar, bars in eighths of a cell
    /// (negative ones to the left of the zero line in halves), the value after each bar. At most
    /// `width` columns and `height` lines; bars that do not fit are counted in a last line.
    public func text(width: Int = 80, height: Int = 24) -> String {
        let width = max(24, width)
        let (values, notes) = drawable
        let multi = series.count > 1
        let seriesWidth = multi ? min(width / 6, series.map { TextWidth.of($0.name) }.max() ?? 0) + 1 : 0
        let categoryWidth = min(categories.map(TextWidth.of).max() ?? 0, width / 3)
        let labelWidth = categoryWidth + seriesWidth
        let valueWidth = values.map { TextWidth.of(BarChart.format($0)) }.max() ?? 1
        let barColumns = max(1, width - labelWidth - 3 - valueWidth)
        let low = min(0, values.min() ?? 0)
        let high = max(0, values.max() ?? 0)
        let span = high - low > 0 ? high - low : 1
        let negativeColumns = low < 0 ? max(1, Int((Double(barColumns) * -low / span).rounded())) : 0
        let positiveColumns = barColumns - negativeColumns

        var lines: [String] = []
        if !title.isEmpty { lines.append(TextWidth.truncate(title, to: width)) }
        if !categoryLabel.isEmpty || !valueLabel.isEmpty {
            let header = TextWidth.pad(TextWidth.truncate(categoryLabel, to: labelWidth), to: labelWidth)
            lines.append(header + " " + String(repeating: " ", count: negativeColumns) + valueLabel)
        }
        var rows: [String] = []
        for category in categories.indices {
            for index in series.indices {
                let name = index == 0 ? TextWidth.truncate(categories[category], to: categoryWidth) : ""
                var label = TextWidth.pad(name, to: categoryWidth)
                if multi { label += " " + TextWidth.pad(TextWidth.truncate(series[index].name, to: seriesWidth - 1), to: seriesWidth - 1) }
                guard let value = value(index, category) else {
                    rows.append(label + " " + String(repeating: " ", count: negativeColumns) + "│ –")
                    continue
                }
                let left = value < 0 ? negativeBar(-value / -low, columns: negativeColumns) : String(repeating: " ", count: negativeColumns)
                let right = value > 0 ? positiveBar(value / high, columns: positiveColumns) : ""
                rows.append(label + " " + left + "│" + right + " " + BarChart.format(value))
            }
        }
        if categories.isEmpty { rows.append(String(repeating: " ", count: labelWidth) + " │ no data") }
        let room = max(1, max(4, height) - lines.count - notes.count)
        if rows.count > room {
            let hidden = rows.count - (room - 1)
            rows = Array(rows.prefix(room - 1)) + [TextWidth.truncate("… \(hidden) more bar\(hidden == 1 ? "" : "s") not shown", to: width)]
        }
        lines += rows
        lines += notes.map { TextWidth.truncate($0, to: width) }
        return joinedLines(lines)
    }

    /// A bar `fraction` of `columns` long, in eighths of a cell.
    private func positiveBar(_ fraction: Double, columns: Int) -> String {
        let eighths = Int((min(1, max(0, fraction)) * Double(columns) * 8).rounded())
        return String(repeating: "█", count: eighths / 8) + BarChart.eighths[eighths % 8]
    }

    /// A bar `fraction` of `columns` long ending at the right edge, in halves of a cell.
    private func negativeBar(_ fraction: Double, columns: Int) -> String {
        let halves = Int((min(1, max(0, fraction)) * Double(columns) * 2).rounded())
        let bar = (halves % 2 == 1 ? "▐" : "") + String(repeating: "█", count: halves / 2)
        return String(repeating: " ", count: columns - (halves + 1) / 2) + bar
    }
}
