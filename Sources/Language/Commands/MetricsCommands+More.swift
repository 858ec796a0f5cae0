import Foundation
import FinchData
import FinchExperiment
import FinchMetrics
import FinchPlot

/// runs, predict and agreement.
extension MetricsCommands {
    // MARK: runs

    static let runs = CommandSpec(
        "runs", group: .metrics, summary: "Every recorded run side by side: the options that differ and the metrics",
        details: "Options that are the same in every run are left out, so the columns show what changed between runs.",
        example: "runs") { call in
        let log = call.metrics.runs
        let json: JSONValue = .object([("runs", .array(log.runs.map { run in
            .object([("run", JSONValue(run.id)), ("kind", .string(run.kind)), ("model", .string(run.model)),
                     ("started", .string(run.started)), ("seconds", JSONValue(run.seconds)), ("data", .string(run.data)),
                     ("seed", JSONValue(Int(run.seed))),
                     ("configuration", .object(run.configuration.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                     ("metrics", .object(run.metrics.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) }))])
        }))])
        guard !log.runs.isEmpty else {
            return Output(plain: "no runs yet: train, sweep and cv record one each", json: json)
        }
        let (columns, rows) = log.table()
        return Output(plain: log.text(), html: HTML.table(columns: columns, rows: rows, caption: "\(log.runs.count) runs"), json: json,
                      table: OutputTable(columns: columns, rows: rows))
    }

    // MARK: predict

    static let predict = CommandSpec(
        "predict", group: .metrics, summary: "The predicted label and every class probability of texts",
        positionals: [ArgumentSpec("text", .string, optional: false, repeats: true, help: "Texts to classify")],
        details: "Uses the current model and adapter; texts are cut to the last run's max_length (128 before any run).",
        example: "predict \"a gripping, beautifully acted film\" \"দারুণ খেলা হয়েছে\"") { call in
        let texts = call.strings("text")
        let names: [String], predictions: ClassifierPredictions
        if call.trainer.causal != nil {
            predictions = try CausalCommands.predictions(call, texts: texts)
            names = classNames(call, count: call.trainer.labelNames.count)
        } else {
            let model = try call.trainer.classifier()
            names = classNames(call, count: model.encoder.head?.labelCount ?? 0)
            let maxLength = call.trainer.run?.trainer.options.maxLength ?? 128
            predictions = try FinchExperiment.predict(texts, encoder: model.encoder, tokenizer: model.tokenizer, maxLength: maxLength)
        }
        let columns = ["text", "label"] + names.map { "p(\($0))" }
        let rows = texts.indices.map { i in
            [texts[i], names[predictions.labels[i]]] + predictions.probabilities[i].map { Render.fixed(Double($0)) }
        }
        let json: JSONValue = .array(texts.indices.map { i in
            .object([("text", .string(texts[i])), ("label", .string(names[predictions.labels[i]])),
                     ("probabilities", .object(zip(names, predictions.probabilities[i]).map { ($0, JSONValue($1)) }))])
        })
        return Output(plain: TextTable.render(columns: columns, rows: rows), html: HTML.table(columns: columns, rows: rows), json: json,
                      table: OutputTable(columns: columns, rows: rows))
    }

    /// The names of the head's classes: the model's label names, else the data's, else LABEL_0, LABEL_1, …
    static func classNames(_ call: Invocation, count: Int) -> [String] {
        if call.trainer.labelNames.count == count { return call.trainer.labelNames }
        if call.dataset.labelNames.count == count { return call.dataset.labelNames }
        return (0..<count).map { "LABEL_\($0)" }
    }

    // MARK: agreement

    static let agreement = CommandSpec(
        "agreement", group: .metrics, summary: "Cohen's kappa between two annotators' labels of the same rows",
        positionals: [ArgumentSpec("a", .path, optional: false, help: "The first annotator's table"),
                      ArgumentSpec("b", .path, optional: false, help: "The second annotator's table (rows in the same order)")],
        options: [
            ArgumentSpec("column", .name, default: "label", help: "The label column, in both tables"),
            ArgumentSpec("weights", .choice(["none", "linear", "quadratic"]), default: "none",
                         help: "Disagreement weights: none counts every disagreement alike; linear and quadratic by how far apart the labels are (for ordered labels)"),
            ArgumentSpec("labels", .list(.name), help: "The labels in order (default: the values of both columns, sorted; numerically when all are whole numbers)"),
        ],
        details: """
        Rows are matched by position. Kappa is sklearn.metrics.cohen_kappa_score: 1 is perfect agreement, 0 what \
        chance would give; the reading follows Landis and Koch (1977). Also prints the share of rows with the same \
        label and the confusion between the two (a's labels down, b's across).
        """,
        example: "agreement \"bengali-absa/cricket_dev.tsv\" \"bengali-absa/cricket_dev.tsv\" column=class_label") { call in
        let urls = [try DataCommands.dataFile(call, argument: "a"), try DataCommands.dataFile(call, argument: "b")]
        let column = call.string("column", default: "label")
        var values: [[String]] = []
        for (argument, url) in zip(["a", "b"], urls) {
            let table: Table
            do { table = try Table.read(url) } catch let error as DataError { throw call.error(error.problem, at: argument) }
            guard let index = table.columns.firstIndex(of: column) else {
                var notes: [String] = []
                if let guess = Suggestions.closest(to: column, among: table.columns) { notes.append("did you mean '\(guess)'?") }
                notes.append("the columns of \(call.string(argument)!) are " + table.columns.map { "'\($0)'" }.joined(separator: ", "))
                throw call.error("no column '\(column)' in \(call.string(argument)!)", at: call.has("column") ? "column" : argument, notes: notes)
            }
            values.append(table.rows.map { $0[index] })
        }
        guard values[0].count == values[1].count else {
            throw call.error("\(call.string("a")!) has \(values[0].count) rows but \(call.string("b")!) has \(values[1].count)",
                             at: "b", notes: ["rows are matched by position, so both annotators must label the same rows"])
        }
        let names: [String]
        if call.has("labels") {
            names = call.strings("labels")
            if let repeated = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
                throw call.error("label '\(repeated)' is listed twice", at: "labels")
            }
            for (argument, column) in zip(["a", "b"], values) {
                if let stray = column.first(where: { !names.contains($0) }) {
                    throw call.error("\(call.string(argument)!) has the label '\(stray)', which is not one of \(names.joined(separator: ", "))", at: "labels")
                }
            }
        } else {
            let distinct = Set(values[0] + values[1])
            names = distinct.allSatisfy { Int($0) != nil } ? distinct.sorted { Int($0)! < Int($1)! } : distinct.sorted()
        }
        let ids = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        let metrics = ClassificationMetrics(labels: values[0].map { ids[$0]! }, predictions: values[1].map { ids[$0]! }, labelNames: names)
        let weightName = call.string("weights", default: "none")
        let weights: ClassificationMetrics.KappaWeights = switch weightName {
        case "linear": .linear
        case "quadratic": .quadratic
        default: .unweighted
        }
        let kappa = metrics.cohenKappa(weights)
        let same = metrics.truePositives.reduce(0, +)
        let summary = "Cohen's kappa \(kappa.isNaN ? "undefined" : Render.fixed(kappa)) (\(weightName == "none" ? "unweighted" : weightName + " weights"), "
            + "\(kappaReading(kappa))); the annotators agree on \(Render.grouped(same)) of \(Render.grouped(metrics.count)) rows "
            + "(\(DataCommands.percent(same, of: metrics.count)))"
        let columns = ["a \\ b"] + names
        let table = names.indices.map { r in [names[r]] + metrics.confusion[r].map { "\($0)" } }
        let heatmap = Heatmap(title: "a (rows) against b (columns)", rowLabel: "a", columnLabel: "b", rowNames: names,
                              columnNames: names, counts: metrics.confusion)
        let json: JSONValue = .object([
            ("kappa", kappa.isNaN ? .null : JSONValue(kappa)), ("weights", .string(weightName)),
            ("agreement", JSONValue(metrics.accuracy)), ("rows", JSONValue(metrics.count)), ("labels", JSONValue(names)),
            ("confusion", .array(metrics.confusion.map { .array($0.map { JSONValue($0) }) })),
        ])
        return Output(plain: summary + "\n" + TextTable.render(columns: columns, rows: table),
                      html: "<p>\(HTML.escape(summary))</p>" + HTML.table(columns: columns, rows: table) + HTML.image(svg: heatmap.svg()), json: json,
                      table: OutputTable(columns: columns, rows: table, title: summary))
    }

    /// Landis and Koch's words for a kappa.
    static func kappaReading(_ kappa: Double) -> String {
        switch kappa {
        case _ where kappa.isNaN: "no variation to compare"
        case ..<0: "worse than chance"
        case ..<0.2: "slight agreement"
        case ..<0.4: "fair agreement"
        case ..<0.6: "moderate agreement"
        case ..<0.8: "substantial agreement"
        default: "almost perfect agreement"
        }
    }
}
