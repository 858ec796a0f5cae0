import Foundation

/// How values map to positions along an axis.
public enum AxisScale: Sendable, Equatable {
    /// Equal distances for equal differences.
    case linear
    /// Equal distances for equal ratios (base 10); values ≤ 0 cannot be drawn and are skipped.
    case log
}

/// Values whose magnitude exceeds this are treated like infinities, so every span stays finite.
let plottableLimit = 1e300

/// A numeric axis: a "nice" domain that covers the data, tick positions at 1-2-5 steps, their labels.
struct Axis {
    let scale: AxisScale
    /// Domain ends in data units.
    let lower: Double
    let upper: Double
    let ticks: [Double]
    let labels: [String]

    /// An axis covering `values` (already filtered to plottable ones) with about `tickCount` ticks.
    /// `includeZero` extends a linear domain to 0, as bar charts need. Empty input gives [0, 1].
    init(covering values: [Double], scale: AxisScale, tickCount: Int, includeZero: Bool = false) {
        self.scale = scale
        var low = values.min() ?? (scale == .log ? 1 : 0)
        var high = values.max() ?? (scale == .log ? 10 : 1)
        if scale == .log {
            var first = NumberFormat.decimalExponent(low)
            var last = NumberFormat.decimalExponent(high)
            if NumberFormat.power(last) < high { last += 1 }
            if first == last { first -= 1; last += 1 }
            lower = NumberFormat.power(first)
            upper = NumberFormat.power(last)
            ticks = Axis.logTicks(first: first, last: last, count: max(2, tickCount))
            labels = NumberFormat.tickLabels(ticks, step: nil)
            return
        }
        if includeZero { low = min(low, 0); high = max(high, 0) }
        if high - low <= max(abs(low), abs(high)) * 1e-12 {
            let centre = low
            if centre == 0 { (low, high) = includeZero ? (0, 1) : (-1, 1) } else {
                (low, high) = (centre - abs(centre) * 0.1, centre + abs(centre) * 0.1)
            }
        }
        let step = Axis.chooseStep(low: low, high: high, tickCount: max(1, tickCount))
        let firstIndex = Axis.snapped(low / step).rounded(.down)
        let lastIndex = Axis.snapped(high / step).rounded(.up)
        var ticks: [Double] = []
        var index = firstIndex
        while index <= lastIndex && ticks.count < 64 {
            let value = index * step
            if ticks.last != value { ticks.append(value) }
            index += 1
        }
        lower = firstIndex * step
        upper = max(lastIndex * step, lower + step)
        self.ticks = ticks
        labels = NumberFormat.tickLabels(ticks, step: step)
    }

    /// Where `value` falls along the axis: 0 at `lower`, 1 at `upper`.
    func fraction(_ value: Double) -> Double {
        switch scale {
        case .linear:
            return (value - lower) / (upper - lower)
        case .log:
            return (log10(value) - log10(lower)) / (log10(upper) - log10(lower))
        }
    }

    /// The value at a position along the axis, the inverse of `fraction`.
    func value(at fraction: Double) -> Double {
        switch scale {
        case .linear:
            return lower + fraction * (upper - lower)
        case .log:
            return pow(10, log10(lower) + fraction * (log10(upper) - log10(lower)))
        }
    }

    /// Whether `value` can be drawn on this scale at all: finite, within ±1e300, and on a log scale
    /// at least 1e-300.
    static func isPlottable(_ value: Double, on scale: AxisScale) -> Bool {
        value.isFinite && abs(value) <= plottableLimit && (scale == .linear || value >= 1 / plottableLimit)
    }

    /// `quotient` moved onto the nearest whole number when within rounding error of it, so that
    /// 2.2e-4 / 1e-5 counts as 22 steps rather than 22.000000000000004.
    static func snapped(_ quotient: Double) -> Double {
        let whole = quotient.rounded()
        return abs(quotient - whole) <= 1e-9 * max(1, abs(whole)) ? whole : quotient
    }

    /// A 1-2-5 step giving about `tickCount` intervals over [low, high]; the next finer step when the
    /// coarser one would leave more than a quarter of the axis empty and the finer one is not crowded.
    private static func chooseStep(low: Double, high: Double, tickCount: Int) -> Double {
        let step = niceStep((high - low) / Double(tickCount))
        func span(_ step: Double) -> Double {
            (snapped(high / step).rounded(.up) - snapped(low / step).rounded(.down)) * step
        }
        let mantissa = step / NumberFormat.power(NumberFormat.decimalExponent(step))
        let finer = step * (mantissa < 3 ? 0.5 : 0.4)
        let wasted = 1 - (high - low) / span(step)
        return wasted > 0.25 && span(finer) / finer <= Double(2 * tickCount) ? finer : step
    }

    /// The smallest of 1, 2, 5 × 10^k that is at least `rough`.
    static func niceStep(_ rough: Double) -> Double {
        guard rough.isFinite && rough > 0 else { return 1 }
        let exponent = NumberFormat.decimalExponent(rough)
        let base = NumberFormat.power(exponent)
        let fraction = rough / base
        let multiple: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return multiple * base
    }

    /// Powers of ten between 10^first and 10^last, thinned to about `count`; with two decades or fewer,
    /// 2× and 5× ticks in between as well.
    private static func logTicks(first: Int, last: Int, count: Int) -> [Double] {
        let decades = last - first
        if decades <= 2 {
            var ticks: [Double] = []
            for exponent in first...last {
                let base = NumberFormat.power(exponent)
                ticks.append(base)
                if exponent < last { ticks.append(2 * base); ticks.append(5 * base) }
            }
            return ticks
        }
        let stride = max(1, Int((Double(decades) / Double(count)).rounded(.up)))
        return Swift.stride(from: first, through: last, by: stride).map { NumberFormat.power($0) }
    }
}
