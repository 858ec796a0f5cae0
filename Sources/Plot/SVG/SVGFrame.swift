/// Colours shared by every chart: a colour-blind-safe series palette (Okabe–Ito order) and a
/// white-to-blue ramp for heatmaps.
enum Palette {
    static let series = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D31", "#555555"]

    static func series(_ index: Int) -> String { series[index % series.count] }

    /// A colour for `fraction` in 0…1 on the ramp #f7fbff → #6baed6 → #08306b.
    static func ramp(_ fraction: Double) -> String {
        let t = fraction.isFinite ? min(1, max(0, fraction)) : 0
        let stops: [(Double, Double, Double)] = [(247, 251, 255), (107, 174, 214), (8, 48, 107)]
        let (a, b, local) = t < 0.5 ? (stops[0], stops[1], t * 2) : (stops[1], stops[2], (t - 0.5) * 2)
        func channel(_ x: Double, _ y: Double) -> String {
            let value = Int((x + (y - x) * local).rounded())
            let hex = String(value, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }
        return "#" + channel(a.0, b.0) + channel(a.1, b.1) + channel(a.2, b.2)
    }

    /// Whether text on the ramp colour for `fraction` should be white rather than dark.
    static func needsLightText(_ fraction: Double) -> Bool { fraction > 0.55 }
}

/// One legend item: a name and the mark that stands for it.
struct LegendEntry {
    enum Mark { case line, lineAndDot, dashedLine, dot, swatch }
    let name: String
    let color: String
    let mark: Mark
}

/// A rectangle in SVG pixels.
struct PlotArea {
    var left: Double
    var top: Double
    var right: Double
    var bottom: Double
    var width: Double { right - left }
    var height: Double { bottom - top }
}

/// What surrounds every chart: the title (top left), a legend that wraps under it, and notes (such as
/// "2 non-finite values skipped") at the bottom left. It reserves their space and draws them.
struct ChartChrome {
    static let legendFont = 11.0
    let width: Double
    let height: Double
    let title: String
    let notes: [String]
    /// Legend entries with their x positions, one array per row.
    private let legendRows: [[(entry: LegendEntry, x: Double)]]

    init(width: Int, height: Int, title: String, legend: [LegendEntry], notes: [String]) {
        self.width = Double(max(1, width))
        self.height = Double(max(1, height))
        self.title = title
        self.notes = notes
        var rows: [[(entry: LegendEntry, x: Double)]] = []
        var row: [(entry: LegendEntry, x: Double)] = []
        var x = 12.0
        for entry in legend {
            let name = fitted(entry.name, pixels: 160, fontSize: ChartChrome.legendFont)
            let span = 26 + estimatedWidth(name, fontSize: ChartChrome.legendFont) + 16
            if !row.isEmpty && x + span > self.width - 12 { rows.append(row); row = []; x = 12 }
            row.append((LegendEntry(name: name, color: entry.color, mark: entry.mark), x))
            x += span
        }
        if !row.isEmpty { rows.append(row) }
        legendRows = rows
    }

    /// Pixels taken at the top by the title and legend.
    var headerHeight: Double { 10 + (title.isEmpty ? 0 : 22) + Double(legendRows.count) * 18 + 8 }
    /// Pixels taken at the bottom by the notes.
    var footerHeight: Double { 6 + Double(notes.count) * 14 }

    func draw(into document: inout SVGDocument) {
        if !title.isEmpty {
            document.text(fitted(title, pixels: width - 24, fontSize: 15), 12, 26, class: "title")
        }
        if !legendRows.isEmpty {
            document.open("legend")
            for (index, row) in legendRows.enumerated() {
                let y = (title.isEmpty ? 20 : 44) + Double(index) * 18
                for (entry, x) in row {
                    switch entry.mark {
                    case .line: document.line(x, y - 4, x + 20, y - 4, class: "series", stroke: entry.color)
                    case .lineAndDot:
                        document.line(x, y - 4, x + 20, y - 4, class: "series", stroke: entry.color)
                        document.circle(x + 10, y - 4, r: 3, class: "series-point", fill: entry.color)
                    case .dashedLine: document.line(x, y - 4, x + 20, y - 4, class: "annotation")
                    case .dot: document.circle(x + 10, y - 4, r: 4, class: "series-point", fill: entry.color)
                    case .swatch: document.rect(x + 3, y - 10, 14, 12, class: "swatch", fill: entry.color)
                    }
                    document.text(entry.name, x + 26, y, class: "legend-label")
                }
            }
            document.close()
        }
        for (index, note) in notes.enumerated() {
            let y = height - 8 - Double(notes.count - 1 - index) * 14
            document.text(fitted(note, pixels: width - 24, fontSize: 10), 12, y, class: "note")
        }
    }
}

/// The plot area of a chart with a numeric y axis on the left and an axis along the bottom, with
/// room for tick labels and axis titles, and the drawing of those axes.
struct XYFrame {
    let area: PlotArea

    init(chrome: ChartChrome, yTickLabels: [String], hasXLabel: Bool, hasYLabel: Bool,
         leftLabelWidth: Double? = nil, rightExtra: Double = 0) {
        let tickWidth = leftLabelWidth ?? (yTickLabels.map { estimatedWidth($0, fontSize: 11) }.max() ?? 0)
        let left = 12 + (hasYLabel ? 20 : 0) + tickWidth + 8
        let bottom = chrome.height - chrome.footerHeight - 20 - (hasXLabel ? 18 : 0)
        let top = chrome.headerHeight
        area = PlotArea(left: left, top: top, right: max(left + 10, chrome.width - 24 - rightExtra), bottom: max(top + 10, bottom))
    }

    func x(_ fraction: Double) -> Double { area.left + fraction * area.width }
    func y(_ fraction: Double) -> Double { area.bottom - fraction * area.height }

    /// Horizontal grid lines with tick labels on the left, the y-axis title rotated beside them.
    func drawYAxis(_ axis: Axis, label: String, into document: inout SVGDocument) {
        document.open("y-axis")
        for (tick, text) in zip(axis.ticks, axis.labels) {
            let position = y(axis.fraction(tick))
            document.line(area.left, position, area.right, position, class: "grid")
            document.text(text, area.left - 6, position + 4, class: "tick-label", anchor: .end)
        }
        document.line(area.left, area.top, area.left, area.bottom, class: "axis")
        drawYLabel(label, into: &document)
        document.close()
    }

    /// The y-axis title, rotated, at the left edge of the chart.
    func drawYLabel(_ label: String, into document: inout SVGDocument) {
        guard !label.isEmpty else { return }
        document.text(fitted(label, pixels: area.height, fontSize: 12), 24, (area.top + area.bottom) / 2,
                      class: "axis-label", anchor: .middle, rotate: -90)
    }

    /// Vertical grid lines with tick labels under the plot, the x-axis title centred below them.
    func drawXAxis(_ axis: Axis, label: String, into document: inout SVGDocument) {
        document.open("x-axis")
        for (tick, text) in zip(axis.ticks, axis.labels) {
            let position = x(axis.fraction(tick))
            document.line(position, area.top, position, area.bottom, class: "grid")
            document.line(position, area.bottom, position, area.bottom + 4, class: "axis")
            document.text(text, position, area.bottom + 16, class: "tick-label", anchor: .middle)
        }
        document.line(area.left, area.bottom, area.right, area.bottom, class: "axis")
        drawXLabel(label, into: &document)
        document.close()
    }

    /// The x-axis title centred under the tick labels.
    func drawXLabel(_ label: String, into document: inout SVGDocument) {
        guard !label.isEmpty else { return }
        document.text(fitted(label, pixels: area.width, fontSize: 12), (area.left + area.right) / 2,
                      area.bottom + 34, class: "axis-label", anchor: .middle)
    }
}
