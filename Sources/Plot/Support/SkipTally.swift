/// Counts values left out of a chart and says why, for a note under it.
struct SkipTally {
    private(set) var nonFinite = 0
    private(set) var nonPositive = 0

    /// Whether `value` can be drawn on `scale`; counts it when not.
    mutating func keep(_ value: Double, on scale: AxisScale) -> Bool {
        if Axis.isPlottable(value, on: scale) { return true }
        if value.isFinite && value <= 0 && abs(value) <= plottableLimit { nonPositive += 1 } else { nonFinite += 1 }
        return false
    }

    /// Human-readable notes, empty when nothing was skipped.
    var notes: [String] {
        var notes: [String] = []
        if nonFinite > 0 { notes.append("\(nonFinite) non-finite or out-of-range value\(nonFinite == 1 ? "" : "s") skipped") }
        if nonPositive > 0 { notes.append("\(nonPositive) value\(nonPositive == 1 ? "" : "s") ≤ 0 skipped on a log scale") }
        return notes
    }
}
