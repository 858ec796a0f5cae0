import FinchLanguage

/// Printed forms of the syntax tree for tests: `tree` (every node on its own line with its range, for
/// golden files) and `compact` (one line per statement without ranges, for tables of expectations).
enum ASTPrinter {
    // MARK: Tree

    static func tree(_ statements: [Statement]) -> String {
        statements.map { tree($0) }.joined(separator: "\n")
    }

    static func tree(_ statement: Statement) -> String {
        var lines: [String] = []
        switch statement {
        case let .assignment(name, nameRange, value, range):
            lines.append("assignment \(name)\(at(nameRange)) \(at(range))")
            lines += tree(value, indent: 1)
        case .command(let command):
            lines.append("command \(at(command.range))")
            lines.append("  words: " + command.words.map { "\($0.0)\(at($0.1))" }.joined(separator: " "))
            for positional in command.positionals {
                lines.append("  positional")
                lines += tree(positional, indent: 2)
            }
            for option in command.options {
                lines.append("  option \(option.key)\(at(option.keyRange))")
                lines += tree(option.value, indent: 2)
            }
        case .expression(let expression):
            lines.append("expression")
            lines += tree(expression, indent: 1)
        case let .helpQuery(topic, range):
            lines.append("help [\(topic.joined(separator: " "))] \(at(range))")
        }
        return lines.joined(separator: "\n")
    }

    static func tree(_ expression: Expression, indent: Int) -> [String] {
        let pad = String(repeating: "  ", count: indent)
        switch expression {
        case let .number(value, suffix, text, range):
            return [pad + "number \(text) value=\(value) suffix=\(suffix) \(at(range))"]
        case let .string(text, range):
            return [pad + "string \(text.debugDescription) \(at(range))"]
        case let .bool(value, range):
            return [pad + "bool \(value) \(at(range))"]
        case let .word(word, range):
            return [pad + "word \(word) \(at(range))"]
        case let .list(elements, range):
            return [pad + "list \(elements.count) \(at(range))"] + elements.flatMap { tree($0, indent: indent + 1) }
        case let .unary(op, operand, range):
            return [pad + "unary \(op) \(at(range))"] + tree(operand, indent: indent + 1)
        case let .binary(op, left, right, range):
            return [pad + "binary \(op) \(at(range))"] + tree(left, indent: indent + 1) + tree(right, indent: indent + 1)
        }
    }

    static func at(_ range: SourceRange) -> String {
        "@\(range.start)-\(range.end)"
    }

    // MARK: Compact

    /// `x = (2 * 3)`, `cmd(data load; "a.csv"; text=review)`, `help(lora)`, `[1.0, (-2.0)]`.
    static func compact(_ statements: [Statement]) -> String {
        statements.map { compact($0) }.joined(separator: "\n")
    }

    static func compact(_ statement: Statement) -> String {
        switch statement {
        case let .assignment(name, _, value, _):
            "\(name) = \(compact(value))"
        case .command(let command):
            "cmd(" + [
                command.words.map(\.0).joined(separator: " "),
                command.positionals.map { compact($0) }.joined(separator: ", "),
                command.options.map { "\($0.key)=\(compact($0.value))" }.joined(separator: ", "),
            ].joined(separator: "; ") + ")"
        case .expression(let expression):
            compact(expression)
        case let .helpQuery(topic, _):
            "help(\(topic.joined(separator: " ")))"
        }
    }

    static func compact(_ expression: Expression) -> String {
        switch expression {
        case let .number(value, _, _, _): "\(value)"
        case let .string(text, _): text.debugDescription
        case let .bool(value, _): "\(value)"
        case let .word(word, _): word
        case let .list(elements, _): "[" + elements.map { compact($0) }.joined(separator: ", ") + "]"
        case let .unary(op, operand, _): "(\(op)\(compact(operand)))"
        case let .binary(op, left, right, _): "(\(compact(left)) \(op) \(compact(right)))"
        }
    }
}
