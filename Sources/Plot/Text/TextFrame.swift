/// The layout of a terminal chart with a numeric y axis on the left and a numeric x axis below:
/// title, y-axis title, the plot rows with tick labels, the axis line, x tick labels, x-axis title,
/// legend and notes, fitted into `width` × `height` cells (at least 24 × 8).
struct TextXYFrame {
    let width: Int
    let xAxis: Axis
    let yAxis: Axis
    /// Columns of y tick labels before " │".
    let gutter: Int
    let plotRows: Int
    let plotColumns: Int

    init(width: Int, height: Int, hasTitle: Bool, hasYLabel: Bool, hasXLabel: Bool, footerLines: Int,
         xValues: [Double], xScale: AxisScale, yValues: [Double], yScale: AxisScale, yIncludesZero: Bool = false) {
        self.width = max(24, width)
        let header = (hasTitle ? 1 : 0) + (hasYLabel ? 1 : 0)
        let footer = 2 + (hasXLabel ? 1 : 0) + footerLines
        plotRows = max(3, max(8, height) - header - footer)
        yAxis = Axis(covering: yValues, scale: yScale, tickCount: max(2, plotRows / 3), includeZero: yIncludesZero)
        gutter = yAxis.labels.map(TextWidth.of).max() ?? 1
        plotColumns = max(8, self.width - gutter - 2)
        xAxis = Axis(covering: xValues, scale: xScale, tickCount: max(2, plotColumns / 8))
    }

    /// The plot column (0 at the left) for a position along the x axis.
    func column(_ fraction: Double) -> Int { Int((clamped(fraction) * Double(plotColumns - 1)).rounded()) }
    /// The plot row (0 at the top) for a position along the y axis.
    func row(_ fraction: Double) -> Int { plotRows - 1 - Int((clamped(fraction) * Double(plotRows - 1)).rounded()) }

    /// The whole chart around `plot` (a grid of `plotRows` × `plotColumns`).
    func render(plot: TextGrid, title: String, xLabel: String, yLabel: String, footer: [String]) -> String {
        var lines: [String] = []
        if !title.isEmpty { lines.append(TextWidth.truncate(title, to: width)) }
        if !yLabel.isEmpty { lines.append(TextWidth.truncate(yLabel, to: width)) }
        var tickRows: [Int: String] = [:]
        for (tick, label) in zip(yAxis.ticks, yAxis.labels) {
            let at = row(yAxis.fraction(tick))
            if tickRows[at] == nil { tickRows[at] = label }
        }
        for index in 0..<plotRows {
            let label = tickRows[index].map { TextWidth.pad($0, to: gutter, alignRight: true) + " ┤" }
            lines.append((label ?? String(repeating: " ", count: gutter) + " │") + plot.line(index))
        }
        var axisLine = Array(repeating: "─", count: plotColumns)
        var labelRow = TextGrid(rows: 1, columns: width)
        var nextFree = 0
        for (tick, label) in zip(xAxis.ticks, xAxis.labels) {
            let at = column(xAxis.fraction(tick))
            axisLine[at] = "┬"
            let span = TextWidth.of(label)
            let start = min(width - span, max(0, gutter + 2 + at - span / 2))
            if start >= nextFree {
                labelRow.write(label, row: 0, column: start)
                nextFree = start + span + 1
            }
        }
        lines.append(String(repeating: " ", count: gutter) + " └" + axisLine.joined())
        lines.append(labelRow.line(0))
        if !xLabel.isEmpty { lines.append(centred(xLabel)) }
        lines += footer.map { TextWidth.truncate($0, to: width) }
        return joinedLines(lines)
    }

    /// `text` centred under the plot area.
    func centred(_ text: String) -> String {
        let fitted = TextWidth.truncate(text, to: width)
        let start = max(0, min(width - TextWidth.of(fitted), gutter + 2 + (plotColumns - TextWidth.of(fitted)) / 2))
        return String(repeating: " ", count: start) + fitted
    }

    /// Indents a footer line (legend, notes) to start under the plot area.
    func indented(_ text: String) -> String { String(repeating: " ", count: gutter + 2) + text }

    private func clamped(_ fraction: Double) -> Double { fraction.isFinite ? min(1, max(0, fraction)) : 0 }
}
