import Foundation

/// docs/language.md, generated from the command table so the reference cannot drift from the language.
public enum LanguageReference {
    /// The whole reference as Markdown.
    public static func markdown() -> String {
        var out = """
        # The Finch language

        <!-- Generated from the command table (Sources/Language/Commands). Do not edit by hand: run
             `FINCH_RECORD_GOLDENS=1 swift test --filter LanguageReferenceTests` to regenerate. -->

        Finch cells, REPL input and `.finch` scripts are written in one small language. This page lists
        every command with its arguments, defaults and ranges; `help COMMAND` (or `COMMAND?` in a
        notebook) shows the same text.

        ## Lexical rules

        - One statement per line; `#` starts a comment. A line ending in `\\`, or an open `[`, `(` or
          `\"\"\"`, continues on the next line.
        - Numbers: `16`, `2e-4`, `0.05`, `80%` (= 0.8), sizes `7B`, `110M`, `4.5k`. Strings: `"..."`
          (UTF-8; Bengali and code-mixed text round-trip exactly) and `\"\"\"...\"\"\"` over several lines.
          Booleans `true` / `false`. Lists `[query, value]`. Bare words (`cosine`, `all-linear`) are
          enum values; a `-` between two letters or digits joins a word, so subtraction needs spaces
          (`x - 1`).
        - `name = expression` sets a variable; `+ - * / **` and parentheses work on numbers (`+` also
          joins strings and lists). A bare expression as a cell's last statement is the cell's value.
        - Options are `key=value` after the positional arguments. Unknown keys, wrong types and values
          out of range are errors that point at the token and say what is allowed.
        - `COMMAND?` or `?COMMAND` shows help in the notebook's pager.

        ## Sessions

        Three sessions live as long as the kernel or REPL: the **dataset** session (table, splits,
        folds), the **trainer** session (model, adapter or method, the last run for `train resume`) and
        the **metrics** session (runs and evaluations). `sessions` shows them; `reset` clears one.

        """
        for group in CommandGroup.allCases {
            let specs = CommandTable.all.filter { $0.group == group }
            guard !specs.isEmpty else { continue }
            out += "\n## \(group.rawValue)\n"
            for spec in specs { out += "\n" + section(spec) }
        }
        return out
    }

    private static func section(_ spec: CommandSpec) -> String {
        var lines = ["### `\(spec.name)`", "", "```", spec.usage, "```", "", spec.summary + "."]
        if !spec.details.isEmpty { lines += ["", spec.details] }
        let arguments = spec.positionals + spec.options
        if !arguments.isEmpty {
            lines += ["", "| argument | takes | default | meaning |", "|---|---|---|---|"]
            for a in arguments {
                let defaultText = a.defaultText.map { "`\($0)`" } ?? (a.optional ? "" : "required")
                lines.append("| `\(a.name)` | \(escape(a.kind.description)) | \(escape(defaultText)) | \(escape(a.help)) |")
            }
        }
        lines += ["", "```finch", spec.example, "```", ""]
        return lines.joined(separator: "\n")
    }

    private static func escape(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }
}
