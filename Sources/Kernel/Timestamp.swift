#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Message dates as Jupyter writes them: ISO 8601 in UTC with microseconds and a `Z`,
/// such as `2024-05-01T12:34:56.123456Z` (Foundation's formatters stop at milliseconds).
public enum Timestamp {
    /// The current time.
    public static func now() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return format(seconds: Int(time.tv_sec), microseconds: Int(time.tv_nsec) / 1_000)
    }

    /// `seconds` since the Unix epoch plus `microseconds` (0..<1_000_000), in UTC.
    public static func format(seconds: Int, microseconds: Int) -> String {
        var epochSeconds = time_t(seconds)
        var parts = tm()
        gmtime_r(&epochSeconds, &parts)
        var text = ""
        text.reserveCapacity(27)
        append(Int(parts.tm_year) + 1900, width: 4, to: &text)
        text += "-"
        append(Int(parts.tm_mon) + 1, width: 2, to: &text)
        text += "-"
        append(Int(parts.tm_mday), width: 2, to: &text)
        text += "T"
        append(Int(parts.tm_hour), width: 2, to: &text)
        text += ":"
        append(Int(parts.tm_min), width: 2, to: &text)
        text += ":"
        append(Int(parts.tm_sec), width: 2, to: &text)
        text += "."
        append(microseconds, width: 6, to: &text)
        text += "Z"
        return text
    }

    /// Appends `value` in decimal, left-padded with zeros to `width` digits.
    private static func append(_ value: Int, width: Int, to text: inout String) {
        let digits = String(value)
        if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
        text += digits
    }
}
