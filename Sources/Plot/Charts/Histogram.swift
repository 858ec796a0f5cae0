import Foundation

/// Counts of values in consecutive bins, with labelled markers (percentiles by default): the
/// token-length distribution of a data set, say.
public struct Histogram: Sendable, Equatable {
    /// Values from `lower` (inclusive) to `upper` (exclusive; inclusive for the last bin).
    public struct Bin: Sendable, Equatable {
        /// Left edge, inclusive.
        public var lower: Double
        /// Right edge, exclusive except for the last bin.
        public var upper: Double
        /// How many values fell in the bin.
        public var count: Int

        /// A bin from `lower` to `upper` holding `count` values.
        public init(lower: Double, upper: Double, count: Int) {
            self.lower = lower
            self.upper = upper
            self.count = count
        }
    }

    /// A labelled vertical line, such as "p90" at 88 tokens.
    public struct Marker: Sendable, Equatable {
        /// Printed beside the line, followed by the value.
        public var label: String
        /// Where the line is drawn, in x-axis units.
        public var value: Double

        /// A marker at `value`.
        public init(label: String, value: Double) {
            self.label = label
            self.value = value
        }
    }

    /// How values are cut into bins.
    public enum Binning: Sendable, Equatable {
        /// About √n bins (5 to 30) at a 1-2-5 width, never narrower than 1 for whole-number data.
        case automatic
        /// This many bins of equal width from the smallest value to the largest.
        case count(Int)
        /// Bins between consecutive edges, which are sorted first; values outside are left out and noted.
        case edges([Double])
    }

    /// Shown at the top and used as the SVG's accessible `<title>`; may be empty.
    public var title: String
    /// Title of the value axis, e.g. "tokens".
    public var xLabel: String
    /// Title of the count axis.
    public var yLabel: String
    /// The bins, in increasing order.
    public var bins: [Bin]
    /// Vertical lines with labels, e.g. percentiles.
    public var markers: [Marker]
    /// Notes shown under the chart, such as how many values were skipped.
    public var notes: [String]

    /// A histogram of bins counted elsewhere. Bins with non-finite or reversed edges are left out.
    public init(title: String = "", xLabel: String = "", yLabel: String = "count", bins: [Bin], markers: [Marker] = []) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.bins = bins.filter { Axis.isPlottable($0.lower, on: .linear) && Axis.isPlottable($0.upper, on: .linear) && $0.lower < $0.upper }
        self.markers = markers.filter { Axis.isPlottable($0.value, on: .linear) }
        let dropped = bins.count - self.bins.count
        notes = dropped == 0 ? [] : ["\(dropped) bin\(dropped == 1 ? "" : "s") with unusable edges left out"]
    }

    /// A histogram of `values`, with a marker at each of `percentiles` (0–100; linear interpolation
    /// between order statistics, as NumPy's default). NaN and infinite values are skipped and noted.
    public init(title: String = "", xLabel: String = "", yLabel: String = "count", values: [Double],
                binning: Binning = .automatic, percentiles: [Double] = [50, 90, 99]) {
        var tally = SkipTally()
        let kept = values.filter { tally.keep($0, on: .linear) }.sorted()
        let edges = Histogram.edges(for: kept, binning: binning)
        var counts = Array(repeating: 0, count: max(0, edges.count - 1))
        var outside = 0
        for value in kept {
            guard let first = edges.first, let last = edges.last, value >= first, value <= last else { outside += 1; continue }
            var low = 0, high = edges.count - 1
            while high - low > 1 {
                let middle = (low + high) / 2
                if edges[middle] <= value { low = middle } else { high = middle }
            }
            counts[low] += 1
        }
        let markers = percentiles.filter { $0.isFinite && $0 >= 0 && $0 <= 100 && !kept.isEmpty }.map { percentile in
            Marker(label: "p" + NumberFormat.fixed(percentile, decimals: 2), value: Histogram.percentile(percentile, ofSorted: kept))
        }
        self.init(title: title, xLabel: xLabel, yLabel: yLabel,
                  bins: zip(edges, zip(edges.dropFirst(), counts)).map { Bin(lower: $0, upper: $1.0, count: $1.1) },
                  markers: markers)
        notes = tally.notes
        if outside > 0, let first = edges.first, let last = edges.last {
            notes.append("\(outside) value\(outside == 1 ? "" : "s") outside [\(NumberFormat.compact(first)), \(NumberFormat.compact(last))] not shown")
        }
    }

    /// The `percentile` (0–100) of sorted values, interpolating linearly between neighbours.
    static func percentile(_ percentile: Double, ofSorted values: [Double]) -> Double {
        let rank = percentile / 100 * Double(values.count - 1)
        let below = Int(rank.rounded(.down))
        let above = min(values.count - 1, below + 1)
        return values[below] + (values[above] - values[below]) * (rank - Double(below))
    }

    /// Bin edges for sorted, finite `values`.
    private static func edges(for values: [Double], binning: Binning) -> [Double] {
        if case let .edges(given) = binning {
            var edges: [Double] = []
            for edge in given.filter({ Axis.isPlottable($0, on: .linear) }).sorted() where edges.last != edge { edges.append(edge) }
            if edges.count >= 2 { return edges }
        }
        guard var low = values.first, var high = values.last else { return [] }
        if high - low <= max(abs(low), abs(high)) * 1e-12 { (low, high) = (low - 0.5, high + 0.5) }
        if case let .count(requested) = binning {
            let count = max(1, min(requested, 1000))
            return (0...count).map { $0 == count ? high : low + (high - low) * Double($0) / Double(count) }
        }
        let target = min(30, max(5, Int(Double(values.count).squareRoot().rounded(.up))))
        var step = Axis.niceStep((high - low) / Double(target))
        if values.allSatisfy({ $0 == $0.rounded() }) { step = max(step, 1) }
        let first = Axis.snapped(low / step).rounded(.down)
        var edges = [first * step]
        while let last = edges.last, last <= high, edges.count <= 1000 { edges.append((first + Double(edges.count)) * step) }
        return edges
    }
}
