import FinchPlot
import Testing
import TestSupport

/// One chart of any kind, rendered both ways.
enum AnyChart: Sendable {
    case line(LineChart)
    case bar(BarChart)
    case histogram(Histogram)
    case heatmap(Heatmap)

    func svg() -> String {
        switch self {
        case let .line(chart): chart.svg()
        case let .bar(chart): chart.svg()
        case let .histogram(chart): chart.svg()
        case let .heatmap(chart): chart.svg()
        }
    }

    func text(width: Int, height: Int) -> String {
        switch self {
        case let .line(chart): chart.text(width: width, height: height)
        case let .bar(chart): chart.text(width: width, height: height)
        case let .histogram(chart): chart.text(width: width, height: height)
        case let .heatmap(chart): chart.text(width: width, height: height)
        }
    }
}

/// A named chart whose SVG and text renderings have golden files `<name>.svg` and `<name>.txt`.
struct GoldenCase: Sendable, CustomStringConvertible {
    let name: String
    let chart: AnyChart
    var textSize = (width: 72, height: 20)
    var description: String { name }

    static let all: [GoldenCase] = [
        GoldenCase(name: "line-loss", chart: .line(Fixtures.lossCurves)),
        GoldenCase(name: "line-loss-narrow", chart: .line(Fixtures.lossCurves), textSize: (40, 12)),
        GoldenCase(name: "line-lrfind", chart: .line(Fixtures.lrFind)),
        GoldenCase(name: "line-scatter", chart: .line(Fixtures.scatter)),
        GoldenCase(name: "line-empty", chart: .line(EdgeCases.empty)),
        GoldenCase(name: "line-single-point", chart: .line(EdgeCases.singlePoint)),
        GoldenCase(name: "line-non-finite", chart: .line(EdgeCases.nonFinite)),
        GoldenCase(name: "line-constant", chart: .line(EdgeCases.constant)),
        GoldenCase(name: "line-log-huge-range", chart: .line(EdgeCases.hugeRange)),
        GoldenCase(name: "bar-label-balance", chart: .bar(Fixtures.labelBalance)),
        GoldenCase(name: "bar-metrics-per-run", chart: .bar(Fixtures.metricsPerRun)),
        GoldenCase(name: "bar-bengali-horizontal", chart: .bar(Fixtures.bengaliLabels)),
        GoldenCase(name: "bar-negative", chart: .bar(Fixtures.deltas)),
        GoldenCase(name: "bar-empty", chart: .bar(EdgeCases.emptyBars)),
        GoldenCase(name: "histogram-token-lengths", chart: .histogram(Fixtures.tokenLengths)),
        GoldenCase(name: "histogram-automatic", chart: .histogram(Fixtures.automaticBins)),
        GoldenCase(name: "histogram-empty", chart: .histogram(Histogram(title: "Nothing yet", values: []))),
        GoldenCase(name: "heatmap-confusion", chart: .heatmap(Fixtures.confusion)),
        GoldenCase(name: "heatmap-bengali-six-classes", chart: .heatmap(Fixtures.bengaliConfusion)),
        GoldenCase(name: "heatmap-ragged", chart: .heatmap(EdgeCases.raggedHeatmap)),
    ]
}

@Suite struct GoldenTests {
    @Test(arguments: GoldenCase.all)
    func svgMatchesGolden(_ golden: GoldenCase) throws {
        try GoldenFiles(beside: #filePath).check(golden.chart.svg(), golden.name + ".svg")
    }

    @Test(arguments: GoldenCase.all)
    func textMatchesGolden(_ golden: GoldenCase) throws {
        try GoldenFiles(beside: #filePath).check(golden.chart.text(width: golden.textSize.width, height: golden.textSize.height), golden.name + ".txt")
    }

    @Test(arguments: GoldenCase.all)
    func renderingIsDeterministic(_ golden: GoldenCase) {
        #expect(golden.chart.svg() == golden.chart.svg())
        #expect(golden.chart.text(width: 72, height: 20) == golden.chart.text(width: 72, height: 20))
    }
}
