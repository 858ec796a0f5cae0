import Foundation
import FinchData
import FinchPlot

/// data stats.
extension DataCommands {
    /// The percentiles `data stats` reports.
    static let lengthPercentiles: [Double] = [50, 90, 95, 99]

    static let stats = CommandSpec(
        "data stats", group: .dataset, summary: "Rows, label balance, text-length percentiles and split sizes, with charts",
        details: """
        Lengths are counted in the loaded model's tokens (special tokens included, nothing truncated), or in \
        whitespace-separated words before a model is loaded. Percentiles interpolate linearly between the \
        sorted lengths (NumPy's default). The bar chart shows the label balance, the histogram the lengths \
        with p50, p90, p95 and p99 marked.
        """,
        example: "data stats") { call in
        let session = call.dataset
        let rows = try session.loaded()
        let tokenizer = call.trainer.tokenizer
        let unit = tokenizer == nil ? "words" : "tokens"
        var lengths: [Double] = []
        lengths.reserveCapacity(rows.count)
        for (index, text) in rows.texts.enumerated() {
            if index % 1000 == 999, call.isCancelled { throw Interrupted("data stats interrupted") }
            if let tokenizer {
                lengths.append(Double(tokenizer.encode(text).count))
            } else {
                lengths.append(Double(text.split(whereSeparator: { $0.isWhitespace }).count))
            }
        }
        let sorted = lengths.sorted()
        let values = lengthPercentiles.map { percentile($0, ofSorted: sorted) } + [sorted.last ?? 0]
        let names = lengthPercentiles.map { "p" + Value.format($0) } + ["max"]
        let counts = labelCounts(rows)

        var summary = "\(Render.grouped(rows.count)) rows · "
        summary += session.splits.isEmpty ? "not split (data split makes train, valid and test)"
            : "splits: " + splitNames.map { "\($0) \(Render.grouped(session.splits[$0]?.count ?? 0))" }.joined(separator: ", ")
        if !session.folds.isEmpty { summary += " · \(session.folds.count) folds" }
        let balance = balanceTable(rows)
        let mean = lengths.isEmpty ? 0 : lengths.reduce(0, +) / Double(lengths.count)
        let lengthCaption = "length in " + (tokenizer == nil ? "whitespace words (no model loaded)" : "tokens of \(call.trainer.modelName)")
        let lengthColumns = names + ["mean"]
        let lengthRow = [values.map { Value.format(($0 * 100).rounded() / 100) } + [Render.fixed(mean, 1)]]

        let bars = BarChart(title: "Label balance", categoryLabel: "label", valueLabel: "rows",
                            bars: zip(rows.labelNames, counts).map { (label: $0, value: Double($1)) })
        let histogram = Histogram(title: "Text length (\(unit))", xLabel: unit, values: lengths, percentiles: lengthPercentiles)
        let size = Render.textSize
        let tables = summary + "\n" + TextTable.render(columns: balance.columns, rows: balance.rows) + "\n\n"
            + lengthCaption + "\n" + TextTable.render(columns: lengthColumns, rows: lengthRow)
        let plain = [tables, bars.text(width: size.width, height: size.height),
                     histogram.text(width: size.width, height: size.height)].joined(separator: "\n\n")
        let html = "<p>\(HTML.escape(summary))</p>" + HTML.table(columns: balance.columns, rows: balance.rows, caption: "label balance")
            + HTML.table(columns: lengthColumns, rows: lengthRow, caption: lengthCaption)
            + "<div>" + HTML.image(svg: bars.svg()) + HTML.image(svg: histogram.svg()) + "</div>"
        let json: JSONValue = .object([
            ("rows", JSONValue(rows.count)),
            ("labels", labelCountsJSON(rows)),
            ("lengths", .object([("unit", .string(unit))] + zip(names, values).map { ($0, JSONValue($1)) }
                + [("mean", JSONValue(mean))])),
            ("splits", .object(splitNames.compactMap { name in session.splits[name].map { (name, JSONValue($0.count)) } })),
            ("folds", JSONValue(session.folds.count)),
        ])
        // Front ends without HTML (woven Markdown) show the tables' text and the histogram.
        return Output(plain: plain, html: html, svg: histogram.svg(), json: json, caption: tables)
    }

    /// The `p`-th percentile (0–100) of sorted values, interpolating linearly between order statistics
    /// (NumPy's default `linear` method); 0 for no values.
    static func percentile(_ p: Double, ofSorted values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let rank = p / 100 * Double(values.count - 1)
        let below = Int(rank.rounded(.down))
        let above = min(values.count - 1, below + 1)
        return values[below] + (values[above] - values[below]) * (rank - Double(below))
    }
}

