extension BarChart {
    /// The chart as a standalone SVG document of `width` × `height` pixels.
    public func svg(width: Int = 640, height: Int = 360) -> String {
        let (values, notes) = drawable
        let legend = series.count < 2 ? [] : series.enumerated().map { index, series in
            LegendEntry(name: series.name, color: Palette.series(index), mark: .swatch)
        }
        let chrome = ChartChrome(width: width, height: height, title: title, legend: legend, notes: notes)
        var document = SVGDocument(width: width, height: height, title: title)
        chrome.draw(into: &document)
        let frame = isHorizontal(plotWidth: chrome.width - 90)
            ? drawHorizontal(values, chrome: chrome, into: &document)
            : drawVertical(values, chrome: chrome, into: &document)
        if values.isEmpty {
            let area = frame.area
            document.text("no data", (area.left + area.right) / 2, (area.top + area.bottom) / 2, class: "note", anchor: .middle)
        }
        return document.rendered()
    }

    /// Whether bars run horizontally, given roughly how wide the plot is.
    func isHorizontal(plotWidth: Double) -> Bool {
        switch orientation {
        case .vertical: return false
        case .horizontal: return true
        case .automatic:
            guard !categories.isEmpty else { return false }
            if categories.count > 16 { return true }
            let slot = plotWidth / Double(categories.count)
            return categories.contains { estimatedWidth($0, fontSize: 11) > slot * 0.75 }
        }
    }

    private func drawVertical(_ values: [Double], chrome: ChartChrome, into document: inout SVGDocument) -> XYFrame {
        let headroom = ((values.max() ?? 0) - min(0, values.min() ?? 0)) * 0.08
        let roughHeight = chrome.height - chrome.headerHeight - chrome.footerHeight - 38
        let covered = values + [max(0, values.max() ?? 0) + headroom]
        let axis = Axis(covering: covered, scale: .linear, tickCount: max(2, Int(roughHeight / 50)), includeZero: true)
        let frame = XYFrame(chrome: chrome, yTickLabels: axis.labels, hasXLabel: !categoryLabel.isEmpty, hasYLabel: !valueLabel.isEmpty)
        frame.drawYAxis(axis, label: valueLabel, into: &document)
        let area = frame.area
        let slot = area.width / Double(max(1, categories.count))
        let barWidth = slot * 0.8 / Double(max(1, series.count))
        let zero = frame.y(axis.fraction(0))
        document.open("bars")
        for category in categories.indices {
            for index in series.indices {
                guard let value = value(index, category) else { continue }
                let x = area.left + Double(category) * slot + slot * 0.1 + Double(index) * barWidth
                let end = frame.y(axis.fraction(value))
                document.rect(x, min(end, zero), barWidth - (series.count > 1 ? 1 : 0), abs(zero - end), class: "bar",
                              fill: Palette.series(index), tooltip: tooltip(index, category, value))
                let label = BarChart.format(value)
                if estimatedWidth(label, fontSize: 10) <= barWidth + 2 {
                    document.text(label, x + barWidth / 2, value >= 0 ? end - 4 : end + 12, class: "value-label", anchor: .middle)
                }
            }
        }
        document.close()
        document.open("categories")
        for (index, name) in categories.enumerated() {
            document.text(fitted(name, pixels: slot - 4, fontSize: 11), area.left + (Double(index) + 0.5) * slot,
                          area.bottom + 16, class: "tick-label", anchor: .middle)
        }
        document.line(area.left, zero, area.right, zero, class: "axis")
        frame.drawXLabel(categoryLabel, into: &document)
        document.close()
        return frame
    }

    private func drawHorizontal(_ values: [Double], chrome: ChartChrome, into document: inout SVGDocument) -> XYFrame {
        let labelWidth = min(categories.map { estimatedWidth($0, fontSize: 11) }.max() ?? 0, chrome.width * 0.4)
        let valueWidth = values.map { estimatedWidth(BarChart.format($0), fontSize: 10) }.max() ?? 0
        let frame = XYFrame(chrome: chrome, yTickLabels: [], hasXLabel: !valueLabel.isEmpty, hasYLabel: !categoryLabel.isEmpty,
                            leftLabelWidth: labelWidth, rightExtra: valueWidth)
        let area = frame.area
        let axis = Axis(covering: values, scale: .linear, tickCount: max(2, Int(area.width / 90)), includeZero: true)
        frame.drawXAxis(axis, label: valueLabel, into: &document)
        let slot = area.height / Double(max(1, categories.count))
        let barHeight = slot * 0.75 / Double(max(1, series.count))
        let zero = frame.x(axis.fraction(0))
        document.open("bars")
        for category in categories.indices {
            for index in series.indices {
                guard let value = value(index, category) else { continue }
                let y = area.top + Double(category) * slot + slot * 0.125 + Double(index) * barHeight
                let end = frame.x(axis.fraction(value))
                document.rect(min(end, zero), y, abs(end - zero), barHeight - (series.count > 1 ? 1 : 0), class: "bar",
                              fill: Palette.series(index), tooltip: tooltip(index, category, value))
                if barHeight >= 9 {
                    document.text(BarChart.format(value), value >= 0 ? end + 4 : end - 4, y + barHeight / 2 + 3.5,
                                  class: "value-label", anchor: value >= 0 ? .start : .end)
                }
            }
        }
        document.close()
        document.open("categories")
        let every = max(1, Int((12 / max(slot, 0.01)).rounded(.up)))
        for (index, name) in categories.enumerated() where index % every == 0 {
            document.text(fitted(name, pixels: labelWidth, fontSize: 11), area.left - 6,
                          area.top + (Double(index) + 0.5) * slot + 4, class: "tick-label", anchor: .end)
        }
        document.line(zero, area.top, zero, area.bottom, class: "axis")
        frame.drawYLabel(categoryLabel, into: &document)
        document.close()
        return frame
    }

    private func tooltip(_ series: Int, _ category: Int, _ value: Double) -> String {
        let name = self.series.count > 1 ? " · " + self.series[series].name : ""
        return categories[category] + name + ": " + BarChart.format(value)
    }
}
