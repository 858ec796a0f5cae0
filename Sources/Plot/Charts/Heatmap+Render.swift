extension Heatmap {
    /// Shade characters for shares under 25%, 50%, 75% and from 75% up (blank for 0).
    static let shades = ["░", "▒", "▓", "█"]

    /// The chart as a standalone SVG document of `width` × `height` pixels: square cells with the
    /// value (and the share, when there is room) printed in each, a colour scale on the right.
    public func svg(width: Int = 640, height: Int = 360) -> String {
        let chrome = ChartChrome(width: width, height: height, title: title, legend: [], notes: notes)
        var document = SVGDocument(width: width, height: height, title: title)
        chrome.draw(into: &document)
        let rows = rowCount, columns = columnCount
        guard rows > 0 && columns > 0 else {
            document.text("no data", chrome.width / 2, chrome.height / 2, class: "note", anchor: .middle)
            return document.rendered()
        }
        let rowNameWidth = min((0..<rows).map { estimatedWidth(rowName($0), fontSize: 11) }.max() ?? 0, chrome.width * 0.3)
        let leftmost = 12 + (rowLabel.isEmpty ? 0 : 20) + rowNameWidth + 8
        let top = chrome.headerHeight
        let widestColumn = (0..<columns).map { estimatedWidth(columnName($0), fontSize: 11) }.max() ?? 0
        func cellSize(reserving bottom: Double) -> Double {
            let across = (chrome.width - leftmost - 76) / Double(columns)
            let down = (chrome.height - chrome.footerHeight - top - bottom - (columnLabel.isEmpty ? 0 : 18) - 6) / Double(rows)
            return max(1, min(across, down))
        }
        var labelSpace = 20.0
        var cell = cellSize(reserving: labelSpace)
        let rotate = widestColumn > cell - 4
        if rotate {
            labelSpace = min(widestColumn * 0.65 + 14, chrome.height * 0.3)
            cell = cellSize(reserving: labelSpace)
        }
        let shift = max(0, (chrome.width - leftmost - 76 - cell * Double(columns)) / 2)
        let left = leftmost + shift
        let gridBottom = top + cell * Double(rows), gridRight = left + cell * Double(columns)
        let shares = shares()
        document.open("cells")
        for row in 0..<rows {
            for column in 0..<columns {
                let (x, y, share) = (left + Double(column) * cell, top + Double(row) * cell, shares[row][column])
                let value = value(row, column)
                document.rect(x, y, cell, cell, class: "cell", fill: value == nil ? "#eeeeee" : Palette.ramp(share),
                              tooltip: tooltip(row, column, share))
                guard let value, cell >= 16 else { continue }
                let text = formatted(value)
                guard estimatedWidth(text, fontSize: 12) <= cell - 4 else { continue }
                let showShare = normalization != .all && cell >= 40
                let ink = Palette.needsLightText(share) ? "#ffffff" : "#1a1a1a"
                document.text(text, x + cell / 2, y + cell / 2 + (showShare ? 0 : 4), class: "cell-count", anchor: .middle, fill: ink)
                if showShare {
                    document.text(Heatmap.percent(share), x + cell / 2, y + cell / 2 + 14, class: "cell-share", anchor: .middle, fill: ink)
                }
            }
        }
        document.close()
        document.open("labels")
        for row in 0..<rows {
            document.text(fitted(rowName(row), pixels: rowNameWidth, fontSize: 11), left - 6, top + (Double(row) + 0.5) * cell + 4,
                          class: "tick-label", anchor: .end)
        }
        for column in 0..<columns {
            let centre = left + (Double(column) + 0.5) * cell
            if rotate {
                document.text(fitted(columnName(column), pixels: (labelSpace - 14) / 0.65, fontSize: 11), centre + 4, gridBottom + 12,
                              class: "tick-label", anchor: .end, rotate: -40)
            } else {
                document.text(fitted(columnName(column), pixels: cell - 4, fontSize: 11), centre, gridBottom + 15,
                              class: "tick-label", anchor: .middle)
            }
        }
        if !columnLabel.isEmpty {
            document.text(columnLabel, (left + gridRight) / 2, gridBottom + labelSpace + 14, class: "axis-label", anchor: .middle)
        }
        if !rowLabel.isEmpty {
            document.text(rowLabel, 24 + shift, (top + gridBottom) / 2, class: "axis-label", anchor: .middle, rotate: -90)
        }
        document.close()
        drawScale(x: gridRight + 16, top: top, bottom: gridBottom, into: &document)
        return document.rendered()
    }

    /// A vertical colour scale with its end labels.
    private func drawScale(x: Double, top: Double, bottom: Double, into document: inout SVGDocument) {
        let largest = (0..<rowCount).flatMap { row in (0..<columnCount).compactMap { value(row, $0) } }.max() ?? 0
        let (high, low) = normalization == .all ? (formatted(max(0, largest)), "0") : ("100%", "0%")
        let steps = 20
        let step = (bottom - top) / Double(steps)
        document.open("scale")
        for index in 0..<steps {
            let share = 1 - (Double(index) + 0.5) / Double(steps)
            document.rect(x, top + Double(index) * step, 12, step + 0.5, class: "scale-step", fill: Palette.ramp(share))
        }
        document.text(high, x + 16, top + 9, class: "tick-label")
        document.text(low, x + 16, bottom, class: "tick-label")
        document.close()
    }

    private func tooltip(_ row: Int, _ column: Int, _ share: Double) -> String {
        let rowPart = (rowLabel.isEmpty ? "" : rowLabel + " ") + rowName(row)
        let columnPart = (columnLabel.isEmpty ? "" : columnLabel + " ") + columnName(column)
        guard let value = value(row, column) else { return rowPart + ", " + columnPart + ": blank" }
        return rowPart + ", " + columnPart + ": " + formatted(value) + " (" + Heatmap.percent(share) + " " + shareName + ")"
    }

    /// A share as a percentage: whole percents from 10% up, one decimal below.
    static func percent(_ share: Double) -> String {
        NumberFormat.fixed(share * 100, decimals: share >= 0.1 ? 0 : 1) + "%"
    }

    /// The chart for a terminal: a table with a shade character and the value in each cell, fitted
    /// into `width` columns and `height` lines. Columns are numbered, with a key below, when their
    /// names do not fit; columns and rows that still do not fit are counted.
    public func text(width: Int = 80, height: Int = 24) -> String {
        let width = max(24, width)
        let shares = shares()
        let printed = (0..<rowCount).map { row in (0..<columnCount).map { column in value(row, column).map(formatted) } }
        let valueWidth = printed.joined().compactMap { $0.map(TextWidth.of) }.max() ?? 1
        let cells = printed.enumerated().map { row, entries in
            entries.enumerated().map { column, entry in
                guard let entry else { return "–" }
                let share = shares[row][column]
                return (share > 0 ? Heatmap.shades[min(3, Int(share * 4))] : " ") + " " + TextWidth.pad(entry, to: valueWidth, alignRight: true)
            }
        }
        let cellWidth = valueWidth + 2
        let nameWidth = min(width / 3, max(TextWidth.of(rowLabel), (0..<rowCount).map { TextWidth.of(rowName($0)) }.max() ?? 0))
        let namedWidth = max(cellWidth, min(12, (0..<columnCount).map { TextWidth.of(columnName($0)) }.max() ?? 0))
        let numbered = nameWidth + columnCount * (namedWidth + 2) > width
        let columnWidth = numbered ? max(cellWidth, TextWidth.of(String(columnCount))) : namedWidth
        let shownColumns = min(columnCount, max(1, (width - nameWidth) / (columnWidth + 2)))
        var lines: [String] = []
        if !title.isEmpty { lines.append(TextWidth.truncate(title, to: width)) }
        if !columnLabel.isEmpty { lines.append(String(repeating: " ", count: nameWidth + 2) + columnLabel) }
        func tableLine(_ head: String, _ entries: [String]) -> String {
            TextWidth.pad(TextWidth.truncate(head, to: nameWidth), to: nameWidth)
                + entries.prefix(shownColumns).map { "  " + TextWidth.pad(TextWidth.truncate($0, to: columnWidth), to: columnWidth, alignRight: true) }.joined()
        }
        lines.append(tableLine(rowLabel, (0..<columnCount).map { numbered ? String($0 + 1) : columnName($0) }))
        var footer = [Heatmap.shades.enumerated().map { index, shade in shade + (index < 3 ? " <\((index + 1) * 25)%" : " ≥75%") }
            .joined(separator: "  ") + "  (" + shareName + ")"]
        if numbered { footer += wrapped((0..<columnCount).map { "\($0 + 1) " + columnName($0) }, width: width, prefix: "columns: ") }
        if shownColumns < columnCount { footer.append("\(columnCount - shownColumns) more column\(columnCount - shownColumns == 1 ? "" : "s") not shown") }
        footer += notes
        let room = max(1, max(6, height) - lines.count - footer.count)
        let shownRows = rowCount <= room ? rowCount : room - 1
        for row in 0..<shownRows { lines.append(tableLine(rowName(row), cells[row])) }
        if shownRows < rowCount { lines.append(TextWidth.truncate("… \(rowCount - shownRows) more row\(rowCount - shownRows == 1 ? "" : "s") not shown", to: width)) }
        if rowCount == 0 || columnCount == 0 { lines.append("no data") }
        lines += footer.map { TextWidth.truncate($0, to: width) }
        return joinedLines(lines)
    }
}
