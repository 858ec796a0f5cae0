import Foundation
import Testing
import TestSupport

/// A JSON value of the reference files. They are decoded with `JSONDecoder`, whose numbers are correctly
/// rounded; `JSONSerialization` (behind `referenceJSON`) on Linux can be 1 ulp off (it reads 17.362089228439018
/// as 17.36208922843902), which would hide whether Finch's results are bit-identical.
enum JSON: Decodable {
    case null, bool(Bool), number(Double), string(String), array([JSON]), object([String: JSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSON].self))
        }
    }

    subscript(key: String) -> JSON {
        if case .object(let members) = self, let value = members[key] { return value }
        Issue.record("no key \(key) in the reference")
        return .null
    }

    var array: [JSON] {
        if case .array(let values) = self { return values }
        Issue.record("not an array in the reference: \(self)")
        return []
    }

    var members: [String: JSON] {
        if case .object(let members) = self { return members }
        Issue.record("not an object in the reference: \(self)")
        return [:]
    }

    /// A string; nil for JSON null.
    var string: String? {
        if case .string(let value) = self { return value }
        if case .null = self { return nil }
        Issue.record("not a string in the reference: \(self)")
        return nil
    }

    /// A number, or one of the strings "nan", "inf", "-inf" the reference script writes for non-finite values.
    var double: Double {
        switch self {
        case .number(let value): return value
        case .string(let value) where ["nan", "inf", "-inf"].contains(value): return Double(value)!
        default:
            Issue.record("not a number in the reference: \(self)")
            return .nan
        }
    }

    var int: Int { Int(exactly: double) ?? .min }
    var doubles: [Double] { array.map(\.double) }
    var ints: [Int] { array.map(\.int) }
    var strings: [String] { array.map { $0.string ?? "" } }
}

/// `DIR/metrics/<name>.json` written by Tests/Reference/metrics_reference.py. Throws `MissingFixture` (the test
/// fails) when it was not computed.
func metricsReference(_ name: String) throws -> JSON {
    try JSONDecoder().decode(JSON.self, from: Data(contentsOf: TestPaths.referenceFile("metrics/\(name).json")))
}

/// Compares values against a reference, relative to max(1, |expected|) within `tolerance`, NaN equal to NaN and
/// infinities equal to themselves, and remembers the largest difference seen.
struct Deviation {
    let tolerance: Double
    private(set) var worst = 0.0
    private(set) var worstAt = "none"
    private(set) var compared = 0

    init(tolerance: Double = 1e-9) { self.tolerance = tolerance }

    mutating func check(_ actual: Double, _ expected: Double, _ what: @autoclosure () -> String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        compared += 1
        if expected.isNaN || expected.isInfinite {
            #expect(actual.isNaN == expected.isNaN && (expected.isNaN || actual == expected),
                    "\(what()): \(actual), expected \(expected)", sourceLocation: sourceLocation)
            return
        }
        let difference = abs(actual - expected) / max(1, abs(expected))
        if !(difference <= worst) {
            worst = difference.isNaN ? .infinity : difference
            worstAt = what()
        }
        #expect(difference <= tolerance, "\(what()): \(actual), expected \(expected)", sourceLocation: sourceLocation)
    }

    mutating func check(_ actual: [Double], _ expected: [Double], _ what: @autoclosure () -> String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.count == expected.count, "\(what()): \(actual.count) values, expected \(expected.count)",
                sourceLocation: sourceLocation)
        for (i, (a, e)) in zip(actual, expected).enumerated() {
            check(a, e, "\(what())[\(i)]", sourceLocation: sourceLocation)
        }
    }

    /// One line for the test log: how many values were compared and the largest relative difference.
    func summary(_ name: String) -> String {
        "\(name): \(compared) values, max relative difference \(worst) (\(worstAt))"
    }
}
