/// Every command of the language, in the order help lists them. Parsing, validation, help, completion
/// and docs/language.md all read this table.
public enum CommandTable {
    public static let all: [CommandSpec] =
        DataCommands.all + ModelCommands.all + AdapterCommands.all + PlanningCommands.all + TrainCommands.all
        + MetricsCommands.all + CausalCommands.all + FileCommands.all + ExportCommands.all + GeneralCommands.all

    /// Commands by name ("data load").
    public static let byName: [String: CommandSpec] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// The first words of all commands (`data`, `train`, `lora`, …): not usable as variable names.
    public static let firstWords: Set<String> = Set(all.map { $0.words[0] })

    /// The command whose words are the longest prefix of `words`.
    public static func longestMatch(_ words: [String]) -> CommandSpec? {
        for count in stride(from: min(words.count, 3), through: 1, by: -1) {
            if let spec = byName[words.prefix(count).joined(separator: " ")] { return spec }
        }
        return nil
    }

    /// Commands starting with `word` (`data` → data load, data show, …).
    public static func commands(startingWith word: String) -> [CommandSpec] {
        all.filter { $0.words[0] == word }
    }

    /// The error for words that name no command: a close spelling, or the subcommands of a known first word.
    static func unknownCommand(words: [(String, SourceRange)], variables: [String]) -> Diagnostic {
        let first = words[0]
        let family = commands(startingWith: first.0)
        if !family.isEmpty {
            // `data lod` or a bare `data`.
            let subcommands = family.map { $0.words.dropFirst().joined(separator: " ") }.filter { !$0.isEmpty }
            if words.count > 1 {
                let second = words[1]
                var notes: [String] = []
                if let guess = Suggestions.closest(to: second.0, among: subcommands) { notes.append("did you mean '\(first.0) \(guess)'?") }
                notes.append("'\(first.0)' commands: " + subcommands.map { "\(first.0) \($0)" }.joined(separator: ", "))
                return Diagnostic("unknown command '\(first.0) \(second.0)'", at: second.1, notes: notes)
            }
            return Diagnostic("'\(first.0)' needs a subcommand", at: first.1,
                              notes: ["one of: " + subcommands.map { "\(first.0) \($0)" }.joined(separator: ", ")])
        }
        var notes: [String] = []
        let candidates = Array(firstWords).sorted() + variables.sorted()
        if let guess = Suggestions.closest(to: first.0, among: candidates) { notes.append("did you mean '\(guess)'?") }
        notes.append("'help' lists the commands")
        return Diagnostic("unknown command '\(first.0)'", at: first.1, notes: notes)
    }
}
