import Foundation
import FinchLanguage
import Testing
import TestSupport

/// The texts and true label names of a split of the loaded data.
func splitRows(_ interpreter: Interpreter, _ split: String) throws -> (texts: [String], labels: [String]) {
    let rows = try #require(interpreter.dataset.rows)
    let indices = try #require(interpreter.dataset.splits[split])
    return (indices.map { rows.texts[$0] }, indices.map { rows.labelNames[rows.labels[$0]] })
}

/// `predict` over texts, as (label, probabilities by label name) per text.
func predictions(_ interpreter: Interpreter, _ texts: [String]) throws -> [(label: String, probabilities: [String: Double])] {
    let result = run(interpreter, "predict " + texts.map { Value.string($0).sourceText }.joined(separator: " "))
    try check(result)
    return try #require(result.json?.array).map { item in
        guard case .string(let label)? = item["label"], case .object(let pairs)? = item["probabilities"] else { return ("", [:]) }
        return (label, Dictionary(uniqueKeysWithValues: pairs.map { ($0.0, $0.1.number ?? .nan) }))
    }
}

/// Writes a one-column CSV of labels into `folder`.
func writeLabels(_ labels: [String], to folder: URL, name: String, column: String = "label") throws {
    try ([column] + labels).joined(separator: "\n").appending("\n").write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
}

@Suite("Metrics commands", .serialized)
struct MetricsCommandTests {
    @Test func evalAsksForASplitThenForAModel() throws {
        let interpreter = makeInterpreter()
        try check(run(interpreter, "data load \"sst2/dev.tsv\" text=content\ndata sample n=20 seed=1"))
        #expect(run(interpreter, "eval").failure?.rendered == """
            cell[1]:1:1: error: there is no test or valid split to evaluate on
            eval
            ^~~~
            note: split the data first: data split train=80% valid=10% test=10% (or evaluate every row: eval split=all)
            """)
        #expect(run(interpreter, "eval split=all").failure?.diagnostic.message == "no model loaded")
        #expect(run(interpreter, "report").failure?.diagnostic.message == "there is no test or valid split to evaluate on")
    }

    @Test func evalAgreesWithPredictOnTheSameRows() throws {
        let interpreter = try sst2Session()
        let result = run(interpreter, "eval")
        try check(result)
        let json = try #require(result.json)
        #expect(json["split"] == "valid", "the test split is empty, so eval takes valid")
        #expect(json["rows"]?.number == 24)
        // Recompute every number from predict's probabilities on the same texts.
        let (texts, truth) = try splitRows(interpreter, "valid")
        let predicted = try predictions(interpreter, texts)
        let names = ["0", "1"]
        let accuracy = Double(zip(predicted, truth).filter { $0.label == $1 }.count) / Double(truth.count)
        let loss = zip(predicted, truth).map { -log(max($0.probabilities[$1]!, 1e-12)) }.reduce(0, +) / Double(truth.count)
        #expect(abs(json["accuracy"]!.number! - accuracy) < 1e-12)
        #expect(abs(json["loss"]!.number! - loss) < 1e-5)
        var f1s: [Double] = []
        for name in names {
            let tp = Double(zip(predicted, truth).filter { $0.label == name && $1 == name }.count)
            let predictedCount = Double(predicted.filter { $0.label == name }.count)
            let support = Double(truth.filter { $0 == name }.count)
            let precision = predictedCount == 0 ? 0 : tp / predictedCount, recall = tp / support
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            f1s.append(f1)
            let perClass = try #require(json["per_class"]?[name])
            #expect(perClass["support"]?.number == support)
            #expect(abs(perClass["precision"]!.number! - precision) < 1e-12)
            #expect(abs(perClass["recall"]!.number! - recall) < 1e-12)
            #expect(abs(perClass["f1"]!.number! - f1) < 1e-12)
        }
        #expect(abs(json["f1_macro"]!.number! - f1s.reduce(0, +) / 2) < 1e-12)
        #expect(result.plain.hasPrefix("eval on valid (24 rows): accuracy \(String(format: "%.4f", accuracy))"))
        #expect(run(interpreter, "sessions").plain.contains("last eval on valid: accuracy \(String(format: "%.4f", accuracy))"))
    }

    @Test func reportConfusionAndErrorsReadTheLastEval() throws {
        let interpreter = try sst2Session()
        // report runs eval on the default split when there is none yet.
        let report = run(interpreter, "report digits=3")
        try check(report)
        let eval = try #require(run(interpreter, "eval split=valid").json)
        let lines = report.plain.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "              precision    recall  f1-score   support")
        #expect(lines[1] == "")
        #expect(lines[5].hasPrefix("    accuracy                          \(String(format: "%.3f", eval["accuracy"]!.number!))"))
        #expect(lines[5].hasSuffix("        24"))
        #expect(report.json?["macro_avg"]?["f1"] == eval["f1_macro"])
        #expect(report.value?.html?.contains("<th style=\"text-align:right\">f1-score</th>") == true)

        let confusion = run(interpreter, "confusion")
        try check(confusion)
        let counts = try #require(confusion.json?["counts"]?.array).map { try #require($0.array).map { $0.number! } }
        #expect(counts.joined().reduce(0, +) == 24)
        #expect((counts[0][0] + counts[1][1]) / 24 == eval["accuracy"]!.number!)
        #expect(counts.map { $0.reduce(0, +) } == ["0", "1"].map { eval["per_class"]![$0]!["support"]!.number! })
        #expect(confusion.value?.html?.hasPrefix("<img src=\"data:image/svg+xml;base64,") == true, "the heatmap as an image, which sanitizers keep")
        #expect(confusion.plain.contains("true \\ predicted"))
        let normalized = try #require(run(interpreter, "confusion normalize=true").json?["normalized"]?.array)
        #expect(normalized.allSatisfy { row in abs(row.array!.compactMap(\.number).reduce(0, +) - 1) < 1e-12 })

        let errors = run(interpreter, "errors n=3")
        try check(errors)
        let worst = try #require(errors.json?["errors"]?.array)
        #expect(worst.count == 3)
        let losses = worst.map { $0["loss"]!.number! }
        #expect(losses == losses.sorted(by: >))
        #expect(worst.allSatisfy { abs(exp(-$0["loss"]!.number!) - $0["p_label"]!.number!) < 1e-6 })
        // The worst row is the one predict gives the lowest probability of its true label.
        let (texts, truth) = try splitRows(interpreter, "valid")
        let predicted = try predictions(interpreter, texts)
        let lowest = zip(predicted, truth).enumerated().min { $0.1.0.probabilities[$0.1.1]! < $1.1.0.probabilities[$1.1.1]! }!
        // Rows are numbered as data show numbers them: in the loaded table.
        #expect(worst[0]["row"]?.number == Double(interpreter.dataset.splits["valid"]![lowest.offset]))
        #expect(worst[0]["text"] == .string(texts[lowest.offset]))
        #expect(errors.plain.hasPrefix("3 worst of 24 rows of valid (\(zip(predicted, truth).filter { $0.label != $1 }.count) predicted wrongly)\nrow"))
        // Once the data changes, rows are numbered within the evaluated rows.
        try check(run(interpreter, "data sample n=30 seed=2"))
        let after = run(interpreter, "errors n=1")
        #expect(after.json?["errors"]?.array?.first?["row"]?.number == Double(lowest.offset))
        #expect(after.plain.contains("the data changed since the eval"))
    }

    @Test func predictRoundTripsBengaliAndBanglish() throws {
        let interpreter = try sst2Session()
        let texts = ["দারুণ খেলা হয়েছে, আমি খুব খুশি!", "khela ta darun hoyeche 😀", "a gripping, \"beautifully\" acted film"]
        let result = run(interpreter, "predict " + texts.map { Value.string($0).sourceText }.joined(separator: " "))
        try check(result)
        let items = try #require(result.json?.array)
        #expect(items.map { $0["text"] } == texts.map { JSONValue($0) })
        for (item, text) in zip(items, texts) {
            #expect(result.plain.contains(text))
            guard case .object(let pairs)? = item["probabilities"] else { Issue.record("no probabilities"); continue }
            #expect(pairs.map(\.0) == ["0", "1"])
            #expect(abs(pairs.compactMap { $0.1.number }.reduce(0, +) - 1) < 1e-5)
            let best = pairs.max { $0.1.number! < $1.1.number! }!.0
            #expect(item["label"] == .string(best))
        }
    }

    @Test func plotScheduleNeedsNoModelAndMatchesTheFormula() throws {
        let interpreter = makeInterpreter()
        let result = run(interpreter, "plot schedule kind=linear steps=20 warmup=4 lr=1e-3")
        try check(result)
        let rates = try #require(result.json?["rate"]?.array).map { $0.number! }
        // Linear warmup to 1e-3 over 4 steps, then linear decay to 0 at step 20.
        let expected: [Double] = (0..<20).map { (k: Int) -> Double in
            k < 4 ? 1e-3 * Double(k) / 4.0 : 1e-3 * Double(20 - k) / 16.0
        }
        #expect(rates.count == 20)
        #expect(zip(rates, expected).allSatisfy { abs($0 - $1) < 1e-15 })
        #expect(result.value?.svg?.contains("<svg") == true)
        #expect(result.plain.contains("linear schedule: lr 1.00e-03, 4 warmup of 20 steps"))
        #expect(run(interpreter, "plot schedule steps=5").json?["warmup"]?.number == 5, "the default warmup is at most the steps")
        #expect(run(interpreter, "plot schedule steps=5 warmup=9").failure?.rendered == """
            cell[1]:1:30: error: warmup (9 steps) is longer than the training (5 steps)
            plot schedule steps=5 warmup=9
                                         ^
            """)
        #expect(run(interpreter, "plot loss steps=5").failure?.rendered == """
            cell[1]:1:17: error: 'steps' is an option of plot schedule, not of plot loss
            plot loss steps=5
                            ^
            """)
        #expect(run(interpreter, "plot loss").failure?.rendered == """
            cell[1]:1:1: error: no training run yet to plot
            plot loss
            ^~~~~~~~~
            note: train first (train epochs=1), or plot a schedule without one: plot schedule kind=cosine steps=100
            """)
        #expect(run(interpreter, "plot lrfind").failure?.diagnostic.notes == ["run the range test first: lrfind start=1e-7 end=1 steps=100"])
        #expect(run(interpreter, "runs").plain == "no runs yet: train, sweep and cv record one each")
    }

    @Test func plotsRunsAndEvalFollowTheLastRun() throws {
        let interpreter = try sst2Session(extra: "lora r=4 alpha=8")
        try check(run(interpreter, "train max_steps=4 batch=8 max_length=32 lr=1e-3 eval_every=2"))
        let loss = try #require(run(interpreter, "plot loss").json?["series"]?.array)
        #expect(loss.map { $0["name"] } == ["loss", "smoothed", "validation loss"])
        let losses = try #require(loss[0]["y"]?.array).map { $0.number! }
        #expect(losses.count == 4 && losses.allSatisfy { $0.isFinite && $0 > 0 })
        #expect(loss[0]["x"] == JSONValue([1.0, 2, 3, 4]))
        #expect(abs(loss[1]["y"]!.array!.first!.number! - losses[0]) < 1e-12, "bias-corrected smoothing starts at the first loss")
        // The run's learning rates are the linear schedule's (no warmup) at steps 0…3.
        let lr = try #require(run(interpreter, "plot lr").json?["series"]?.array?.first?["y"]?.array).map { $0.number! }
        let schedule = try #require(run(interpreter, "plot schedule kind=linear steps=4 warmup=0 lr=1e-3").json?["rate"]?.array).map { $0.number! }
        #expect(lr == schedule)
        let metrics = try #require(run(interpreter, "plot metrics").json)
        #expect(metrics["step"] == JSONValue([2.0, 4]))
        #expect(run(interpreter, "plot metrics").value?.html?.components(separatedBy: "<img src=\"data:image/svg+xml;base64,").count == 3)
        // eval uses the run's max_length and the weights it ended with (the best evaluation's): its numbers
        // are one of the run's evaluations.
        let eval = try #require(run(interpreter, "eval").json)
        let accuracies = try #require(metrics["accuracy"]?.array).map { $0.number! }
        let validationLosses = try #require(metrics["loss"]?.array).map { $0.number! }
        #expect(zip(accuracies, validationLosses).contains { $0 == eval["accuracy"]!.number! && abs($1 - eval["loss"]!.number!) < 1e-6 })

        let runs = run(interpreter, "runs")
        try check(runs)
        #expect(runs.json?["runs"]?.array?.count == 1)
        #expect(runs.json?["runs"]?.array?.first?["kind"] == "train")
        #expect(runs.plain.hasPrefix("run  kind"))
        #expect(runs.value?.html?.contains("<td style=\"text-align:left\">train</td>") == true)

        try check(run(interpreter, "lrfind steps=6 batch=8 max_length=32 start=1e-5 end=1e-1"))
        let lrfind = run(interpreter, "plot lrfind")
        try check(lrfind)
        let rates = try #require(lrfind.json?["lr"]?.array).map { $0.number! }
        #expect(!rates.isEmpty && rates == rates.sorted() && rates.first! >= 1e-5 && rates.last! <= 1e-1)
        #expect(lrfind.value?.svg?.contains("<svg") == true)
    }

    @Test func everyMetricsExampleRuns() throws {
        let interpreter = try sst2Session()
        for name in ["eval", "report", "confusion", "errors", "plot", "runs", "predict", "agreement"] {
            let example = try #require(CommandTable.byName[name]).example
            try check(run(interpreter, example))
        }
        #expect(interpreter.metrics.runs.runs.isEmpty)
    }

    @Test func agreementIsCohensKappa() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-agreement-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let interpreter = Interpreter(workingDirectory: folder)
        // Two annotators, 10 rows: they agree on 8 (p_o = 0.8); both say neg 4 times and pos 6 times, so
        // p_e = (4·4 + 6·6) / 100 = 0.52 and κ = (0.8 − 0.52) / (1 − 0.52) = 7/12.
        try writeLabels(["pos", "pos", "neg", "neg", "pos", "neg", "pos", "pos", "neg", "pos"], to: folder, name: "a.csv")
        try writeLabels(["pos", "neg", "neg", "neg", "pos", "pos", "pos", "pos", "neg", "pos"], to: folder, name: "b.csv")
        let binary = run(interpreter, "agreement \"a.csv\" \"b.csv\"")
        try check(binary)
        #expect(abs(binary.json!["kappa"]!.number! - 7.0 / 12) < 1e-12)
        #expect(binary.json?["agreement"]?.number == 0.8)
        #expect(binary.json?["confusion"] == .array([[3, 1], [1, 5]]))
        #expect(binary.plain.hasPrefix("Cohen's kappa 0.5833 (unweighted, moderate agreement); the annotators agree on 8 of 10 rows (80.0%)"))

        // Ordered labels 1 < 2 < 3. Confusion (a down, b across) [[1,1,0],[0,1,2],[1,0,2]]; a's counts 2,3,3,
        // b's 2,2,4. Unweighted: p_o = 4/8, p_e = 22/64, κ = 10/42. Linear: observed 1+2+2·1 = 5, expected
        // Σ|i−j|·a_i·b_j/8 = 56/8, κ = 1 − 5/7. Quadratic: observed 1+2+4 = 7, expected 84/8, κ = 1 − 7/10.5.
        try writeLabels(["1", "2", "3", "1", "2", "3", "3", "2"], to: folder, name: "c.csv", column: "grade")
        try writeLabels(["1", "3", "3", "2", "2", "1", "3", "3"], to: folder, name: "d.csv", column: "grade")
        for (weights, kappa) in [("none", 10.0 / 42), ("linear", 2.0 / 7), ("quadratic", 1.0 / 3)] {
            let result = run(interpreter, "agreement \"c.csv\" \"d.csv\" column=grade weights=\(weights)")
            try check(result)
            #expect(abs(result.json!["kappa"]!.number! - kappa) < 1e-12, "\(weights)")
        }

        try writeLabels(["pos", "neg"], to: folder, name: "short.csv")
        #expect(run(interpreter, "agreement \"a.csv\" \"short.csv\"").failure?.rendered == """
            cell[1]:1:19: error: a.csv has 10 rows but short.csv has 2
            agreement "a.csv" "short.csv"
                              ^~~~~~~~~~~
            note: rows are matched by position, so both annotators must label the same rows
            """)
        #expect(run(interpreter, "agreement \"a.csv\" \"c.csv\"").failure?.rendered == """
            cell[1]:1:19: error: no column 'label' in c.csv
            agreement "a.csv" "c.csv"
                              ^~~~~~~
            note: the columns of c.csv are 'grade'
            """)
        // Real annotations against themselves agree perfectly.
        let same = run(makeInterpreter(), "agreement \"bengali-absa/cricket_dev.tsv\" \"bengali-absa/cricket_dev.tsv\" column=class_label")
        try check(same)
        #expect(same.json?["kappa"]?.number == 1)
        #expect(same.json?["rows"]?.number == 372)
    }
}
