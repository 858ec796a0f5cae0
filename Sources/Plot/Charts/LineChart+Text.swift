extension LineChart {
    /// Glyphs for series drawn as marks, one per cell: every series after the first, and any series
    /// with the `.points` style. The first line series is drawn in braille dots.
    static let textMarks = ["●", "▲", "■", "×", "+", "○", "△", "□"]

    /// The chart for a terminal, `width` × `height` cells (at least 24 × 8): the first line series
    /// in braille, the others as marks, annotations as dotted lines with their labels.
    public func text(width: Int = 80, height: Int = 24) -> String {
        let data = PlottableData(self)
        var legend: [String] = []
        var marks: [String?] = []
        var nextMark = 0
        for (index, series) in series.enumerated() {
            if index == 0 && series.style != .points {
                marks.append(nil)
                legend.append("⠤⠤ " + series.name)
            } else {
                let mark = LineChart.textMarks[nextMark % LineChart.textMarks.count]
                nextMark += 1
                marks.append(mark)
                legend.append(mark + " " + series.name)
            }
        }
        let showLegend = series.count > 1
        let frame = TextXYFrame(width: width, height: height, hasTitle: !title.isEmpty, hasYLabel: !yLabel.isEmpty,
                                hasXLabel: !xLabel.isEmpty, footerLines: (showLegend ? 1 : 0) + data.notes.count,
                                xValues: data.xValues, xScale: xScale, yValues: data.yValues, yScale: yScale)
        var grid = TextGrid(rows: frame.plotRows, columns: frame.plotColumns)
        var braille = BrailleCanvas(rows: frame.plotRows, columns: frame.plotColumns)
        for (index, runs) in data.runs.enumerated() where marks[index] == nil {
            for run in runs {
                let dots = run.map { point in
                    (dot(frame.xAxis.fraction(point.x), braille.dotWidth), braille.dotHeight - 1 - dot(frame.yAxis.fraction(point.y), braille.dotHeight))
                }
                for (start, end) in zip(dots, dots.dropFirst()) { braille.line(start.0, start.1, end.0, end.1) }
                if let only = dots.first, dots.count == 1 { braille.set(only.0, only.1) }
            }
        }
        braille.draw(onto: &grid)
        for (index, runs) in data.runs.enumerated() {
            guard let mark = marks[index] else { continue }
            for point in runs.joined() {
                grid[frame.row(frame.yAxis.fraction(point.y)), frame.column(frame.xAxis.fraction(point.x))] = mark
            }
        }
        drawAnnotations(data.annotations, frame: frame, on: &grid)
        if data.isEmpty { grid.write("no data", row: grid.rows / 2, column: max(0, (grid.columns - 7) / 2)) }
        var footer: [String] = []
        if showLegend { footer.append(frame.indented(legend.joined(separator: "   "))) }
        footer += data.notes
        return frame.render(plot: grid, title: title, xLabel: xLabel, yLabel: yLabel, footer: footer)
    }

    /// Dotted lines in empty cells and labels for each annotation.
    private func drawAnnotations(_ annotations: [Annotation], frame: TextXYFrame, on grid: inout TextGrid) {
        for annotation in annotations {
            switch annotation {
            case let .verticalLine(x, label):
                let column = frame.column(frame.xAxis.fraction(x))
                for row in 0..<grid.rows where grid.isBlank(row, column) { grid[row, column] = "┊" }
                writeLabel(label, row: 0, beside: column, on: &grid)
            case let .horizontalLine(y, label):
                let row = frame.row(frame.yAxis.fraction(y))
                for column in 0..<grid.columns where grid.isBlank(row, column) { grid[row, column] = "┄" }
                let labelRow = row > 0 ? row - 1 : row + 1
                grid.write(label, row: labelRow, column: max(0, grid.columns - TextWidth.of(label)))
            case let .marker(x, y, label):
                let (row, column) = (frame.row(frame.yAxis.fraction(y)), frame.column(frame.xAxis.fraction(x)))
                grid[row, column] = "◆"
                writeLabel(label, row: row, beside: column, on: &grid)
            }
        }
    }

    /// `label` just right of `column`, or just left of it when it would not fit on the right.
    private func writeLabel(_ label: String, row: Int, beside column: Int, on grid: inout TextGrid) {
        let span = TextWidth.of(label)
        let start = column + 2 + span <= grid.columns ? column + 2 : max(0, column - 1 - span)
        grid.write(label, row: row, column: start)
    }

    /// A dot index along `count` dots for a fraction of the axis.
    private func dot(_ fraction: Double, _ count: Int) -> Int {
        let clamped = fraction.isFinite ? min(1, max(0, fraction)) : 0
        return Int((clamped * Double(count - 1)).rounded())
    }
}
