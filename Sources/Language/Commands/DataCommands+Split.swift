import Foundation
import FinchData
import FinchExperiment
import FinchTensor

/// data split and data folds.
extension DataCommands {
    static let splitNames = ["train", "valid", "test"]

    static let split = CommandSpec(
        "data split", group: .dataset, summary: "Split the rows into train, valid and test parts (stratified by label)",
        options: [
            ArgumentSpec("train", .number(min: 0, max: 1), default: "80%", help: "The share of rows to train on"),
            ArgumentSpec("valid", .number(min: 0, max: 1), default: "10%", help: "The share for validation during training"),
            ArgumentSpec("test", .number(min: 0, max: 1), default: "10%", help: "The share held out for eval"),
            ArgumentSpec("seed", .integer(min: 0), default: "the session's seed", help: "The seed of the shuffle (seed N sets the session's)"),
            ArgumentSpec("stratify", .bool, default: "true", help: "Keep each label's share the same in every part"),
        ],
        details: """
        The parts must add up to 100%. With none given the split is 80/10/10; parts not given share what the \
        given ones leave (train=70% test=30% leaves valid empty; train=80% gives valid and test 10% each); any \
        part may be 0%. Stratified, each label's rows are shuffled (one generator, labels in order) and cut \
        in the order train, valid, test at round(n·train) and round(n·(train+valid)) of that label's n rows, \
        rounding halves up: every label's parts add up to its rows, each within one row of its exact share \
        (train within half a row), so a part's size may differ from its exact share by up to a row per label. Without \
        stratify the whole table is shuffled and cut the same way. Each part keeps the rows' file order.
        """,
        example: "data split train=80% valid=10% test=10% seed=7\ndata split train=70% test=30% stratify=false") { call in
        let session = call.dataset
        let rows = try session.loaded()
        let fractions = try splitFractions(call)
        let stratify = call.bool("stratify", default: true)
        let seed = seed(call)
        let parts = splitRows(rows, fractions: fractions, stratify: stratify, seed: seed)
        session.splits = Dictionary(uniqueKeysWithValues: zip(splitNames, parts))

        let columns = ["split", "rows", "share"] + rows.labelNames
        let table = zip(splitNames, parts).map { name, indices in
            let counts = labelCounts(rows.subset(indices))
            return [name, Render.grouped(indices.count), percent(indices.count, of: rows.count)]
                + counts.map { count in "\(Render.grouped(count)) (\(percent(count, of: indices.count)))" }
        }
        let title = "split \(Render.grouped(rows.count)) rows" + (stratify ? ", stratified by label" : "") + " (seed \(seed))"
        let json: JSONValue = .object(zip(splitNames, parts).map { name, indices in
            (name, .object([("rows", JSONValue(indices.count)), ("labels", labelCountsJSON(rows.subset(indices)))]))
        } + [("seed", JSONValue(Int(seed))), ("stratify", .bool(stratify))])
        return Output(plain: title + "\n" + TextTable.render(columns: columns, rows: table),
                      html: HTML.table(columns: columns, rows: table, caption: title), json: json,
                      table: OutputTable(columns: columns, rows: table, title: title))
    }

    /// train, valid and test as fractions: the given ones, the rest sharing what is left (80/10/10 when
    /// none is given). They must add up to 1 within 0.001.
    static func splitFractions(_ call: Invocation) throws(Diagnostic) -> [Double] {
        let given = splitNames.map { call.double($0) }
        var fractions: [Double]
        if given.allSatisfy({ $0 == nil }) {
            fractions = [0.8, 0.1, 0.1]
        } else {
            let missing = given.filter { $0 == nil }.count
            let left = 1 - given.compactMap { $0 }.reduce(0, +)
            fractions = given.map { $0 ?? (missing > 0 ? max(0, left) / Double(missing) : 0) }
        }
        let total = fractions.reduce(0, +)
        guard abs(total - 1) <= 0.001 else {
            let terms = zip(splitNames, fractions).map { "\($0) \(Render.percentText($1))" }.joined(separator: " + ")
            let last = splitNames.last { call.has($0) }
            throw call.error("the parts add up to \(Render.percentText(total)), not 100%", at: last,
                             notes: ["\(terms) = \(Render.percentText(total))", "example: data split train=80% valid=10% test=10%"])
        }
        return fractions
    }

    /// The row indices of each part (train, valid, test), each ascending. See `split`'s details for the
    /// rounding.
    static func splitRows(_ rows: LabeledTexts, fractions: [Double], stratify: Bool, seed: UInt64) -> [[Int]] {
        var random = SeededRandom(seed: seed)
        let groups: [[Int]]
        if stratify {
            var byLabel = [[Int]](repeating: [], count: rows.labelNames.count)
            for (row, label) in rows.labels.enumerated() { byLabel[label].append(row) }
            groups = byLabel
        } else {
            groups = [Array(0..<rows.count)]
        }
        var parts = [[Int]](repeating: [], count: fractions.count)
        for group in groups where !group.isEmpty {
            let order = shuffled(group, &random)
            var cuts = [0]
            var cumulative = 0.0
            for (k, fraction) in fractions.enumerated() {
                cumulative += fraction
                let cut = k == fractions.count - 1 ? order.count : Int((Double(order.count) * cumulative).rounded(.toNearestOrAwayFromZero))
                cuts.append(min(order.count, max(cuts.last!, cut)))
            }
            for k in fractions.indices { parts[k] += order[cuts[k]..<cuts[k + 1]] }
        }
        return parts.map { $0.sorted() }
    }

    // MARK: data folds

    static let folds = CommandSpec(
        "data folds", group: .dataset, summary: "Deal the rows into k stratified folds for cross-validation",
        options: [
            ArgumentSpec("k", .integer(min: 2, max: 100), default: "5", help: "How many folds"),
            ArgumentSpec("seed", .integer(min: 0), default: "the session's seed", help: "The seed of the shuffle (seed N sets the session's)"),
        ],
        details: """
        Like scikit-learn's StratifiedKFold(shuffle=True): each label's rows, shuffled, are dealt round-robin over \
        the folds, so fold sizes differ by at most one and every fold keeps the label balance. The folds cover \
        every loaded row (not only the train split); each label needs at least k rows.
        """,
        example: "data folds k=5 seed=42") { call in
        let session = call.dataset
        let rows = try session.loaded()
        let k = call.int("k", default: 5)
        let seed = seed(call)
        let folds: [Fold]
        do {
            folds = try CrossValidation(folds: k, splitting: .stratified, seed: seed).splits(rows)
        } catch {
            throw call.error("\(error)", at: call.has("k") ? "k" : nil)
        }
        session.folds = folds
        let columns = ["fold", "train", "validation"] + rows.labelNames
        let table = folds.enumerated().map { index, fold in
            ["\(index + 1)", Render.grouped(fold.train.count), Render.grouped(fold.validation.count)]
                + labelCounts(rows.subset(fold.validation)).map { Render.grouped($0) }
        }
        let title = "\(k) stratified folds of \(Render.grouped(rows.count)) rows (seed \(seed)); label columns count validation rows"
        let json: JSONValue = .object([
            ("k", JSONValue(k)), ("seed", JSONValue(Int(seed))),
            ("folds", .array(folds.enumerated().map { index, fold in
                .object([("fold", JSONValue(index + 1)), ("train", JSONValue(fold.train.count)),
                         ("validation", JSONValue(fold.validation.count)), ("labels", labelCountsJSON(rows.subset(fold.validation)))])
            })),
        ])
        return Output(plain: title + "\n" + TextTable.render(columns: columns, rows: table),
                      html: HTML.table(columns: columns, rows: table, caption: title), json: json,
                      table: OutputTable(columns: columns, rows: table, title: title))
    }
}

extension Render {
    /// A fraction as a percentage with up to three decimals: 0.8 → "80%", 0.125 → "12.5%".
    static func percentText(_ fraction: Double) -> String {
        var text = String(format: "%.3f", fraction * 100)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + "%"
    }
}
