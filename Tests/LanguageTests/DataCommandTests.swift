import Foundation
@testable import FinchLanguage
import Testing
import TestSupport

/// The rows of a tab-separated file, read here independently of Finch's table reader: header, then records.
func rawTSV(_ relativePath: String) throws -> (header: [String], rows: [[String]]) {
    let text = try String(contentsOf: TestPaths.data.appendingPathComponent(relativePath), encoding: .utf8)
    // The Bengali files end lines with CRLF: "\r\n" is one Character, and a newline.
    let lines = text.split(whereSeparator: \.isNewline).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    return (lines[0], Array(lines.dropFirst()))
}

/// The Bengali restaurant reviews (dev): 224 rows, 46 negative, 35 neutral, 143 positive.
let restaurant = "bengali-absa/restaurant_dev.tsv"
let loadRestaurant = "data load \"\(restaurant)\" label=class_label labels=[negative, neutral, positive]"

@Suite("Data commands")
struct DataCommandTests {
    @Test func loadCountsRowsAndLabelsAsTheFileHasThem() throws {
        let raw = try rawTSV(restaurant)
        let interpreter = makeInterpreter()
        let result = run(interpreter, "data load \"\(restaurant)\" label=class_label")
        try check(result)
        let json = try #require(result.json)
        #expect(json["rows"]?.number == Double(raw.rows.count))
        #expect(json["columns"] == JSONValue(raw.header))
        #expect(json["text"] == "text", "the text column defaults to 'text' when there is one")
        // Counted here from the raw file; label names sorted when not given.
        let names = Set(raw.rows.map { $0[2] }).sorted()
        #expect(json["labels"] == .object(names.map { name in (name, JSONValue(raw.rows.filter { $0[2] == name }.count)) }))
        #expect(result.plain.hasPrefix("loaded \(restaurant): 224 rows × 3 columns (id, text, class_label); text=text, label=class_label\n"))
        #expect(result.plain.contains("positive   143  63.8%"))
        #expect(result.value?.html?.contains("<caption>label balance</caption>") == true)
        let rows = try #require(interpreter.dataset.rows)
        #expect(rows.texts == raw.rows.map { $0[1] }, "Bengali text round-trips exactly")
        #expect(interpreter.dataset.source == restaurant)
    }

    @Test func labelsFixTheOrderAndAValueOutsideThemIsAnError() throws {
        let interpreter = makeInterpreter()
        let ordered = run(interpreter, "data load \"\(restaurant)\" label=class_label labels=[positive, neutral, negative]")
        try check(ordered)
        #expect(ordered.json?["labels"] == .object([("positive", 143), ("neutral", 35), ("negative", 46)]))
        #expect(interpreter.dataset.labelNames == ["positive", "neutral", "negative"])
        let missing = run(interpreter, "data load \"\(restaurant)\" label=class_label labels=[negative, positive]")
        #expect(missing.failure?.rendered == """
            cell[1]:1:70: error: bengali-absa/restaurant_dev.tsv: line 17, column "class_label": label "neutral" is not one of negative, positive
            data load "bengali-absa/restaurant_dev.tsv" label=class_label labels=[negative, positive]
                                                                                 ^~~~~~~~~~~~~~~~~~~~
            """)
        #expect(interpreter.dataset.labelNames == ["positive", "neutral", "negative"], "a failed load keeps the data")
    }

    @Test func aMissingColumnPointsAtTheOptionListsTheColumnsAndSuggests() throws {
        let interpreter = makeInterpreter()
        #expect(run(interpreter, "data load \"sst2/dev.tsv\" text=contnet label=label").failure?.rendered == """
            cell[1]:1:31: error: no column 'contnet' in sst2/dev.tsv
            data load "sst2/dev.tsv" text=contnet label=label
                                          ^~~~~~~
            note: did you mean 'content'?
            note: the columns are 'label', 'content'
            """)
        // No text= and no "text" column: the error is at the command and says what to write.
        #expect(run(interpreter, "data load \"sst2/dev.tsv\"").failure?.rendered == """
            cell[1]:1:1: error: no text column given, and the table has no column 'text'
            data load "sst2/dev.tsv"
            ^~~~~~~~~
            note: the columns are 'label', 'content'
            note: say which one holds the texts: text=COLUMN
            """)
        #expect(!interpreter.dataset.isLoaded)
    }

    @Test func pathsResolveInTheWorkingFolderThenUnderFinchData() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("finch-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let interpreter = Interpreter(workingDirectory: empty)
        let code = "data load \"sst2/dev.tsv\" text=content"
        // $FINCH_DATA is stood in for by DataCommands.dataRootOverride: other threads read the environment.
        defer { DataCommands.dataRootOverride.value = nil }
        DataCommands.dataRootOverride.value = ""
        #expect(run(interpreter, code).failure?.rendered == """
            cell[1]:1:11: error: no such file: sst2/dev.tsv
            data load "sst2/dev.tsv" text=content
                      ^~~~~~~~~~~~~~
            note: paths are relative to \(empty.path)
            """)
        DataCommands.dataRootOverride.value = TestPaths.data.path
        let result = run(interpreter, code)
        try check(result)
        #expect(result.json?["rows"]?.number == 872)
        #expect(result.json?["labels"] == .object([("0", 428), ("1", 444)]), "integer labels sort numerically")
        #expect(run(interpreter, "data load \"sst2/nothing.tsv\"").failure?.diagnostic.notes.last == "nor under $FINCH_DATA (\(TestPaths.data.path))")
    }

    @Test func showPrintsTheFirstRowsTruncatedInPlainTextOnly() throws {
        let raw = try rawTSV("sst2/dev.tsv")
        let interpreter = makeInterpreter()
        try check(run(interpreter, "data load \"sst2/dev.tsv\" text=content"))
        let result = run(interpreter, "data show n=3")
        try check(result)
        let shown = try #require(result.json?["shown"]?.array)
        #expect(shown.map { $0["text"] } == raw.rows.prefix(3).map { JSONValue($0[1]) })
        #expect(shown.map { $0["label"] } == raw.rows.prefix(3).map { JSONValue($0[0]) })
        #expect(shown.map { $0["row"]?.number } == [0, 1, 2])
        // The second row is 159 characters: cut to 79 and "…" in the plain form, whole in HTML.
        let long = raw.rows[1][1]
        #expect(long.count > 80)
        #expect(result.plain.contains(String(long.prefix(79)) + "…"))
        #expect(!result.plain.contains(long))
        #expect(result.value?.html?.contains(HTML.escape(long)) == true)
        #expect(result.plain.hasPrefix("3 of 872 rows\nrow  text"))
        #expect(run(interpreter, "data show split=test").failure?.diagnostic.message == "there is no 'test' split yet")
    }

    @Test func splitIsStratifiedAddsUpAndFollowsTheSeed() throws {
        let interpreter = makeInterpreter()
        try check(run(interpreter, loadRestaurant))
        let result = run(interpreter, "data split train=80% valid=10% test=10% seed=7")
        try check(result)
        let splits = interpreter.dataset.splits
        let parts = ["train", "valid", "test"].map { splits[$0] ?? [] }
        // A partition of the 224 rows.
        #expect(parts.map(\.count).reduce(0, +) == 224)
        #expect(Set(parts.joined()).count == 224)
        #expect(parts.allSatisfy { $0 == $0.sorted() })
        // Each label's part sizes: round(n·0.8), round(n·0.9) − round(n·0.8), the rest.
        let labels = try #require(interpreter.dataset.rows).labels
        for (label, n) in [(0, 46), (1, 35), (2, 143)] {
            let counts = parts.map { $0.filter { labels[$0] == label }.count }
            let train = Int((Double(n) * 0.8).rounded()), valid = Int((Double(n) * 0.9).rounded()) - train
            #expect(counts == [train, valid, n - train - valid], "label \(label)")
        }
        #expect(result.json?["train"]?["rows"]?.number == Double(parts[0].count))
        #expect(result.json?["test"]?["labels"]?["neutral"]?.number == Double(parts[2].filter { labels[$0] == 1 }.count))
        // The same seed gives the same split; another seed another.
        try check(run(interpreter, "data split seed=7"))
        #expect(interpreter.dataset.splits == splits)
        try check(run(interpreter, "data split seed=8"))
        #expect(interpreter.dataset.splits != splits)
        // Without options: 80/10/10 with the session's seed.
        try check(run(interpreter, "seed 7\ndata split"))
        #expect(interpreter.dataset.splits == splits)
    }

    @Test func partsNotGivenShareTheRestAndMustAddUp() throws {
        let interpreter = makeInterpreter()
        try check(run(interpreter, loadRestaurant))
        try check(run(interpreter, "data split train=70% test=30% stratify=false"))
        #expect(interpreter.dataset.splits["valid"] == [])
        #expect(interpreter.dataset.splits["train"]?.count == Int((224 * 0.7).rounded()))
        #expect(run(interpreter, "data show split=valid").failure?.diagnostic.message == "the 'valid' split is empty")
        #expect(run(interpreter, "data split train=90% test=20%").failure?.rendered == """
            cell[1]:1:27: error: the parts add up to 110%, not 100%
            data split train=90% test=20%
                                      ^~~
            note: train 90% + valid 0% + test 20% = 110%
            note: example: data split train=80% valid=10% test=10%
            """)
    }

    @Test func sampleKeepsSeededRowsInFileOrderAndForgetsSplits() throws {
        let raw = try rawTSV("sst2/dev.tsv")
        let interpreter = makeInterpreter()
        try check(run(interpreter, "data load \"sst2/dev.tsv\" text=content\ndata split"))
        let result = run(interpreter, "data sample n=50 seed=1")
        try check(result)
        let rows = try #require(interpreter.dataset.rows)
        #expect(rows.count == 50)
        #expect(interpreter.dataset.splits.isEmpty)
        let positions = rows.texts.map { text in raw.rows.firstIndex { $0[1] == text }! }
        #expect(positions == positions.sorted(), "kept in file order")
        #expect(zip(positions, rows.labels).allSatisfy { raw.rows[$0][0] == rows.labelNames[$1] })
        #expect(result.json?["of"]?.number == 872)
        #expect(result.json?["labels"] == .object([("0", JSONValue(rows.labels.filter { $0 == 0 }.count)),
                                                   ("1", JSONValue(rows.labels.filter { $0 == 1 }.count))]))
        let again = makeInterpreter()
        try check(run(again, "data load \"sst2/dev.tsv\" text=content\ndata sample n=50 seed=1"))
        #expect(again.dataset.rows == rows)
        try check(run(again, "data sample n=1k"))
        #expect(again.dataset.rows?.count == 50, "a sample larger than the rows keeps them all")
    }

    @Test func foldsPartitionTheRowsAndKeepTheBalance() throws {
        let interpreter = makeInterpreter()
        try check(run(interpreter, loadRestaurant))
        let result = run(interpreter, "data folds k=4 seed=3")
        try check(result)
        let folds = interpreter.dataset.folds
        #expect(folds.count == 4)
        let held = folds.flatMap(\.validation)
        #expect(held.sorted() == Array(0..<224), "every row is held out exactly once")
        #expect(folds.allSatisfy { Set($0.train).isDisjoint(with: $0.validation) && $0.train.count + $0.validation.count == 224 })
        let labels = try #require(interpreter.dataset.rows).labels
        for (label, n) in [(0, 46), (1, 35), (2, 143)] {
            for fold in folds {
                let count = fold.validation.filter { labels[$0] == label }.count
                #expect(count == n / 4 || count == n / 4 + 1, "label \(label)")
            }
        }
        #expect(result.json?["folds"]?.array?.map { $0["validation"]?.number } == folds.map { Double($0.validation.count) })
        #expect(run(interpreter, "sessions").plain.contains("4 folds"))
        try check(run(interpreter, "data sample n=20 seed=1"))
        #expect(interpreter.dataset.folds.isEmpty)
        let tooMany = run(interpreter, "data folds k=20")
        #expect(tooMany.failure?.diagnostic.message.contains("fewer than k = 20 folds") == true)
        #expect(tooMany.failure?.rendered.contains("data folds k=20\n             ^~") == true)
    }

    @Test func statsWithoutAModelCountWordsWithNumPyPercentiles() throws {
        let raw = try rawTSV(restaurant)
        let interpreter = makeInterpreter()
        try check(run(interpreter, loadRestaurant + "\ndata split"))
        let result = run(interpreter, "data stats")
        try check(result)
        let json = try #require(result.json)
        let lengths = raw.rows.map { Double($0[1].split(whereSeparator: \.isWhitespace).count) }.sorted()
        func percentile(_ p: Double) -> Double {
            let rank = p / 100 * Double(lengths.count - 1), below = Int(rank)
            return lengths[below] + (lengths[min(below + 1, lengths.count - 1)] - lengths[below]) * (rank - Double(below))
        }
        #expect(json["lengths"]?["unit"] == "words")
        for p in [50.0, 90, 95, 99] {
            #expect(abs((json["lengths"]?["p\(Int(p))"]?.number ?? -1) - percentile(p)) < 1e-9, "p\(p)")
        }
        #expect(json["lengths"]?["p90"]?.number.map { abs($0 - 19.7) < 1e-9 } == true, "NumPy: np.percentile(lengths, 90) = 19.7")
        #expect(json["lengths"]?["max"]?.number == lengths.last)
        #expect(json["labels"] == .object([("negative", 46), ("neutral", 35), ("positive", 143)]))
        #expect(json["splits"]?["train"]?.number == Double(interpreter.dataset.splits["train"]!.count))
        #expect(result.plain.contains("whitespace words (no model loaded)"))
        let html = try #require(result.value?.html)
        #expect(html.components(separatedBy: "<img src=\"data:image/svg+xml;base64,").count == 3, "a bar chart and a histogram")
        #expect(result.plain.contains("Label balance") && result.plain.contains("Text length (words)"))
    }

    @Test func statsWithAModelCountTokens() throws {
        let interpreter = try sst2Session()
        let result = run(interpreter, "data stats")
        try check(result)
        let json = try #require(result.json)
        #expect(json["lengths"]?["unit"] == "tokens")
        // The longest row in tokens, as `tokenize` counts them (special tokens included).
        let texts = try #require(interpreter.dataset.rows).texts
        let tokenized = try #require(run(interpreter, "tokenize " + texts.map { Value.string($0).sourceText }.joined(separator: " ")).json?.array)
        let counts = tokenized.map { Double($0["ids"]?.array?.count ?? 0) }
        #expect(json["lengths"]?["max"]?.number == counts.max())
        #expect(abs((json["lengths"]?["mean"]?.number ?? 0) - counts.reduce(0, +) / Double(counts.count)) < 1e-9)
        #expect(result.plain.hasPrefix("48 rows · splits: train 24, valid 24, test 0\n"))
        #expect(result.plain.contains("length in tokens of all-MiniLM-L6-v2\np50"))
    }

    @Test func everyDataExampleRuns() throws {
        let interpreter = makeInterpreter()
        for name in ["data load", "data show", "data stats", "data split", "data sample", "data folds"] {
            let example = try #require(CommandTable.byName[name]).example
            try check(run(interpreter, example))
        }
        #expect(interpreter.dataset.rows?.count == 100)
        #expect(interpreter.dataset.folds.count == 5)
    }

    @Test func commandsNeedLoadedData() throws {
        let interpreter = makeInterpreter()
        for command in ["data show", "data stats", "data split", "data sample n=5", "data folds"] {
            let failure = run(interpreter, command).failure
            #expect(failure?.diagnostic.message == "no data loaded", "\(command)")
            #expect(failure?.diagnostic.notes == ["load a table first: data load \"file.csv\" text=COLUMN label=COLUMN"])
        }
    }
}
