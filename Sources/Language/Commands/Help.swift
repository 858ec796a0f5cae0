/// Help text from the command table: the list of commands, and one command's usage, options and example.
public enum Help {
    /// `help` with no topic: commands by group, one line each.
    public static func overview() -> Output {
        var plain = ["Finch commands (help COMMAND for details; COMMAND? in a notebook opens the pager):"]
        var html = "<div class=\"finch-help\">"
        for group in CommandGroup.allCases {
            let specs = CommandTable.all.filter { $0.group == group }
            guard !specs.isEmpty else { continue }
            plain.append("")
            plain.append(group.rawValue)
            let width = specs.map(\.name.count).max() ?? 0
            for spec in specs {
                plain.append("  " + spec.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + spec.summary)
            }
            html += "<h4>\(HTML.escape(group.rawValue))</h4>"
                + HTML.table(columns: ["command", "what it does"], rows: specs.map { [$0.name, $0.summary] })
        }
        return Output(plain: plain.joined(separator: "\n"), html: html + "</div>",
                      json: .object([("commands", .array(CommandTable.all.map { .object([("name", .string($0.name)), ("summary", .string($0.summary))]) }))]))
    }

    /// Help for the command named by `topic` words (`["data", "load"]`), or the overview for no words.
    static func output(for topic: [String], at range: SourceRange) throws(Diagnostic) -> Output {
        if topic.isEmpty { return overview() }
        if let spec = CommandTable.byName[topic.joined(separator: " ")] ?? CommandTable.longestMatch(topic) {
            return output(for: spec)
        }
        let family = CommandTable.commands(startingWith: topic[0])
        if !family.isEmpty {
            return Output(plain: family.map { "\($0.usage)\n    \($0.summary)" }.joined(separator: "\n"),
                          html: HTML.table(columns: ["usage", "what it does"], rows: family.map { [$0.usage, $0.summary] }))
        }
        var notes = ["'help' lists the commands"]
        if let guess = Suggestions.closest(to: topic[0], among: Array(CommandTable.firstWords).sorted()) {
            notes.insert("did you mean '\(guess)'?", at: 0)
        }
        throw Diagnostic("no command '\(topic.joined(separator: " "))'", at: range, notes: notes)
    }

    /// Usage, summary, details, arguments with kinds and defaults, and the example.
    public static func output(for spec: CommandSpec) -> Output {
        let arguments = spec.positionals + spec.options
        var plain = ["usage: \(spec.usage)", "", spec.summary]
        if !spec.details.isEmpty { plain += ["", spec.details] }
        if !arguments.isEmpty {
            plain += ["", "arguments:"]
            let width = arguments.map(\.name.count).max() ?? 0
            for a in arguments {
                let defaultText = a.defaultText.map { " (default \($0))" } ?? (a.optional ? "" : " (required)")
                plain.append("  " + a.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(a.help)")
                plain.append("  " + String(repeating: " ", count: width) + "  " + a.kind.description + defaultText)
            }
        }
        plain += ["", "example:"] + spec.example.split(separator: "\n").map { "  " + $0 }
        var html = "<div class=\"finch-help\"><p><code>\(HTML.escape(spec.usage))</code></p><p>\(HTML.escape(spec.summary))</p>"
        if !spec.details.isEmpty { html += "<p>\(HTML.escape(spec.details))</p>" }
        if !arguments.isEmpty {
            html += HTML.table(columns: ["argument", "takes", "default", "meaning"], rows: arguments.map {
                [$0.name, $0.kind.description, $0.defaultText ?? ($0.optional ? "" : "required"), $0.help]
            })
        }
        html += "<p>example:</p><pre>\(HTML.escape(spec.example))</pre></div>"
        return Output(plain: plain.joined(separator: "\n"), html: html,
                      json: .object([("name", .string(spec.name)), ("usage", .string(spec.usage)), ("summary", .string(spec.summary))]))
    }
}
