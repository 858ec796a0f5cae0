/// The command table's vocabulary: what a command is called, what it takes, and how it runs. One table
/// (`CommandTable.all`) drives parsing, validation, help, completion and docs/language.md.

/// The type of value an argument takes; validation, help text and completion read it.
public indirect enum ValueKind: Sendable, Equatable {
    /// A whole number in `min...max` (either bound optional).
    case integer(min: Int? = nil, max: Int? = nil)
    /// A number in `min...max`; `80%` reads as 0.8.
    case number(min: Double? = nil, max: Double? = nil)
    /// A whole count where size suffixes read naturally: `7B`, `110M`, `4.5k`.
    case count(min: Double = 0)
    case string
    /// A name: a bare word or a string (module names, label names, column names).
    case name
    /// A string naming a file or folder (completion offers paths).
    case path
    case bool
    /// One of these words.
    case choice([String])
    /// A list of values of one kind (a single value is taken as a list of one).
    case list(ValueKind)
    /// Any value (numbers, words, strings, lists); a bare word is a variable if one has that name.
    case any
    /// Any value, where a bare word must be a variable (`print x`).
    case value

    /// "an integer from 1 to 4096", "one of cosine, linear, constant", used in help and errors.
    public var description: String {
        switch self {
        case let .integer(min, max): "an integer" + Self.bounds(min.map { "\($0)" }, max.map { "\($0)" })
        case let .number(min, max): "a number" + Self.bounds(min.map(Value.format), max.map(Value.format))
        case .count(let min): "a count (7B, 110M, 4.5k)" + (min > 0 ? " ≥ \(Value.format(min))" : "")
        case .string: "a string"
        case .name: "a name"
        case .path: "a path (a string)"
        case .bool: "true or false"
        case .choice(let words): "one of " + words.joined(separator: ", ")
        case .list(let element): "a list of " + element.pluralDescription
        case .any, .value: "any value"
        }
    }

    private var pluralDescription: String {
        switch self {
        case .choice(let words): "words from " + words.joined(separator: ", ")
        case .integer: "integers" + description.dropFirst("an integer".count)
        case .number: "numbers" + description.dropFirst("a number".count)
        case .string, .path: "strings"
        case .name: "names"
        default: "values (\(description))"
        }
    }

    private static func bounds(_ min: String?, _ max: String?) -> String {
        switch (min, max) {
        case let (min?, max?): " from \(min) to \(max)"
        case let (min?, nil): " ≥ \(min)"
        case let (nil, max?): " ≤ \(max)"
        case (nil, nil): ""
        }
    }
}

/// One `key=value` option or positional argument of a command.
public struct ArgumentSpec: Sendable, Equatable {
    public let name: String
    public let kind: ValueKind
    /// The default as help shows it ("16", "cosine"), or nil when there is none (required, or "not set").
    public let defaultText: String?
    public let help: String
    /// For positionals: whether it may be omitted, and whether it takes every remaining positional.
    public let optional: Bool
    public let repeats: Bool

    public init(_ name: String, _ kind: ValueKind, default defaultText: String? = nil, optional: Bool = true,
                repeats: Bool = false, help: String) {
        self.name = name
        self.kind = kind
        self.defaultText = defaultText
        self.help = help
        self.optional = optional
        self.repeats = repeats
    }
}

/// Which of the three sessions a command belongs to (help groups commands by it).
public enum CommandGroup: String, Sendable, CaseIterable {
    case dataset = "Dataset"
    case model = "Model and adapters"
    case trainer = "Trainer"
    case metrics = "Metrics"
    case files = "Adapters on disk"
    case planning = "Memory and cost"
    case export = "Beyond one machine"
    case general = "Other"
}

/// A command of the language.
public struct CommandSpec: Sendable {
    /// Its words: "data load", "train resume", "eval".
    public let name: String
    public let group: CommandGroup
    /// One line: what it does.
    public let summary: String
    public let positionals: [ArgumentSpec]
    public let options: [ArgumentSpec]
    /// A paragraph or two for `help`: what it prints, what it needs first.
    public let details: String
    /// Example statements, one per line.
    public let example: String
    public let run: @Sendable (Invocation) throws -> Output?

    public init(_ name: String, group: CommandGroup, summary: String, positionals: [ArgumentSpec] = [],
                options: [ArgumentSpec] = [], details: String = "", example: String,
                run: @escaping @Sendable (Invocation) throws -> Output?) {
        self.name = name
        self.group = group
        self.summary = summary
        self.positionals = positionals
        self.options = options
        self.details = details
        self.example = example
        self.run = run
    }

    public var words: [String] { name.split(separator: " ").map(String.init) }

    /// `data load "file" text=COL label=COL [format=csv|tsv|jsonl] …`
    public var usage: String {
        var parts = [name]
        for p in positionals {
            let shown = p.kind == .string || p.kind == .path ? "\"\(p.name)\"" : p.name.uppercased()
            let text = p.repeats ? "\(shown) [\(shown) …]" : shown
            parts.append(p.optional ? "[\(text)]" : text)
        }
        for o in options {
            let value: String = switch o.kind {
            case .choice(let words): words.joined(separator: "|")
            case .bool: "true|false"
            case .string, .path: "\"…\""
            default: o.name.uppercased()
            }
            parts.append(o.defaultText == nil && !o.optional ? "\(o.name)=\(value)" : "[\(o.name)=\(value)]")
        }
        return parts.joined(separator: " ")
    }
}
