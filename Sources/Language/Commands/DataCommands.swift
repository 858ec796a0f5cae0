import Foundation
import FinchData
import FinchTensor

/// The dataset session's commands: data load, data show, data stats, data split, data sample, data folds.
/// `data split` and `data folds` are in DataCommands+Split.swift, `data stats` in DataCommands+Stats.swift.
enum DataCommands {
    static let all: [CommandSpec] = [load, show, stats, split, sample, folds]

    // MARK: data load

    static let load = CommandSpec(
        "data load", group: .dataset, summary: "Load a CSV, TSV or JSON-lines table of texts and labels",
        positionals: [ArgumentSpec("file", .path, optional: false,
                                   help: "The table: relative to the working folder, else to $FINCH_DATA when it is set")],
        options: [
            ArgumentSpec("text", .name, default: "text", help: "The column holding the texts"),
            ArgumentSpec("label", .name, default: "label", help: "The column holding the labels"),
            ArgumentSpec("format", .choice(Table.Format.allCases.map(\.rawValue)),
                         help: "The file format (default: from the extension: .csv, .tsv/.tab, .jsonl/.ndjson)"),
            ArgumentSpec("labels", .list(.name),
                         help: "The label names in the order the model's classes take them (default: the distinct values, sorted; numerically when all are whole numbers)"),
            ArgumentSpec("prompt", .name, help: "For causal-LM fine-tuning: the column holding the prompts (with response=)"),
            ArgumentSpec("response", .name, help: "For causal-LM fine-tuning: the column holding the responses to learn"),
            ArgumentSpec("messages", .name, help: "For causal-LM fine-tuning: a column of chat conversations ([{\"role\", \"content\"}, …])"),
        ],
        details: """
        Replaces the loaded data and forgets its splits and folds. Prints the rows, the columns and the label \
        balance. A text or label column that is not given must be called "text" or "label". A file is refused, \
        naming the line and column and keeping the data loaded before, when it is empty or only a header, has \
        bytes that are not UTF-8, a row with more or fewer fields than the header, an empty or repeated column \
        name, more than 10,000 columns, a field over 1 MiB, an empty label, a label outside labels=[...], or a \
        JSON object or array where a text or label is expected.
        """,
        example: """
        data load "bengali-absa/restaurant_dev.tsv" text=text label=class_label labels=[negative, neutral, positive]
        data load "sst2/dev.tsv" text=content label=label
        """) { call in
        let url = try dataFile(call)
        let table: Table
        do {
            table = try Table.read(url, format: call.string("format").flatMap(Table.Format.init(rawValue:)))
        } catch let error as DataError {
            throw call.error("\(call.string("file")!): \(error.problem)", at: "file")
        }
        if CausalCommands.wantsGenerativeData(call, table: table) { return try CausalCommands.loadGenerative(call, table: table) }
        let textColumn = try column(call, option: "text", in: table)
        let labelColumn = try column(call, option: "label", in: table)
        let given = call.has("labels") ? call.strings("labels") : nil
        let rows: LabeledTexts
        do {
            rows = try LabeledTexts(table: table, text: textColumn, label: labelColumn, labelNames: given)
        } catch let error as DataError {
            throw call.error("\(call.string("file")!): \(error.problem)", at: given == nil ? "file" : "labels")
        }
        let session = call.dataset
        session.reset()
        session.source = call.string("file")
        session.table = table
        session.textColumn = textColumn
        session.labelColumn = labelColumn
        session.rows = rows

        let title = "loaded \(call.string("file")!): \(Render.grouped(rows.count)) rows × \(table.columns.count) columns "
            + "(\(table.columns.joined(separator: ", "))); text=\(textColumn), label=\(labelColumn)"
        let balance = balanceTable(rows)
        return Output(plain: title + "\n" + TextTable.render(columns: balance.columns, rows: balance.rows),
                      html: "<p>\(HTML.escape(title))</p>" + HTML.table(columns: balance.columns, rows: balance.rows, caption: "label balance"),
                      json: .object([("source", .string(call.string("file")!)), ("rows", JSONValue(rows.count)),
                                     ("columns", JSONValue(table.columns)), ("text", .string(textColumn)),
                                     ("label", .string(labelColumn)), ("labels", labelCountsJSON(rows))]),
                      table: OutputTable(columns: balance.columns, rows: balance.rows, title: title))
    }

    /// The file named by `argument`: relative to the working folder, else under $FINCH_DATA; a missing one is an
    /// error with the caret under the path.
    static func dataFile(_ call: Invocation, argument: String = "file") throws -> URL {
        let text = call.string(argument) ?? ""
        let local = call.interpreter.resolve(path: text)
        if FileManager.default.fileExists(atPath: local.path) { return local }
        let root = dataRootOverride.value ?? ProcessInfo.processInfo.environment["FINCH_DATA"] ?? ""
        if !root.isEmpty, !text.hasPrefix("/"), !text.hasPrefix("~") {
            let shared = URL(fileURLWithPath: root).appendingPathComponent(text)
            if FileManager.default.fileExists(atPath: shared.path) { return shared }
        }
        do {
            return try call.existingPath(argument)
        } catch {
            var diagnostic = error
            if !root.isEmpty { diagnostic.notes.append("nor under $FINCH_DATA (\(root))") }
            throw diagnostic
        }
    }

    /// The column an option names, or its default ("text", "label") when that column exists. A missing
    /// column is an error at the option's value listing the columns and suggesting the closest.
    static func column(_ call: Invocation, option: String, in table: Table, file: String = "file") throws(Diagnostic) -> String {
        let columns = table.columns.map { "'\($0)'" }.joined(separator: ", ")
        guard let name = call.string(option) else {
            if table.columns.contains(option) { return option }
            throw call.error("no \(option) column given, and the table has no column '\(option)'",
                             notes: ["the columns are \(columns)", "say which one holds the \(option)s: \(option)=COLUMN"])
        }
        if table.columns.contains(name) { return name }
        var notes: [String] = []
        if let guess = Suggestions.closest(to: name, among: table.columns) { notes.append("did you mean '\(guess)'?") }
        notes.append("the columns are \(columns)")
        throw call.error("no column '\(name)' in \(call.string(file) ?? "the table")", at: option, notes: notes)
    }

    // MARK: data show

    static let show = CommandSpec(
        "data show", group: .dataset, summary: "Show the first rows (text and label) of the data or of a split",
        options: [
            ArgumentSpec("n", .integer(min: 1, max: 10_000), default: "5", help: "How many rows"),
            ArgumentSpec("split", .choice(["all", "train", "valid", "test"]), default: "all", help: "Which rows: every row, or a split's"),
        ],
        details: "Rows are numbered from 0 in the loaded table. The plain form cuts texts at 80 characters; HTML and JSON keep them whole.",
        example: "data show\ndata show n=3 split=all") { call in
        let session = call.dataset
        let split = call.string("split", default: "all")
        let selected = try session.rows(of: split)
        let numbers = split == "all" ? Array(0..<selected.count) : session.splits[split] ?? []
        let n = min(call.int("n", default: 5), selected.count)
        let responses = session.responses
        let columns = responses == nil ? ["row", "text", "label"] : ["row", "prompt", "response"]
        let full = (0..<n).map { i in
            ["\(numbers[i])", selected.texts[i], responses.map { $0[numbers[i]].replacingOccurrences(of: "\n", with: " ⏎ ") } ?? selected.labelNames[selected.labels[i]]]
        }
        let shown = full.map { [$0[0], shorten($0[1]), $0[2]] }
        let title = "\(n) of \(Render.grouped(selected.count)) rows" + (split == "all" ? "" : " of the \(split) split")
        let json: JSONValue = .object([
            ("split", .string(split)), ("rows", JSONValue(selected.count)),
            ("shown", .array(full.map { .object([("row", JSONValue(Int($0[0])!)), ("text", .string($0[1])), ("label", .string($0[2]))]) })),
        ])
        return Output(plain: title + "\n" + TextTable.render(columns: columns, rows: shown),
                      html: HTML.table(columns: columns, rows: full, caption: title), json: json,
                      table: OutputTable(columns: columns, rows: shown, title: title))
    }

    // MARK: data sample

    static let sample = CommandSpec(
        "data sample", group: .dataset, summary: "Keep a seeded random sample of the rows (forgets splits and folds)",
        options: [
            ArgumentSpec("n", .count(min: 1), default: "1000", help: "How many rows to keep"),
            ArgumentSpec("seed", .integer(min: 0), default: "the session's seed", help: "The seed of the draw (seed N sets the session's)"),
        ],
        details: """
        Draws n rows uniformly without replacement (every row equally likely, labels not balanced) and keeps them \
        in their file order; the rest are dropped until the next data load. With n at least the row count every \
        row is kept.
        """,
        example: "data sample n=100 seed=1") { call in
        let session = call.dataset
        let rows = try session.loaded()
        let n = call.int("n", default: 1000)
        let seed = seed(call)
        var random = SeededRandom(seed: seed)
        let kept = Array(shuffled(Array(0..<rows.count), &random).prefix(n)).sorted()
        let sampled = rows.subset(kept)
        if let table = session.table {
            session.table = Table(columns: table.columns, rows: kept.map { table.rows[$0] }, source: table.source,
                                  lines: kept.map { table.lines[$0] })
        }
        session.rows = sampled
        session.responses = session.responses.map { responses in kept.map { responses[$0] } }
        session.conversations = session.conversations.map { conversations in kept.map { conversations[$0] } }
        session.splits = [:]
        session.folds = []
        let title = kept.count == rows.count
            ? "kept all \(Render.grouped(rows.count)) rows (n=\(n) is not below the row count)"
            : "kept \(Render.grouped(kept.count)) of \(Render.grouped(rows.count)) rows (seed \(seed))"
        let balance = balanceTable(sampled)
        return Output(plain: title + "\n" + TextTable.render(columns: balance.columns, rows: balance.rows),
                      html: "<p>\(HTML.escape(title))</p>" + HTML.table(columns: balance.columns, rows: balance.rows, caption: "label balance"),
                      json: .object([("rows", JSONValue(kept.count)), ("of", JSONValue(rows.count)),
                                     ("seed", JSONValue(Int(seed))), ("labels", labelCountsJSON(sampled))]),
                      table: OutputTable(columns: balance.columns, rows: balance.rows, title: title))
    }

    // MARK: shared helpers

    /// Replaces $FINCH_DATA while set ("" for none): tests set it rather than the process environment,
    /// which other threads read.
    static let dataRootOverride = DataRootOverride()

    /// The seed option, else the session's seed.
    static func seed(_ call: Invocation) -> UInt64 {
        call.int("seed").map { UInt64($0) } ?? call.interpreter.seed
    }

    /// A Fisher–Yates shuffle driven by `random` (the same draws on every platform and Swift version).
    static func shuffled(_ values: [Int], _ random: inout SeededRandom) -> [Int] {
        var values = values
        guard values.count > 1 else { return values }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(i, Int(random.next() % UInt64(i + 1)))
        }
        return values
    }

    /// Rows per label, in label order.
    static func labelCounts(_ rows: LabeledTexts) -> [Int] {
        var counts = [Int](repeating: 0, count: rows.labelNames.count)
        for label in rows.labels { counts[label] += 1 }
        return counts
    }

    /// `{name: count}` in label order.
    static func labelCountsJSON(_ rows: LabeledTexts) -> JSONValue {
        .object(zip(rows.labelNames, labelCounts(rows)).map { ($0, JSONValue($1)) })
    }

    /// label | rows | share, one line per label.
    static func balanceTable(_ rows: LabeledTexts) -> (columns: [String], rows: [[String]]) {
        let counts = labelCounts(rows)
        return (["label", "rows", "share"],
                zip(rows.labelNames, counts).map { [$0, Render.grouped($1), percent($1, of: rows.count)] })
    }

    /// "44.4%" (one decimal); "—" of nothing.
    static func percent(_ part: Int, of whole: Int) -> String {
        whole == 0 ? "—" : String(format: "%.1f%%", 100 * Double(part) / Double(whole))
    }

    /// A text on one line, cut to `limit` characters with "…".
    static func shorten(_ text: String, _ limit: Int = 80) -> String {
        let flat = text.replacingOccurrences(of: "\r\n", with: " ").map { $0 == "\n" || $0 == "\t" || $0 == "\r" ? " " : String($0) }.joined()
        return flat.count <= limit ? flat : String(flat.prefix(limit - 1)) + "…"
    }
}

/// The stand-in for $FINCH_DATA, read and written under a lock.
final class DataRootOverride: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: String?
    var value: String? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
