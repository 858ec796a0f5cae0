import Foundation

/// Number formatting that never consults the locale and gives the same bytes on every run: SVG
/// coordinates with at most two decimals, compact labels ("2.5k", "3.2e-4") and axis tick labels.
public enum NumberFormat {
    /// An SVG coordinate: at most two decimals, trailing zeros trimmed, never "-0".
    public static func coordinate(_ x: Double) -> String { fixed(x, decimals: 2) }

    /// `x` rounded to `decimals` places, trailing zeros (and a dangling point) trimmed. Values too
    /// large for exact integer arithmetic fall back to `scientific`.
    public static func fixed(_ x: Double, decimals: Int) -> String {
        guard x.isFinite else { return nonFinite(x) }
        let places = max(0, min(decimals, 15))
        let scaled = (abs(x) * power(places)).rounded()
        guard scaled < 9e15 else { return scientific(x, significant: 4) }
        let magnitude = UInt64(scaled)
        if magnitude == 0 { return "0" }
        var digits = String(magnitude)
        if digits.count <= places { digits = String(repeating: "0", count: places - digits.count + 1) + digits }
        var integer = String(digits.prefix(digits.count - places))
        var fraction = String(digits.suffix(places))
        while fraction.hasSuffix("0") { fraction.removeLast() }
        if integer.isEmpty { integer = "0" }
        let body = fraction.isEmpty ? integer : integer + "." + fraction
        return x < 0 ? "-" + body : body
    }

    /// A short human label with about `significant` significant digits: "0.873", "412", "12.3k",
    /// "1.5M", "3.2e-4". Magnitudes below 1e-3 or from 1e15 up are written in scientific notation.
    public static func compact(_ x: Double, significant: Int = 3) -> String {
        guard x.isFinite else { return nonFinite(x) }
        let digits = max(1, min(significant, 15))
        let rounded = roundToSignificant(x, digits)
        if rounded == 0 { return "0" }
        let size = abs(rounded)
        if size < 1e-3 || size >= 1e15 { return scientific(rounded, significant: digits) }
        let exponent = decimalExponent(size)
        if size >= 1000 {
            let unit = min(12, exponent / 3 * 3)
            return fixed(rounded / power(unit), decimals: max(0, digits - 1 - (exponent - unit))) + suffix(unit)
        }
        return fixed(rounded, decimals: max(0, digits - 1 - exponent))
    }

    /// Scientific notation with a short mantissa and an unpadded exponent: "1e-7", "3.2e-4", "2e15".
    public static func scientific(_ x: Double, significant: Int = 2) -> String {
        guard x.isFinite else { return nonFinite(x) }
        let rounded = roundToSignificant(x, max(1, significant))
        if rounded == 0 { return "0" }
        let (mantissa, exponent) = decompose(rounded)
        return fixed(mantissa, decimals: max(0, significant - 1)) + "e" + String(exponent)
    }

    /// Labels for axis ticks. `step` is the linear tick spacing, or nil for a log axis whose ticks are
    /// 1, 2 or 5 times a power of ten. Each label carries just the precision the spacing needs; when
    /// any tick is below 1e-3, every tick below 1 is written in scientific notation, so a learning-rate
    /// axis reads "1e-7 … 1e-1, 1" rather than mixing styles.
    static func tickLabels(_ ticks: [Double], step: Double?) -> [String] {
        let nonZero = ticks.filter { $0 != 0 }.map(abs)
        let scientificAxis = (nonZero.min() ?? 1) < 1e-3 || (nonZero.max() ?? 0) >= 1e15
        return ticks.map { value in
            if value == 0 || !value.isFinite { return value == 0 ? "0" : nonFinite(value) }
            let size = abs(value)
            let exponent = decimalExponent(size)
            let stepExponent = step.map { decimalExponent($0) } ?? exponent
            if size >= 1e15 || (scientificAxis && size < 1) {
                let mantissa = decompose(value).mantissa
                return fixed(mantissa, decimals: max(0, exponent - stepExponent)) + "e" + String(exponent)
            }
            if size >= 1000 {
                let unit = min(12, exponent / 3 * 3)
                return fixed(value / power(unit), decimals: max(0, unit - stepExponent)) + suffix(unit)
            }
            return fixed(value, decimals: max(0, -stepExponent))
        }
    }

    /// floor(log10(x)) for a positive finite x, corrected for rounding at exact powers of ten.
    static func decimalExponent(_ x: Double) -> Int {
        var exponent = Int(floor(log10(x)))
        if power(exponent + 1) <= x { exponent += 1 } else if power(exponent) > x { exponent -= 1 }
        return exponent
    }

    /// `x` (non-zero, finite) as mantissa × 10^exponent with 1 ≤ |mantissa| < 10, subnormals included.
    static func decompose(_ x: Double) -> (mantissa: Double, exponent: Int) {
        if abs(x) < 1e-290 {
            let (mantissa, exponent) = decompose(x * 1e300)
            return (mantissa, exponent - 300)
        }
        let exponent = decimalExponent(abs(x))
        return (x / power(exponent), exponent)
    }

    /// 10 to an integer power, exact wherever a Double can hold it exactly.
    static func power(_ exponent: Int) -> Double {
        if exponent >= 0 && exponent <= 22 {
            var value = 1.0
            for _ in 0..<exponent { value *= 10 }
            return value
        }
        return pow(10, Double(exponent))
    }

    private static func roundToSignificant(_ x: Double, _ digits: Int) -> Double {
        if x == 0 { return 0 }
        let shift = digits - 1 - decimalExponent(abs(x))
        if shift >= 0 && shift <= 22 { return (x * power(shift)).rounded() / power(shift) }
        if shift < 0 && -shift <= 22 { return (x / power(-shift)).rounded() * power(-shift) }
        return x
    }

    private static func suffix(_ unit: Int) -> String {
        switch unit {
        case 3: "k"
        case 6: "M"
        case 9: "B"
        case 12: "T"
        default: ""
        }
    }

    private static func nonFinite(_ x: Double) -> String { x.isNaN ? "NaN" : (x < 0 ? "-inf" : "inf") }
}
