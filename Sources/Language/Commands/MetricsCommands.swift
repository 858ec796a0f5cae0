import Foundation
import FinchData
import FinchExperiment
import FinchMetrics
import FinchPlot

/// The metrics session's commands: eval, report, confusion, errors (here), plot (MetricsCommands+Plot.swift),
/// runs, predict and agreement (MetricsCommands+More.swift).
enum MetricsCommands {
    static let all: [CommandSpec] = [eval, report, confusion, errors, plot, runs, predict, agreement]

    // MARK: eval

    static let eval = CommandSpec(
        "eval", group: .metrics, summary: "Evaluate the classifier on a split: accuracy, F1 macro/weighted/per class, loss",
        options: [ArgumentSpec("split", .choice(["test", "valid", "train", "all"]), default: "test (valid when test is empty)",
                               help: "Which rows to evaluate: a split, or all of them"),
                  ArgumentSpec("generate", .bool, default: "false", help: "Causal LM: also generate answers (greedy) and score them against the responses"),
                  ArgumentSpec("n", .integer(min: 1), default: "20", help: "Causal LM with generate: how many prompts to answer"),
                  ArgumentSpec("max_tokens", .integer(min: 1, max: 32_768), default: "256", help: "Causal LM with generate: new tokens per answer at most"),
                  ArgumentSpec("chat", .bool, default: "true", help: "Causal LM: prompts in the model's chat format")],
        details: """
        Predicts every row of the split with the current model and adapter, then reports accuracy, macro and \
        support-weighted F1, per-class precision, recall, F1 and support (scikit-learn's definitions) and the \
        mean cross-entropy loss of the true labels (probabilities clamped at 1e-12). Texts are cut to the last \
        run's max_length (128 before any run). report, confusion and errors read the last eval. With a causal LM: \
        the mean token loss of the split's whole responses (the prompt masked, as training; examples not cut to a run's max_length) and its perplexity; with \
        generate=true, greedy answers to the first n prompts scored against the responses: exact match and token \
        F1 (SQuAD's normalisation), BLEU (sacrebleu 13a), ROUGE-1/2/L, and final-answer accuracy when the \
        references end in "#### N" (GSM8K).
        """,
        example: "eval\neval split=all") { call in
        if call.trainer.causal != nil, call.trainer.task == .causalLM { return try CausalCommands.evaluate(call) }
        for option in ["generate", "n", "max_tokens", "chat"] where call.has(option) {
            throw call.error("\(option)= is for causal LMs; the loaded model is a classifier", at: option)
        }
        let evaluation = try evaluate(call, split: call.string("split"))
        return evaluationOutput(evaluation)
    }

    /// The split `eval` uses when none is given: test if it has rows, else valid.
    static func defaultSplit(_ call: Invocation) throws -> String {
        let session = call.dataset
        _ = try session.loaded()
        for name in ["test", "valid"] where !(session.splits[name] ?? []).isEmpty { return name }
        throw SessionError("there is no test or valid split to evaluate on",
                           hint: "split the data first: data split train=80% valid=10% test=10% (or evaluate every row: eval split=all)")
    }

    /// Runs the classifier over a split, records the evaluation in the metrics session and returns it.
    static func evaluate(_ call: Invocation, split requested: String?) throws -> Evaluation {
        let split = try requested ?? defaultSplit(call)
        let data = try call.dataset.rows(of: split)
        if call.trainer.causal != nil {
            guard call.trainer.labelNames == data.labelNames else {
                throw SessionError("the model's head is for labels [\(call.trainer.labelNames.joined(separator: ", "))] but the data has [\(data.labelNames.joined(separator: ", "))]",
                                   hint: "load the model again after the data: model load \"\(call.trainer.modelName)\" task=classify")
            }
            let predictions = try CausalCommands.predictions(call, texts: data.texts)
            let evaluation = Evaluation(split: split, data: data, predictions: predictions,
                                        metrics: ClassificationMetrics(labels: data.labels, predictions: predictions.labels, labelNames: data.labelNames),
                                        loss: crossEntropy(data.labels, predictions.probabilities))
            call.metrics.lastEvaluation = evaluation
            return evaluation
        }
        let model = try call.trainer.classifier()
        let classes = model.encoder.head?.labelCount ?? 0
        if classes == data.labelNames.count, !call.trainer.labelNames.isEmpty, call.trainer.labelNames != data.labelNames {
            throw SessionError("the model's head is for labels [\(call.trainer.labelNames.joined(separator: ", "))] but the data has [\(data.labelNames.joined(separator: ", "))]",
                               hint: "load the data with labels=[\(call.trainer.labelNames.joined(separator: ", "))], or load the model again after the data")
        }
        guard classes == data.labelNames.count else {
            throw SessionError("the model's head has \(classes) classes but the data has \(data.labelNames.count) labels (\(data.labelNames.joined(separator: ", ")))",
                               hint: "load the model with labels=\(data.labelNames.count), or load data with \(classes) labels")
        }
        let maxLength = call.trainer.run?.trainer.options.maxLength ?? 128
        let predictions = try FinchExperiment.predict(data.texts, encoder: model.encoder, tokenizer: model.tokenizer, maxLength: maxLength)
        if call.isCancelled { throw Interrupted("eval interrupted") }
        let metrics = ClassificationMetrics(labels: data.labels, predictions: predictions.labels, labelNames: data.labelNames)
        let evaluation = Evaluation(split: split, data: data, predictions: predictions, metrics: metrics,
                                    loss: crossEntropy(data.labels, predictions.probabilities))
        call.metrics.lastEvaluation = evaluation
        return evaluation
    }

    /// Mean −log p(true label), each probability clamped at 1e-12.
    static func crossEntropy(_ labels: [Int], _ probabilities: [[Float]]) -> Double {
        guard !labels.isEmpty else { return 0 }
        return zip(labels, probabilities).map { -log(max(Double($1[$0]), 1e-12)) }.reduce(0, +) / Double(labels.count)
    }

    /// The last eval, or a fresh one on the default split when there is none.
    static func lastEvaluation(_ call: Invocation) throws -> Evaluation {
        if let evaluation = call.metrics.lastEvaluation { return evaluation }
        return try evaluate(call, split: nil)
    }

    static func evaluationOutput(_ e: Evaluation) -> Output {
        let m = e.metrics
        let summary = "eval on \(e.split) (\(Render.grouped(e.data.count)) rows): accuracy \(Render.fixed(m.accuracy))  "
            + "f1_macro \(Render.fixed(m.f1Macro))  f1_weighted \(Render.fixed(m.f1Weighted))  loss \(Render.fixed(e.loss))"
        let columns = ["label", "precision", "recall", "f1", "support"]
        let (p, r, f, s) = (m.precision, m.recall, m.f1, m.support)
        let rows = m.labelNames.indices.map { c in
            [m.labelNames[c], Render.fixed(p[c]), Render.fixed(r[c]), Render.fixed(f[c]), "\(s[c])"]
        }
        let perClass: JSONValue = .object(m.labelNames.indices.map { c in
            (m.labelNames[c], .object([("precision", JSONValue(p[c])), ("recall", JSONValue(r[c])),
                                       ("f1", JSONValue(f[c])), ("support", JSONValue(s[c]))]))
        })
        let json: JSONValue = .object([
            ("accuracy", JSONValue(m.accuracy)), ("f1_macro", JSONValue(m.f1Macro)), ("f1_weighted", JSONValue(m.f1Weighted)),
            ("per_class", perClass), ("loss", JSONValue(e.loss)), ("split", .string(e.split)), ("rows", JSONValue(e.data.count)),
        ])
        return Output(plain: summary + "\n" + TextTable.render(columns: columns, rows: rows),
                      html: "<p>\(HTML.escape(summary))</p>" + HTML.table(columns: columns, rows: rows), json: json,
                      table: OutputTable(columns: columns, rows: rows, title: summary))
    }

    // MARK: report

    static let report = CommandSpec(
        "report", group: .metrics, summary: "The classification report of the last eval (as scikit-learn prints it)",
        options: [ArgumentSpec("digits", .integer(min: 0, max: 10), default: "2", help: "Decimals of the scores")],
        details: "Character for character sklearn.metrics.classification_report. Runs eval on the default split first when there is no eval yet.",
        example: "report digits=4") { call in
        let e = try lastEvaluation(call)
        let m = e.metrics, digits = call.int("digits", default: 2)
        let text = m.report(digits: digits)
        let number = { (x: Double) in x.isNaN ? "nan" : String(format: "%.\(digits)f", x) }
        let total = "\(m.count)"
        var rows = m.labelNames.indices.map { c in
            [m.labelNames[c], number(m.precision[c]), number(m.recall[c]), number(m.f1[c]), "\(m.support[c])"]
        }
        rows.append(["accuracy", "", "", number(m.accuracy), total])
        rows.append(["macro avg", number(m.precision(.macro)), number(m.recall(.macro)), number(m.f1(.macro)), total])
        rows.append(["weighted avg", number(m.precision(.weighted)), number(m.recall(.weighted)), number(m.f1(.weighted)), total])
        let caption = "classification report: \(e.split) (\(Render.grouped(e.data.count)) rows)"
        func averages(_ average: ClassificationMetrics.Average) -> JSONValue {
            .object([("precision", JSONValue(m.precision(average))), ("recall", JSONValue(m.recall(average))),
                     ("f1", JSONValue(m.f1(average))), ("support", JSONValue(m.count))])
        }
        let json: JSONValue = .object([
            ("split", .string(e.split)), ("rows", JSONValue(e.data.count)),
            ("per_class", .object(m.labelNames.indices.map { c in
                (m.labelNames[c], .object([("precision", JSONValue(m.precision[c])), ("recall", JSONValue(m.recall[c])),
                                           ("f1", JSONValue(m.f1[c])), ("support", JSONValue(m.support[c]))]))
            })),
            ("accuracy", JSONValue(m.accuracy)), ("macro_avg", averages(.macro)), ("weighted_avg", averages(.weighted)),
            ("report", .string(text)),
        ])
        return Output(plain: text, html: HTML.table(columns: ["", "precision", "recall", "f1-score", "support"], rows: rows, caption: caption),
                      json: json)
    }

    // MARK: confusion

    static let confusion = CommandSpec(
        "confusion", group: .metrics, summary: "The confusion matrix of the last eval, as a heatmap and a table",
        options: [ArgumentSpec("normalize", .bool, default: "false",
                               help: "Show each row as shares of its true label (recall on the diagonal) instead of counts")],
        details: "Rows are the true labels, columns the predictions; colours are shares of the row. Runs eval first when there is none.",
        example: "confusion\nconfusion normalize=true") { call in
        let e = try lastEvaluation(call)
        let names = e.metrics.labelNames, counts = e.metrics.confusion
        let normalize = call.bool("normalize", default: false)
        let shares = counts.map { row -> [Double] in
            let total = row.reduce(0, +)
            return row.map { total == 0 ? 0 : Double($0) / Double(total) }
        }
        let title = "Confusion matrix: \(e.split) (\(Render.grouped(e.data.count)) rows)"
        let heatmap = normalize
            ? Heatmap(title: title + ", share of true label", rowLabel: "true", columnLabel: "predicted", rowNames: names,
                      columnNames: names, values: shares.map { $0.map { ($0 * 1000).rounded() / 1000 } }, normalization: .rows)
            : Heatmap.confusion(labels: names, counts: counts, title: title)
        let columns = ["true \\ predicted"] + names
        let table = names.indices.map { r in
            [names[r]] + names.indices.map { c in normalize ? Render.fixed(shares[r][c], 3) : "\(counts[r][c])" }
        }
        let size = Render.textSize
        var json: [(String, JSONValue)] = [("split", .string(e.split)), ("labels", JSONValue(names)),
                                           ("counts", .array(counts.map { .array($0.map { JSONValue($0) }) }))]
        if normalize { json.append(("normalized", .array(shares.map { JSONValue($0) }))) }
        let tableText = TextTable.render(columns: columns, rows: table)
        let svg = heatmap.svg()
        return Output(plain: heatmap.text(width: size.width, height: size.height) + "\n\n" + tableText,
                      html: HTML.image(svg: svg) + HTML.table(columns: columns, rows: table), svg: svg, json: .object(json), caption: tableText)
    }

    // MARK: errors

    static let errors = CommandSpec(
        "errors", group: .metrics, summary: "The worst predictions of the last eval (highest loss first)",
        options: [ArgumentSpec("n", .integer(min: 1, max: 10_000), default: "10", help: "How many rows")],
        details: """
        The rows whose true label got the lowest probability: the model's most confident mistakes first. Rows \
        are numbered as data show numbers them (from 0 in the loaded table); when the data changed since the \
        eval, from 0 within the evaluated rows. Runs eval first when there is none.
        """,
        example: "errors n=5") { call in
        let e = try lastEvaluation(call)
        let worst = worstPredictions(e.data, e.predictions, count: call.int("n", default: 10))
        let tableNumbers = tableRows(of: e, in: call.dataset)
        let numbers = tableNumbers ?? Array(0..<e.data.count)
        let columns = ["row", "text", "label", "predicted", "p(label)", "loss"]
        let full = worst.map { ["\(numbers[$0.row])", $0.text, $0.label, $0.predicted, Render.fixed(Double($0.probabilityOfLabel)), Render.fixed($0.loss)] }
        let shown = full.map { [$0[0], DataCommands.shorten($0[1], 60)] + $0[2...] }
        let wrong = e.data.labels.indices.filter { e.data.labels[$0] != e.predictions.labels[$0] }.count
        let title = "\(worst.count) worst of \(Render.grouped(e.data.count)) rows of \(e.split) (\(Render.grouped(wrong)) predicted wrongly)"
            + (tableNumbers == nil ? "; the data changed since the eval, so rows count from 0 within the evaluated rows" : "")
        let json: JSONValue = .object([
            ("split", .string(e.split)), ("wrong", JSONValue(wrong)),
            ("errors", .array(worst.map {
                .object([("row", JSONValue(numbers[$0.row])), ("text", .string($0.text)), ("label", .string($0.label)),
                         ("predicted", .string($0.predicted)), ("p_label", JSONValue($0.probabilityOfLabel)), ("loss", JSONValue($0.loss))])
            })),
        ])
        return Output(plain: title + "\n" + TextTable.render(columns: columns, rows: shown),
                      html: HTML.table(columns: columns, rows: full, caption: title), json: json,
                      table: OutputTable(columns: columns, rows: shown, title: title))
    }

    /// The loaded table's row number of each evaluated row, while the session still holds the evaluated
    /// split (same rows, same texts); nil once the data changed.
    static func tableRows(of e: Evaluation, in session: DatasetSession) -> [Int]? {
        guard let rows = session.rows else { return nil }
        let indices = e.split == "all" ? Array(0..<rows.count) : session.splits[e.split] ?? []
        guard indices.count == e.data.count, zip(indices, e.data.texts).allSatisfy({ rows.texts[$0] == $1 }) else { return nil }
        return indices
    }
}
