/// A value of the language: what literals, variables and arithmetic produce.
public indirect enum Value: Sendable, Equatable {
    case number(Double)
    case string(String)
    case bool(Bool)
    /// A bare word used as a name: `cosine`, `all-linear`, `nf4`.
    case word(String)
    case list([Value])

    /// What the kind is called in messages: "a number", "a string", …
    public var kindName: String {
        switch self {
        case .number: "a number"
        case .string: "a string"
        case .bool: "a boolean"
        case .word: "a word"
        case .list: "a list"
        }
    }

    /// How the value is written back as source (strings quoted), used in messages and by `print` of lists.
    public var sourceText: String {
        switch self {
        case .string(let s): "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case .list(let items): "[" + items.map(\.sourceText).joined(separator: ", ") + "]"
        default: plainText
        }
    }

    /// The text `print` shows: strings without quotes, numbers in their shortest exact form.
    public var plainText: String {
        switch self {
        case .number(let x): Value.format(x)
        case .string(let s): s
        case .bool(let b): b ? "true" : "false"
        case .word(let w): w
        case .list(let items): "[" + items.map(\.sourceText).joined(separator: ", ") + "]"
        }
    }

    public var json: JSONValue {
        switch self {
        case .number(let x): .number(x)
        case .string(let s), .word(let s): .string(s)
        case .bool(let b): .bool(b)
        case .list(let items): .array(items.map(\.json))
        }
    }

    /// `42`, `0.0002`, `1e-07`, `7000000000`: integers without a fraction, others as Swift prints them.
    public static func format(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        if x == x.rounded(), abs(x) < 1e16 { return String(Int64(x)) }
        return "\(x)"
    }
}
