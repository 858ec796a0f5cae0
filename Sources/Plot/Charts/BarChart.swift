/// One set of bar values, one per category (a metric over several runs, say).
public struct BarSeries: Sendable, Equatable {
    /// Shown in the legend (SVG) or beside each bar (text) when there are several series.
    public var name: String
    /// One value per category, in the same order; missing or non-finite values draw no bar.
    public var values: [Double]

    /// A series of bar values.
    public init(name: String, values: [Double]) {
        self.name = name
        self.values = values
    }
}

/// Bars for categories: label balance, one metric per run, or several series side by side per
/// category. Bars start at zero and may be negative. Missing, NaN and infinite values draw no bar and
/// are noted. Long labels (Bengali ones included) turn an `.automatic` chart horizontal.
public struct BarChart: Sendable, Equatable {
    /// Which way bars run.
    public enum Orientation: Sendable, Equatable {
        /// Vertical, unless labels are too long or too many to sit under their bars.
        case automatic
        case vertical
        case horizontal
    }

    /// Shown at the top and used as the SVG's accessible `<title>`; may be empty.
    public var title: String
    /// Title of the category axis (under vertical bars, beside horizontal ones).
    public var categoryLabel: String
    /// Title of the value axis.
    public var valueLabel: String
    /// One label per group of bars.
    public var categories: [String]
    /// One bar per category in each series, side by side within a category.
    public var series: [BarSeries]
    /// Which way bars run in the SVG; the text form is always horizontal.
    public var orientation: Orientation

    /// A chart of several series over the same categories.
    public init(title: String = "", categoryLabel: String = "", valueLabel: String = "", categories: [String],
                series: [BarSeries], orientation: Orientation = .automatic) {
        self.title = title
        self.categoryLabel = categoryLabel
        self.valueLabel = valueLabel
        self.categories = categories
        self.series = series
        self.orientation = orientation
    }

    /// A single-series chart from (label, value) pairs, e.g. label counts.
    public init(title: String = "", categoryLabel: String = "", valueLabel: String = "",
                bars: [(label: String, value: Double)], orientation: Orientation = .automatic) {
        self.init(title: title, categoryLabel: categoryLabel, valueLabel: valueLabel, categories: bars.map(\.label),
                  series: [BarSeries(name: valueLabel, values: bars.map(\.value))], orientation: orientation)
    }

    /// The value for category `category` in series `series`, nil where missing or not drawable.
    func value(_ series: Int, _ category: Int) -> Double? {
        let values = self.series[series].values
        guard category < values.count, Axis.isPlottable(values[category], on: .linear) else { return nil }
        return values[category]
    }

    /// Every drawable value, and notes on those left out.
    var drawable: (values: [Double], notes: [String]) {
        var tally = SkipTally()
        var values: [Double] = []
        var missing = 0
        for series in series {
            for category in categories.indices {
                guard category < series.values.count else { missing += 1; continue }
                if tally.keep(series.values[category], on: .linear) { values.append(series.values[category]) }
            }
        }
        var notes = tally.notes
        if missing > 0 { notes.append("\(missing) missing value\(missing == 1 ? "" : "s") (series shorter than the categories)") }
        let extra = series.map { max(0, $0.values.count - categories.count) }.reduce(0, +)
        if extra > 0 { notes.append("\(extra) value\(extra == 1 ? "" : "s") without a category ignored") }
        return (values, notes)
    }

    /// A bar's value as printed: whole numbers exactly up to a million, others compactly.
    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e6 ? NumberFormat.fixed(value, decimals: 0) : NumberFormat.compact(value)
    }
}
