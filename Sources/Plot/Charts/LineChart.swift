/// One (x, y) observation of a series.
public struct DataPoint: Sendable, Equatable {
    /// Position along the x axis (a step, a learning rate, …).
    public var x: Double
    /// Position along the y axis (a loss, a score, …).
    public var y: Double

    /// A point at (x, y).
    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// A named sequence of points drawn in the order given (a NaN or infinite point breaks the line).
public struct Series: Sendable, Equatable {
    /// How a series is drawn.
    public enum Style: Sendable, Equatable {
        /// Points joined by a line.
        case line
        /// Separate dots, as in a scatter plot.
        case points
        /// A line with a dot on every point.
        case lineAndPoints
    }

    /// Shown in the legend when the chart has more than one series.
    public var name: String
    /// The observations, drawn in this order.
    public var points: [DataPoint]
    /// Line, dots or both.
    public var style: Style

    /// A series from its points.
    public init(name: String, points: [DataPoint], style: Style = .line) {
        self.name = name
        self.points = points
        self.style = style
    }

    /// A series from matching arrays of x and y values, e.g. `Series(name: "train", x: steps, y: losses)`;
    /// values beyond the shorter array are ignored.
    public init(name: String, x: [Double], y: [Double], style: Style = .line) {
        self.init(name: name, points: zip(x, y).map { DataPoint(x: $0, y: $1) }, style: style)
    }
}

extension Series.Style {
    /// How the legend shows a series of this style.
    var legendMark: LegendEntry.Mark {
        switch self {
        case .line: .line
        case .points: .dot
        case .lineAndPoints: .lineAndDot
        }
    }
}

/// A labelled mark drawn over a line chart.
public enum Annotation: Sendable, Equatable {
    /// A dashed vertical line at `x`, e.g. the suggested learning rate of an lrfind.
    case verticalLine(x: Double, label: String)
    /// A dashed horizontal line at `y`, e.g. a baseline loss.
    case horizontalLine(y: Double, label: String)
    /// A highlighted point with a label beside it.
    case marker(x: Double, y: Double, label: String)
}

/// Several named series against a shared x axis: loss curves against step, an lrfind loss against a
/// log-scale learning rate, a scatter plot (series with the `.points` style). Values that cannot be
/// drawn (NaN, ±inf, magnitudes beyond 1e300, values ≤ 0 on a log axis) are skipped and noted.
public struct LineChart: Sendable, Equatable {
    /// Shown at the top and used as the SVG's accessible `<title>`; may be empty.
    public var title: String
    /// Title of the x axis; may be empty.
    public var xLabel: String
    /// Title of the y axis; may be empty.
    public var yLabel: String
    /// The series, coloured (SVG) or marked (text) in order.
    public var series: [Series]
    /// Linear, or log for learning rates.
    public var xScale: AxisScale
    /// Linear, or log for losses spanning orders of magnitude.
    public var yScale: AxisScale
    /// Lines and markers drawn over the data.
    public var annotations: [Annotation]

    /// A chart of `series`; both axes linear unless told otherwise.
    public init(title: String = "", xLabel: String = "", yLabel: String = "", series: [Series],
                xScale: AxisScale = .linear, yScale: AxisScale = .linear, annotations: [Annotation] = []) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.xScale = xScale
        self.yScale = yScale
        self.annotations = annotations
    }

    /// The chart as a standalone SVG document of `width` × `height` pixels.
    public func svg(width: Int = 640, height: Int = 360) -> String {
        let data = PlottableData(self)
        let legend = series.count < 2 ? [] : series.enumerated().map { index, series in
            LegendEntry(name: series.name, color: Palette.series(index), mark: series.style.legendMark)
        }
        let chrome = ChartChrome(width: width, height: height, title: title, legend: legend, notes: data.notes)
        let roughHeight = chrome.height - chrome.headerHeight - chrome.footerHeight - 38
        let yAxis = Axis(covering: data.yValues, scale: yScale, tickCount: max(2, Int(roughHeight / 50)))
        let frame = XYFrame(chrome: chrome, yTickLabels: yAxis.labels, hasXLabel: !xLabel.isEmpty, hasYLabel: !yLabel.isEmpty)
        let xAxis = Axis(covering: data.xValues, scale: xScale, tickCount: max(2, Int(frame.area.width / 90)))
        func position(_ point: DataPoint) -> (Double, Double) {
            (frame.x(xAxis.fraction(point.x)), frame.y(yAxis.fraction(point.y)))
        }

        var document = SVGDocument(width: width, height: height, title: title)
        chrome.draw(into: &document)
        frame.drawYAxis(yAxis, label: yLabel, into: &document)
        frame.drawXAxis(xAxis, label: xLabel, into: &document)
        document.open("plot")
        for (index, runs) in data.runs.enumerated() {
            let color = Palette.series(index)
            let style = series[index].style
            if style != .points {
                let d = pathData(runs.map { $0.map(position) })
                if !d.isEmpty { document.path(d, class: "series series-\(index)", stroke: color) }
            }
            for run in runs where style != .line || run.count == 1 {
                for point in run {
                    let (x, y) = position(point)
                    document.circle(x, y, r: 3, class: "series-point", fill: color)
                }
            }
        }
        document.close()
        if data.isEmpty {
            document.text("no data", (frame.area.left + frame.area.right) / 2, (frame.area.top + frame.area.bottom) / 2,
                          class: "note", anchor: .middle)
        }
        drawAnnotations(data.annotations, frame: frame, xAxis: xAxis, yAxis: yAxis, into: &document)
        return document.rendered()
    }

    private func drawAnnotations(_ annotations: [Annotation], frame: XYFrame, xAxis: Axis, yAxis: Axis,
                                 into document: inout SVGDocument) {
        guard !annotations.isEmpty else { return }
        let area = frame.area
        document.open("annotations")
        for annotation in annotations {
            switch annotation {
            case let .verticalLine(x, label):
                let at = frame.x(xAxis.fraction(x))
                document.line(at, area.top, at, area.bottom, class: "annotation")
                let flip = at > area.left + area.width * 0.65
                document.text(label, flip ? at - 5 : at + 5, area.top + 13, class: "annotation-label", anchor: flip ? .end : .start)
            case let .horizontalLine(y, label):
                let at = frame.y(yAxis.fraction(y))
                document.line(area.left, at, area.right, at, class: "annotation")
                document.text(label, area.right - 4, at - 5, class: "annotation-label", anchor: .end)
            case let .marker(x, y, label):
                let (px, py) = (frame.x(xAxis.fraction(x)), frame.y(yAxis.fraction(y)))
                document.circle(px, py, r: 5, class: "annotation-point")
                let flip = px > area.left + area.width * 0.65
                document.text(label, flip ? px - 9 : px + 9, py - 8, class: "annotation-label", anchor: flip ? .end : .start)
            }
        }
        document.close()
    }

    /// "M x y L x y …" for each run of screen points, leaving out points that land on the same
    /// hundredth of a pixel as the one before.
    private func pathData(_ runs: [[(Double, Double)]]) -> String {
        var parts: [String] = []
        for run in runs where run.count > 1 {
            var previous = ""
            for (index, (x, y)) in run.enumerated() {
                let coordinates = NumberFormat.coordinate(x) + " " + NumberFormat.coordinate(y)
                if coordinates == previous { continue }
                parts.append((index == 0 ? "M" : "L") + coordinates)
                previous = coordinates
            }
        }
        return parts.joined(separator: " ")
    }
}

/// A line chart's data reduced to what can be drawn: each series split into runs at unplottable
/// points, the annotations that fit the scales, every value the axes must cover, and the notes.
struct PlottableData {
    /// runs[series][run][point]
    let runs: [[[DataPoint]]]
    let annotations: [Annotation]
    let xValues: [Double]
    let yValues: [Double]
    let notes: [String]

    var isEmpty: Bool { runs.allSatisfy { $0.isEmpty } }

    init(_ chart: LineChart) {
        var tally = SkipTally()
        var xValues: [Double] = [], yValues: [Double] = []
        runs = chart.series.map { series in
            var runs: [[DataPoint]] = []
            var current: [DataPoint] = []
            for point in series.points {
                let keepX = tally.keep(point.x, on: chart.xScale)
                if keepX && tally.keep(point.y, on: chart.yScale) {
                    current.append(point)
                    xValues.append(point.x)
                    yValues.append(point.y)
                } else if !current.isEmpty {
                    runs.append(current)
                    current = []
                }
            }
            if !current.isEmpty { runs.append(current) }
            return runs
        }
        annotations = chart.annotations.filter { annotation in
            switch annotation {
            case let .verticalLine(x, _):
                guard Axis.isPlottable(x, on: chart.xScale) else { return false }
                xValues.append(x)
            case let .horizontalLine(y, _):
                guard Axis.isPlottable(y, on: chart.yScale) else { return false }
                yValues.append(y)
            case let .marker(x, y, _):
                guard Axis.isPlottable(x, on: chart.xScale) && Axis.isPlottable(y, on: chart.yScale) else { return false }
                xValues.append(x)
                yValues.append(y)
            }
            return true
        }
        var notes = tally.notes
        let dropped = chart.annotations.count - annotations.count
        if dropped > 0 { notes.append("\(dropped) annotation\(dropped == 1 ? "" : "s") outside what the scales can show skipped") }
        self.xValues = xValues
        self.yValues = yValues
        self.notes = notes
    }
}
