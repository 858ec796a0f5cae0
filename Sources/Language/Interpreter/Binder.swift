/// Matches a command statement's arguments to its spec: positionals in order, options by key, each
/// evaluated and checked against its kind. Errors name the key, say what is allowed and point at it.
struct Binder {
    let spec: CommandSpec
    let variables: [String: Value]

    func bind(_ command: CommandStatement) throws(Diagnostic) -> [String: (value: Value, range: SourceRange)] {
        let evaluator = Evaluator(variables: variables)
        var bound: [String: (value: Value, range: SourceRange)] = [:]
        // Words after the command's own are positionals (`plot loss`, `reset data`, `help data load`).
        let extraWords = command.words.dropFirst(spec.words.count).map { Expression.word($0.0, range: $0.1) }
        let positionals = extraWords + command.positionals
        var index = 0
        for argument in spec.positionals {
            if argument.repeats {
                let rest = positionals[index...]
                if rest.isEmpty { break }
                var values: [Value] = []
                for expression in rest {
                    values.append(try evaluator.value(expression, as: argument.kind, argument: argument.name, command: spec.name))
                }
                bound[argument.name] = (.list(values), rest.first!.range.union(rest.last!.range))
                index = positionals.count
                break
            }
            guard index < positionals.count else { break }
            let expression = positionals[index]
            bound[argument.name] = (try evaluator.value(expression, as: argument.kind, argument: argument.name, command: spec.name),
                                    expression.range)
            index += 1
        }
        if index < positionals.count {
            let extra = positionals[index]
            let expected = spec.positionals.isEmpty ? "no positional arguments" : "\(spec.positionals.count) positional argument\(spec.positionals.count == 1 ? "" : "s")"
            throw Diagnostic("'\(spec.name)' takes \(expected); unexpected \(describe(extra))", at: extra.range,
                             notes: ["usage: \(spec.usage)"])
        }
        if let missing = spec.positionals.first(where: { !$0.optional && bound[$0.name] == nil }) {
            throw Diagnostic("'\(spec.name)' needs \(missing.name) (\(missing.kind.description))", at: command.range,
                             notes: ["usage: \(spec.usage)"])
        }
        for option in command.options {
            guard let argument = spec.options.first(where: { $0.name == option.key }) else {
                var notes: [String] = []
                let names = spec.options.map(\.name)
                if let guess = Suggestions.closest(to: option.key, among: names) { notes.append("did you mean '\(guess)'?") }
                notes.append(names.isEmpty ? "'\(spec.name)' takes no options" : "options of '\(spec.name)': " + names.joined(separator: ", "))
                throw Diagnostic("unknown option '\(option.key)' for '\(spec.name)'", at: option.keyRange, notes: notes)
            }
            if bound[option.key] != nil {
                throw Diagnostic("option '\(option.key)' is given twice", at: option.keyRange)
            }
            bound[option.key] = (try evaluator.value(option.value, as: argument.kind, argument: option.key, command: spec.name),
                                 option.value.range)
        }
        if let missing = spec.options.first(where: { !$0.optional && bound[$0.name] == nil }) {
            throw Diagnostic("'\(spec.name)' needs \(missing.name)=… (\(missing.kind.description))", at: command.range,
                             notes: ["usage: \(spec.usage)"])
        }
        return bound
    }

    private func describe(_ expression: Expression) -> String {
        switch expression {
        case .word(let w, _): "'\(w)'"
        case .string: "a string"
        case .number(_, _, let text, _): "'\(text)'"
        default: "value"
        }
    }
}
