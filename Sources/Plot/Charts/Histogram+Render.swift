extension Histogram {
    /// Lower partial blocks: index k fills k eighths of a cell from the bottom.
    static let lowerEighths = ["", "▁", "▂", "▃", "▄", "▅", "▆", "▇"]

    /// The chart as a standalone SVG document of `width` × `height` pixels, markers as dashed lines
    /// labelled at the top (staggered when they crowd each other).
    public func svg(width: Int = 640, height: Int = 360) -> String {
        let chrome = ChartChrome(width: width, height: height, title: title, legend: [], notes: notes)
        let roughHeight = chrome.height - chrome.headerHeight - chrome.footerHeight - 38
        let yAxis = Axis(covering: yValues, scale: .linear, tickCount: max(2, Int(roughHeight / 50)), includeZero: true)
        let frame = XYFrame(chrome: chrome, yTickLabels: yAxis.labels, hasXLabel: !xLabel.isEmpty, hasYLabel: !yLabel.isEmpty)
        let area = frame.area
        let xAxis = Axis(covering: xValues, scale: .linear, tickCount: max(2, Int(area.width / 90)))
        var document = SVGDocument(width: width, height: height, title: title)
        chrome.draw(into: &document)
        frame.drawYAxis(yAxis, label: yLabel, into: &document)
        frame.drawXAxis(xAxis, label: xLabel, into: &document)
        document.open("bars")
        let zero = frame.y(0)
        for bin in bins {
            let left = frame.x(xAxis.fraction(bin.lower)), right = frame.x(xAxis.fraction(bin.upper))
            let gap = right - left > 4 ? 1.0 : 0
            let top = frame.y(yAxis.fraction(Double(bin.count)))
            let range = "[" + NumberFormat.compact(bin.lower) + ", " + NumberFormat.compact(bin.upper) + "): "
            document.rect(left + gap / 2, top, right - left - gap, zero - top, class: "bar", fill: Palette.series(0),
                          tooltip: range + String(bin.count))
        }
        document.close()
        if !markers.isEmpty {
            document.open("markers")
            var rowEnds: [Double] = [-.infinity, -.infinity, -.infinity]
            for marker in markers {
                let x = frame.x(xAxis.fraction(marker.value))
                document.line(x, area.top, x, area.bottom, class: "marker")
                let label = marker.label + " " + NumberFormat.compact(marker.value)
                let span = estimatedWidth(label, fontSize: 10)
                let flip = x + 3 + span > area.right
                let start = flip ? x - 3 - span : x + 3
                let row = rowEnds.firstIndex { $0 < start - 4 } ?? 0
                rowEnds[row] = start + span
                document.text(label, flip ? x - 3 : x + 3, area.top + 11 + Double(row) * 12, class: "marker-label",
                              anchor: flip ? .end : .start)
            }
            document.close()
        }
        if bins.isEmpty {
            document.text("no data", (area.left + area.right) / 2, (area.top + area.bottom) / 2, class: "note", anchor: .middle)
        }
        return document.rendered()
    }

    /// The chart for a terminal, `width` × `height` cells (at least 24 × 8): columns of eighth
    /// blocks, markers as dotted lines labelled at the top and listed under the chart.
    public func text(width: Int = 80, height: Int = 24) -> String {
        let summary = markers.isEmpty ? [] : [markers.map { $0.label + " " + NumberFormat.compact($0.value) }.joined(separator: " · ")]
        let frame = TextXYFrame(width: width, height: height, hasTitle: !title.isEmpty, hasYLabel: !yLabel.isEmpty,
                                hasXLabel: !xLabel.isEmpty, footerLines: summary.count + notes.count,
                                xValues: xValues, xScale: .linear, yValues: yValues, yScale: .linear, yIncludesZero: true)
        var grid = TextGrid(rows: frame.plotRows, columns: frame.plotColumns)
        let last = Double(frame.plotColumns - 1)
        for column in 0..<frame.plotColumns {
            let from = frame.xAxis.value(at: (Double(column) - 0.5) / last)
            let centre = frame.xAxis.value(at: Double(column) / last)
            let to = frame.xAxis.value(at: (Double(column) + 0.5) / last)
            let count = bins.filter { bin in
                (bin.lower <= centre && centre < bin.upper) || (from <= (bin.lower + bin.upper) / 2 && (bin.lower + bin.upper) / 2 < to)
            }.map(\.count).max() ?? 0
            let eighths = Int((min(1, max(0, frame.yAxis.fraction(Double(count)))) * Double(frame.plotRows) * 8).rounded())
            for level in 0..<frame.plotRows {
                let filled = eighths - level * 8
                guard filled > 0 else { break }
                grid[frame.plotRows - 1 - level, column] = filled >= 8 ? "█" : Histogram.lowerEighths[filled]
            }
        }
        var labelEnds = [-1, -1]
        for marker in markers {
            let column = frame.column(frame.xAxis.fraction(marker.value))
            for row in 0..<grid.rows where grid.isBlank(row, column) { grid[row, column] = "┊" }
            let span = TextWidth.of(marker.label)
            let start = column + 1 + span <= grid.columns ? column + 1 : column - span
            guard let row = labelEnds.firstIndex(where: { $0 < start }), start >= 0 else { continue }
            grid.write(marker.label, row: row, column: start)
            labelEnds[row] = start + span
        }
        if bins.isEmpty { grid.write("no data", row: grid.rows / 2, column: max(0, (grid.columns - 7) / 2)) }
        return frame.render(plot: grid, title: title, xLabel: xLabel, yLabel: yLabel,
                            footer: summary.map(frame.indented) + notes)
    }

    /// What the x axis must cover: every bin edge and marker.
    private var xValues: [Double] { bins.flatMap { [$0.lower, $0.upper] } + markers.map(\.value) }

    /// What the count axis must cover, with headroom for marker labels when there are markers.
    private var yValues: [Double] {
        let counts = bins.map { Double(max(0, $0.count)) }
        return markers.isEmpty ? counts : counts + [(counts.max() ?? 0) * 1.15]
    }
}
