@testable import FinchPlot
import Testing

/// Whatever the data and sizes, every chart renders: SVG that parses, text within its width.
@Suite struct RobustnessTests {
    static let awkward: [Double] = [.nan, .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude, -1e308, 1e308, 1e300, -1e300,
                                    .greatestFiniteMagnitude, 1e-300, 42, -42, 1, 1 + 1e-15]

    static let sizes = [(0, 0), (1, 1), (-5, 3), (24, 8), (31, 9), (200, 60)]

    private func check(_ chart: AnyChart, sourceLocation: SourceLocation = #_sourceLocation) {
        if case let .failure(error) = SVGStructure.parse(chart.svg()) {
            Issue.record("unparsable SVG: \(error)", sourceLocation: sourceLocation)
        }
        for (width, height) in RobustnessTests.sizes {
            let text = chart.text(width: width, height: height)
            let widest = text.split(separator: "\n").map { TextWidth.of(String($0)) }.max() ?? 0
            #expect(widest <= max(24, width), "text wider than \(width): \(widest)", sourceLocation: sourceLocation)
        }
    }

    @Test func lineChartsSurviveAwkwardValues() {
        let values = RobustnessTests.awkward
        for xScale in [AxisScale.linear, .log] {
            for yScale in [AxisScale.linear, .log] {
                let pairs = values.indices.map { DataPoint(x: values[$0], y: values[(values.count - 1 - $0)]) }
                let chart = LineChart(title: "awkward", series: [
                    Series(name: "pairs", points: pairs),
                    Series(name: "diagonal", points: values.map { DataPoint(x: $0, y: $0) }, style: .lineAndPoints),
                    Series(name: "vertical", points: [DataPoint(x: 3, y: 1), DataPoint(x: 3, y: 2)], style: .points),
                    Series(name: "empty", points: []),
                ], xScale: xScale, yScale: yScale, annotations: [
                    .verticalLine(x: .nan, label: "nan"), .horizontalLine(y: 1e308, label: "big"),
                    .marker(x: -1, y: 1, label: "negative x"), .verticalLine(x: 2, label: String(repeating: "long ", count: 40)),
                ])
                check(.line(chart))
            }
        }
        check(.line(LineChart(series: [Series(name: "", x: [1e-300], y: [1e300])], xScale: .log, yScale: .log)))
        check(.line(LineChart(series: [Series(name: "tiny steps", x: [1e16, 1e16 + 2], y: [1, 1 + 1e-13])])))
    }

    @Test func barChartsSurviveAwkwardValues() {
        let values = RobustnessTests.awkward
        let categories = values.indices.map { "category \($0) 日本語 ক্রিকেট" }
        for orientation in [BarChart.Orientation.automatic, .vertical, .horizontal] {
            check(.bar(BarChart(categories: categories, series: [BarSeries(name: "a", values: values),
                                                                   BarSeries(name: "short", values: [1]),
                                                                   BarSeries(name: "long", values: values + values)],
                                orientation: orientation)))
            check(.bar(BarChart(bars: [("only", 0)], orientation: orientation)))
            check(.bar(BarChart(bars: [("negative", -3), ("more", -1)], orientation: orientation)))
        }
        check(.bar(BarChart(categories: (0..<500).map(String.init), series: [BarSeries(name: "many", values: (0..<500).map(Double.init))])))
    }

    @Test func histogramsSurviveAwkwardValues() {
        let values = RobustnessTests.awkward
        for binning in [Histogram.Binning.automatic, .count(0), .count(7), .count(100_000), .edges([]), .edges([3]),
                        .edges([.nan, 5, 1, 1, -2]), .edges([-1e300, 1e300])] {
            check(.histogram(Histogram(values: values, binning: binning, percentiles: [-1, 0, 50, 100, 101, .nan])))
        }
        check(.histogram(Histogram(values: [7, 7, 7])))
        check(.histogram(Histogram(values: [.nan])))
        check(.histogram(Histogram(bins: [Histogram.Bin(lower: 1, upper: 0, count: 3), Histogram.Bin(lower: 0, upper: 1, count: -4),
                                          Histogram.Bin(lower: .nan, upper: 2, count: 1)],
                                   markers: [Histogram.Marker(label: "m", value: .infinity)])))
    }

    @Test func heatmapsSurviveAwkwardValues() {
        let values = RobustnessTests.awkward
        for normalization in [Heatmap.Normalization.rows, .columns, .all] {
            check(.heatmap(Heatmap(rowNames: ["a"], columnNames: [], values: [values, [], [1]], normalization: normalization)))
            check(.heatmap(Heatmap(rowNames: [], columnNames: [], values: [], normalization: normalization)))
            check(.heatmap(Heatmap(rowNames: ["x", "y"], columnNames: ["x", "y"], values: [[0, 0], [0, 0]], normalization: normalization)))
        }
        let many = (0..<40).map { row in (0..<40).map { row == $0 ? 100 : $0 % 3 } }
        check(.heatmap(.confusion(labels: (0..<40).map { "class \($0)" }, counts: many)))
    }

    @Test(arguments: GoldenCase.all)
    func textFitsItsWidthAndHeight(_ golden: GoldenCase) {
        for width in [24, 40, 72, 120] {
            let lines = golden.chart.text(width: width, height: 20).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            #expect(lines.allSatisfy { TextWidth.of(String($0)) <= width }, "width \(width)")
            #expect(lines.count <= 20, "height 20 at width \(width): \(lines.count) lines")
        }
    }
}
