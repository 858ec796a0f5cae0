import FinchPlot

/// Data that charts must survive: nothing, one point, NaN and infinities, a flat line, negative
/// values, ranges spanning many orders of magnitude, ragged matrices.
enum EdgeCases {
    static let empty = LineChart(title: "No runs yet", xLabel: "step", yLabel: "loss", series: [])

    static let singlePoint = LineChart(title: "One evaluation", xLabel: "step", yLabel: "accuracy",
                                       series: [Series(name: "accuracy", x: [100], y: [0.81])])

    static let nonFinite = LineChart(
        title: "Diverging run", xLabel: "step", yLabel: "loss",
        series: [Series(name: "train", x: [1, 2, 3, 4, 5, 6, 7], y: [2.3, 1.9, .nan, 1.4, .infinity, 1.1, 1.0]),
                 Series(name: "validation", x: [2, 4, 6], y: [2.0, -.infinity, 1.3])])

    static let constant = LineChart(title: "Frozen", xLabel: "step", yLabel: "lr",
                                    series: [Series(name: "lr", x: (0..<10).map(Double.init), y: Array(repeating: 2e-4, count: 10))])

    /// Loss that explodes from 1e-8 to 1e8 on a log axis, with a zero and a negative value skipped.
    static let hugeRange = LineChart(
        title: "Exploding loss", xLabel: "step", yLabel: "loss", series: [
            Series(name: "loss", x: [0, 1, 2, 3, 4, 5, 6, 7], y: [1e-8, 1e-6, 0, 1e-3, -5, 1, 1e4, 1e8]),
        ], yScale: .log)

    static let emptyBars = BarChart(title: "No labels", categories: [], series: [])

    /// A short row, a NaN cell and more column names than values.
    static let raggedHeatmap = Heatmap(title: "Ragged", rowLabel: "row", columnLabel: "column",
                                       rowNames: ["a", "b", "c"], columnNames: ["x", "y", "z"],
                                       values: [[1, 2, 3], [4, .nan], [-1, 0, 2.5]])
}
