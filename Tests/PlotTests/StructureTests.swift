import FinchPlot
import Foundation
import Testing

@Suite struct StructureTests {
    private func parsed(_ svg: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> SVGStructure {
        switch SVGStructure.parse(svg) {
        case let .success(structure): return structure
        case let .failure(error):
            Issue.record("not well-formed XML: \(error)", sourceLocation: sourceLocation)
            throw error
        }
    }

    @Test(arguments: GoldenCase.all)
    func everySVGIsAStandaloneDocument(_ golden: GoldenCase) throws {
        let svg = golden.chart.svg()
        #expect(svg.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "))
        let structure = try parsed(svg)
        let root = try #require(structure.root)
        #expect(root.name == "svg")
        #expect(root.attributes["xmlns"] == "http://www.w3.org/2000/svg")
        #expect(root.attributes["version"] == "1.1")
        #expect(root.attributes["width"] == "640" && root.attributes["height"] == "360")
        #expect(root.attributes["viewBox"] == "0 0 640 360")
        #expect(structure.elements.dropFirst().first?.name == "title")
        #expect(structure.elements.contains { $0.name == "style" })
        #expect(!structure.title.isEmpty)
    }

    @Test func lineChartDrawsOnePathPerSeriesAndItsAnnotations() throws {
        let loss = try parsed(Fixtures.lossCurves.svg())
        #expect(loss.count("path", class: "series") == 2)
        #expect(loss.count("circle", class: "series-point") == 6 + 1)  // the validation points, its legend mark
        let lrfind = try parsed(Fixtures.lrFind.svg())
        #expect(lrfind.count("path", class: "series") == 1)
        #expect(lrfind.count("line", class: "annotation") == 1)
        #expect(lrfind.count("circle", class: "annotation-point") == 1)
        let labels = lrfind.elements.filter { $0.classes.contains("tick-label") }.count
        #expect(labels >= 8)  // 1e-7 … 1 on the log x axis, plus the loss ticks
    }

    @Test func scatterDrawsPointsAndNoLines() throws {
        let scatter = try parsed(Fixtures.scatter.svg())
        #expect(scatter.count("path", class: "series") == 0)
        #expect(scatter.count("circle", class: "series-point") == 40 + 2)  // points + legend dots
    }

    @Test func nonFiniteValuesBreakTheLineAndAreNoted() throws {
        let chart = try parsed(EdgeCases.nonFinite.svg())
        let path = try #require(chart.all("path", class: "series-0").first?.attributes["d"])
        #expect(path.filter { $0 == "M" }.count == 2)  // (1…2) and (6…7); the lone point at 4 is a dot
        #expect(chart.count("text", class: "note") == 1)
        #expect(EdgeCases.nonFinite.svg().contains("3 non-finite or out-of-range values skipped"))
    }

    @Test func barChartsDrawOneRectPerValue() throws {
        #expect(try parsed(Fixtures.labelBalance.svg()).count("rect", class: "bar") == 3)
        #expect(try parsed(Fixtures.metricsPerRun.svg()).count("rect", class: "bar") == 6)
        #expect(try parsed(Fixtures.deltas.svg()).count("rect", class: "bar") == 4)
        #expect(try parsed(EdgeCases.emptyBars.svg()).count("rect", class: "bar") == 0)
    }

    @Test func longLabelsTurnBarsHorizontal() throws {
        let bars = try parsed(Fixtures.bengaliLabels.svg()).all("rect", class: "bar")
        #expect(bars.count == 4)
        let lefts = Set(bars.compactMap { $0.attributes["x"] })
        #expect(lefts.count == 1)  // every bar starts at the zero line on the left
        let vertical = try parsed(Fixtures.labelBalance.svg()).all("rect", class: "bar")
        #expect(Set(vertical.compactMap { $0.attributes["x"] }).count == 3)
    }

    @Test func markupInLabelsIsEscapedAndRoundTrips() throws {
        let svg = Fixtures.bengaliLabels.svg()
        #expect(svg.contains("&lt;ভারসাম্য&gt; &amp; &quot;balance&quot;"))
        #expect(!svg.contains("<mixed>"))
        let structure = try parsed(svg)
        #expect(structure.title == "লেবেল <ভারসাম্য> & \"balance\"")
        let controls = LineChart(title: "bell\u{07}\u{0}tab", series: []).svg()
        #expect(try parsed(controls).title == "bell\u{FFFD}\u{FFFD}tab")
    }

    @Test func histogramDrawsEveryBinAndMarker() throws {
        let chart = try parsed(Fixtures.tokenLengths.svg())
        #expect(chart.count("rect", class: "bar") == 16)
        #expect(chart.count("line", class: "marker") == 3)
        #expect(Fixtures.tokenLengths.bins.map(\.count).reduce(0, +) == 2000)
        #expect(Fixtures.tokenLengths.markers.map(\.label) == ["p50", "p90", "p99"])
    }

    @Test func heatmapDrawsEveryCellWithItsCount() throws {
        let confusion = try parsed(Fixtures.confusion.svg())
        #expect(confusion.count("rect", class: "cell") == 9)
        #expect(confusion.count("text", class: "cell-count") == 9)
        #expect(confusion.count("text", class: "cell-share") == 9)
        #expect(try parsed(Fixtures.bengaliConfusion.svg()).count("rect", class: "cell") == 36)
        let ragged = try parsed(EdgeCases.raggedHeatmap.svg())
        #expect(ragged.count("rect", class: "cell") == 9)
        #expect(ragged.count("text", class: "cell-count") == 7)  // a NaN and a missing cell stay blank
    }

    @Test func darkCellsGetLightText() throws {
        let counts = try parsed(Fixtures.confusion.svg()).all("text", class: "cell-count")
        let light = counts.filter { $0.attributes["style"] == "fill: #ffffff" }.count
        #expect(light == 3)  // the diagonal: 92%, 68%, 95% of their rows
    }
}
