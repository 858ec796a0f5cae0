import Foundation

/// Turns expressions into values: variables, arithmetic, and checks against what an argument expects.
struct Evaluator {
    let variables: [String: Value]

    /// The value of `expression` as a free-standing value: bare words are variables (an unknown one is an error).
    func value(_ expression: Expression) throws(Diagnostic) -> Value {
        switch expression {
        case let .number(value, _, _, _): return .number(value)
        case let .string(text, _): return .string(text)
        case let .bool(b, _): return .bool(b)
        case let .word(name, range):
            if let value = variables[name] { return value }
            throw unknownVariable(name, at: range)
        case let .list(items, _): return .list(try items.map { (item) throws(Diagnostic) in try value(item) })
        case let .unary(op, operand, range):
            let v = try value(operand)
            guard case .number(let x) = v else { throw Diagnostic("'\(op)' needs a number, not \(v.kindName)", at: range) }
            return .number(op == "-" ? -x : x)
        case let .binary(op, left, right, range):
            return try arithmetic(op, try value(left), try value(right), range: range, operands: (left.range, right.range))
        }
    }

    /// The value of an argument expected to be of `kind`: words are taken as words where the kind wants
    /// names or choices, as variables elsewhere; the result is checked against the kind.
    func value(_ expression: Expression, as kind: ValueKind, argument: String, command: String) throws(Diagnostic) -> Value {
        let raw: Value
        switch (expression, kind) {
        case let (.word(name, _), .choice), let (.word(name, _), .name):
            // A bare word where a name or an enum value is expected is taken as written.
            raw = .word(name)
        case let (.word(name, _), .any):
            raw = variables[name] ?? .word(name)
        case let (.word(name, range), .string), let (.word(name, range), .path):
            if let v = variables[name] { raw = v } else {
                throw Diagnostic("\(argument) expects a string, but '\(name)' is a bare word", at: range,
                                 notes: ["put text in quotes: \(argument == "" ? "" : "\(argument)=")\"\(name)\""])
            }
        case let (.list(items, range), .list(element)):
            var values: [Value] = []
            for item in items { values.append(try value(item, as: element, argument: argument, command: command)) }
            return try check(.list(values), as: kind, argument: argument, range: range)
        case (_, .list(let element)) where !(expression.isList):
            // A single value where a list is expected is a list of one.
            return .list([try value(expression, as: element, argument: argument, command: command)])
        default:
            raw = try value(expression)  // `.value`: bare words are variables
        }
        return try check(raw, as: kind, argument: argument, range: expression.range)
    }

    /// Checks `value` against `kind`, converting where the kind allows (a string where a name is wanted).
    func check(_ value: Value, as kind: ValueKind, argument: String, range: SourceRange) throws(Diagnostic) -> Value {
        let label = argument.isEmpty ? "the value" : "'\(argument)'"
        func wrongType() -> Diagnostic {
            Diagnostic("\(label) expects \(kind.description), not \(value.kindName) (\(value.sourceText))", at: range)
        }
        switch kind {
        case let .integer(min, max):
            guard case .number(let x) = value else { throw wrongType() }
            guard abs(x) < 9e15 else { throw Diagnostic("\(label) is too large: \(Value.format(x))", at: range, notes: ["expected \(kind.description)"]) }
            guard x == x.rounded() else {
                throw Diagnostic("\(label) expects a whole number, not \(Value.format(x))", at: range)
            }
            if let min, Int(x) < min { throw outOfRange(label, value, kind, range) }
            if let max, Int(x) > max { throw outOfRange(label, value, kind, range) }
        case let .number(min, max):
            guard case .number(let x) = value, x.isFinite else { throw wrongType() }
            if let min, x < min { throw outOfRange(label, value, kind, range) }
            if let max, x > max { throw outOfRange(label, value, kind, range) }
        case .count(let min):
            guard case .number(let x) = value, x.isFinite else { throw wrongType() }
            guard x < 1e15 else { throw Diagnostic("\(label) is too large: \(Value.format(x))", at: range) }
            guard x == x.rounded() else { throw Diagnostic("\(label) expects a whole count, not \(Value.format(x))", at: range) }
            if x < min { throw outOfRange(label, value, kind, range) }
        case .string, .path:
            guard case .string = value else { throw wrongType() }
        case .name:
            switch value {
            case .string(let s), .word(let s): return .string(s)
            default: throw wrongType()
            }
        case .bool:
            guard case .bool = value else { throw wrongType() }
        case .choice(let words):
            let word: String
            switch value {
            case .word(let w), .string(let w): word = w
            default: throw wrongType()
            }
            guard words.contains(word) else {
                var notes = ["allowed values: " + words.joined(separator: ", ")]
                if let guess = Suggestions.closest(to: word, among: words) { notes.insert("did you mean '\(guess)'?", at: 0) }
                throw Diagnostic("\(label) cannot be '\(word)'", at: range, notes: notes)
            }
            return .word(word)
        case .list(let element):
            guard case .list(let items) = value else {
                return .list([try check(value, as: element, argument: argument, range: range)])
            }
            return .list(try items.map { (item) throws(Diagnostic) in try check(item, as: element, argument: argument, range: range) })
        case .any, .value:
            break
        }
        return value
    }

    private func outOfRange(_ label: String, _ value: Value, _ kind: ValueKind, _ range: SourceRange) -> Diagnostic {
        Diagnostic("\(label) is out of range: \(value.plainText)", at: range, notes: ["expected \(kind.description)"])
    }

    private func unknownVariable(_ name: String, at range: SourceRange) -> Diagnostic {
        var notes: [String] = []
        if let guess = Suggestions.closest(to: name, among: Array(variables.keys).sorted()) {
            notes.append("did you mean '\(guess)'?")
        }
        if name.contains("-") { notes.append("'\(name)' is one word; write subtraction with spaces: \(name.replacingOccurrences(of: "-", with: " - "))") }
        return Diagnostic("unknown variable '\(name)'", at: range, notes: notes)
    }

    private func arithmetic(_ op: String, _ a: Value, _ b: Value, range: SourceRange,
                            operands: (SourceRange, SourceRange)) throws(Diagnostic) -> Value {
        switch (a, b) {
        case let (.number(x), .number(y)):
            switch op {
            case "+": return .number(x + y)
            case "-": return .number(x - y)
            case "*": return .number(x * y)
            case "/":
                guard y != 0 else { throw Diagnostic("division by zero", at: operands.1) }
                return .number(x / y)
            case "**": return .number(pow(x, y))
            default: throw Diagnostic("unknown operator '\(op)'", at: range)
            }
        case let (.string(x), .string(y)) where op == "+": return .string(x + y)
        case let (.list(x), .list(y)) where op == "+": return .list(x + y)
        case let (.string(x), .number(y)) where op == "*" && y >= 0 && y == y.rounded():
            guard y * Double(max(1, x.count)) <= 10_000_000 else {
                throw Diagnostic("a repeated string may hold at most 10,000,000 characters", at: range)
            }
            return .string(String(repeating: x, count: Int(y)))
        default:
            throw Diagnostic("cannot apply '\(op)' to \(a.kindName) and \(b.kindName)", at: range)
        }
    }
}

extension Value {
    /// Strings and words: what a name or choice may come from.
    var isTextual: Bool {
        switch self {
        case .string, .word: true
        default: false
        }
    }
}

extension Expression {
    var isList: Bool {
        if case .list = self { return true }
        return false
    }
}
