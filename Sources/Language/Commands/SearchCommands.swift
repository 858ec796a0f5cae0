import Foundation
import FinchData
import FinchExperiment
import FinchModels
import FinchPEFT
import FinchQuantization
import FinchPlot

/// lrfind, sweep, cv: probing learning rates and hyperparameters.
enum SearchCommands {
    static let all: [CommandSpec] = [lrfind, sweep, cv]

    static let lrfind = CommandSpec(
        "lrfind", group: .trainer, summary: "Learning-rate range test: loss against an exponentially growing rate, and a suggestion",
        options: [
            ArgumentSpec("start", .number(min: 1e-12, max: 10), default: "1e-7", help: "First learning rate"),
            ArgumentSpec("end", .number(min: 1e-12, max: 100), default: "1", help: "Last learning rate"),
            ArgumentSpec("steps", .integer(min: 2, max: 100_000), default: "100", help: "Steps from start to end"),
            ArgumentSpec("batch", .integer(min: 1, max: 4096), default: "16", help: "Rows per step"),
            ArgumentSpec("max_length", .integer(min: 2, max: 8192), default: "128", help: "Tokens per row"),
            ArgumentSpec("seed", .integer(min: 0), help: "Seed for the rows drawn (default: the session seed)"),
        ],
        details: "Trains for a few steps while the rate grows from start to end, stops once the smoothed loss passes 4× its minimum, and suggests the rate where it falls fastest (fastai's lr_find). The weights are put back afterwards: the session is left as it was.",
        example: "lrfind start=1e-6 end=1 steps=60") { call in
        let (encoder, tokenizer) = try call.trainer.classifier()
        guard call.trainer.method != nil else { throw SessionError("no training method set", hint: "choose one first: lora r=16, bitfit or full") }
        try TrainCommands.refuseMergedAdapter(call)
        var finder = LearningRateFinder()
        finder.start = call.double("start", default: 1e-7)
        finder.end = call.double("end", default: 1)
        finder.steps = call.int("steps", default: 100)
        finder.batchSize = call.int("batch", default: 16)
        finder.maxLength = call.int("max_length", default: 128)
        finder.seed = call.int("seed").map(UInt64.init) ?? call.interpreter.seed
        let display = ProgressDisplay(call)
        var count = 0
        let result = try finder.run(encoder: encoder, tokenizer: tokenizer, parameters: call.trainer.parameters,
                                    adapters: call.trainer.adapters, data: try call.dataset.trainingRows()) { point in
            count += 1
            display.update { Output(plain: "lrfind step \(count)/\(finder.steps) · lr \(Render.scientific(point.learningRate)) · loss \(Render.fixed(point.loss))") }
            return call.isCancelled ? .stop : .proceed
        }
        if call.isCancelled { throw Interrupted("lrfind interrupted; the weights were put back") }
        call.metrics.lastLRFind = result
        return chart(result)
    }

    /// The lrfind curve on a log axis with the suggestion marked.
    static func chart(_ result: LearningRateFinder.Result) -> Output {
        let rates = result.points.map(\.learningRate)
        var annotations: [Annotation] = []
        if let s = result.suggestion { annotations.append(.verticalLine(x: s, label: "suggested \(Render.scientific(s))")) }
        let chart = LineChart(title: "Learning-rate range test", xLabel: "learning rate", yLabel: "loss",
                              series: [Series(name: "loss", x: rates, y: result.points.map(\.loss), style: .points),
                                       Series(name: "smoothed", x: rates, y: result.points.map(\.smoothedLoss))],
                              xScale: .log, annotations: annotations)
        let line = (result.suggestion.map { "suggested lr: \(Render.scientific($0))" } ?? "no suggestion") + " — \(result.reason)"
        let svg = chart.svg()
        return Output(plain: line + "\n" + chart.text(width: Render.textSize.width, height: Render.textSize.height),
                      html: "<p>\(HTML.escape(line))</p>" + HTML.image(svg: svg), svg: svg,
                      json: .object([("suggestion", result.suggestion.map { JSONValue($0) } ?? .null), ("reason", .string(result.reason)),
                                     ("lr", JSONValue(rates)), ("loss", JSONValue(result.points.map(\.loss))),
                                     ("smoothed_loss", JSONValue(result.points.map(\.smoothedLoss)))]), caption: line)
    }

    /// Sweep options: each a list of values to try (a single value is a list of one).
    static let sweepOptions: [ArgumentSpec] = ClassifierTrial.optionNames.map { name in
        ArgumentSpec(name, .list(.any), help: "Values of \(name) to try")
    }

    static let sweep = CommandSpec(
        "sweep", group: .trainer, summary: "Hyperparameter search: train a fresh model per trial, rank trials on the valid split",
        options: sweepOptions + [
            ArgumentSpec("method", .choice(["grid", "random", "tpe"]), default: "grid", help: "Every grid point, a seeded random sample, or TPE"),
            ArgumentSpec("trials", .integer(min: 1, max: 10_000), help: "Trials for random and tpe (default: the whole grid)"),
            ArgumentSpec("metric", .choice(TrainingOptions.BestMetric.allCases.map(\.rawValue)), default: "f1_macro", help: "The metric that ranks trials"),
        ],
        details: "Each trial loads the model afresh, applies the session's method (LoRA settings as the base for r, alpha, dropout, targets, rslora) and the trial's values, trains on the train split and is scored on the valid split. Every trial is recorded in `runs`.",
        example: "sweep lr=[1e-4, 5e-4, 2e-3] r=[8, 16] max_steps=60\nsweep lr=[1e-4, 2e-4, 5e-4, 1e-3] method=random trials=3 epochs=1") { call in
        let (_, tokenizer) = try call.trainer.classifier()
        let folder = try modelFolder(call)
        var space: [String: [SweepValue]] = [:]
        // Each value is checked as `lora` or `train` checks that option (warmup: steps, or a ratio below 1).
        var kinds = Dictionary((AdapterCommands.lora.options + TrainCommands.trainingOptions).map { ($0.name, $0.kind) },
                               uniquingKeysWith: { first, _ in first })
        kinds["warmup"] = .number(min: 0, max: 100_000)
        for name in ClassifierTrial.optionNames where call.has(name) {
            space[name] = try call.list(name).map { value in
                if let kind = kinds[name] {
                    _ = try Evaluator(variables: [:]).check(value, as: kind, argument: name, range: call.range(name))
                }
                return try sweepValue(value, option: name, call: call)
            }
        }
        let seed = call.interpreter.seed
        let trials = call.int("trials") ?? Int.max
        let method: Sweep.Method = switch call.string("method", default: "grid") {
        case "random": .random(trials: trials, seed: seed)
        case "tpe": .tpe(trials: trials, seed: seed)
        default: .grid
        }
        let metric = TrainingOptions.BestMetric(rawValue: call.string("metric", default: "f1_macro"))!
        let search: Sweep
        do { search = try Sweep(space: space, method: method, metric: metric) } catch {
            throw call.error("\(error)", notes: ["options that can be swept: " + ClassifierTrial.optionNames.joined(separator: ", ")])
        }
        let train = try call.dataset.trainingRows()
        guard let validation = call.dataset.validationRows() else {
            throw SessionError("a sweep scores trials on the valid split, and there is none", hint: "split first: data split train=80% valid=20%")
        }
        let (base, lora, quantization, withoutLoRA) = baseSetup(call)
        let runner = ClassifierTrial.make(modelFolder: folder, tokenizer: tokenizer, train: train, validation: validation,
                                          baseOptions: base, baseLoRA: lora, baseQuantization: quantization, withoutLoRA: withoutLoRA,
                                          precision: call.trainer.precision, cancellation: call.interpreter.cancellation)
        let display = ProgressDisplay(call)
        var finished: [SweepTrial] = []
        let result: SweepResult
        do {
            result = try search.run(runner) { trial in
                finished.append(trial)
                display.update(finished: true) { trialsOutput(finished, metric: metric, total: search.trialCount) }
                return call.isCancelled ? .stop : .proceed
            }
        } catch where call.isCancelled {
            throw Interrupted("sweep interrupted after \(finished.count) of \(search.trialCount) trials")
        }
        call.metrics.runs.record(result, model: call.trainer.modelName, base: base.settings, data: call.dataset.source ?? "", seed: seed)
        var output = trialsOutput(result.trials, metric: metric, total: search.trialCount)
        if let best = result.best { output.plain = "best: \(best.configuration) → \(metric.rawValue) \(Render.fixed(best.result.value(of: metric)))\n" + output.plain }
        return output
    }

    static let cv = CommandSpec(
        "cv", group: .trainer, summary: "k-fold cross-validation: mean ± standard deviation per metric",
        options: [ArgumentSpec("k", .integer(min: 2, max: 100), default: "5", help: "Folds (stratified by label)")]
            + TrainCommands.trainingOptions.filter { !["save_every", "checkpoints", "keep"].contains($0.name) },
        details: "Trains a fresh model with the session's method on k−1 folds of the training rows and scores the held-out fold, k times. Uses the session seed for the folds.",
        example: "cv k=5 max_steps=50 lr=2e-3") { call in
        let (_, tokenizer) = try call.trainer.classifier()
        let folder = try modelFolder(call)
        let data = try call.dataset.trainingRows()
        var (base, lora, quantization, withoutLoRA) = baseSetup(call)
        let options = try TrainCommands.trainingOptions(call)
        base = options
        let validation = CrossValidation(folds: call.int("k", default: 5), seed: call.interpreter.seed)
        let runner = ClassifierTrial.make(modelFolder: folder, tokenizer: tokenizer, baseOptions: base, baseLoRA: lora,
                                          baseQuantization: quantization, withoutLoRA: withoutLoRA,
                                          precision: call.trainer.precision, cancellation: call.interpreter.cancellation)
        let display = ProgressDisplay(call)
        var done: [FoldResult] = []
        let report: CrossValidationReport
        do {
            report = try validation.run(data, trial: runner) { fold in
                done.append(fold)
                display.update(finished: true) { foldsOutput(done, k: validation.folds) }
            }
        } catch where call.isCancelled {
            throw Interrupted("cv interrupted after \(done.count) of \(validation.folds) folds")
        }
        let metrics = TrainingOptions.BestMetric.allCases
        let rows = metrics.map { [$0.rawValue, Render.fixed(report.summary(of: $0).mean), Render.fixed(report.summary(of: $0).standardDeviation)] }
        var configuration = options.settings
        configuration["k"] = "\(validation.folds)"
        if let method = call.trainer.method { configuration["method"] = AdapterCommands.describe(method) }
        call.metrics.runs.record(RunRecord(kind: "cv", seconds: report.folds.reduce(0) { $0 + $1.seconds }, model: call.trainer.modelName,
                                           configuration: configuration, data: call.dataset.source ?? "", seed: call.interpreter.seed,
                                           metrics: report.mean.byName))
        let folds = foldsOutput(report.folds, k: validation.folds)
        let summary = Render.table(columns: ["metric", "mean", "std"], rows: rows, title: "\(validation.folds)-fold cross-validation")
        return Output(plain: summary.plain + "\n\n" + folds.plain, html: (summary.html ?? "") + (folds.html ?? ""),
                      json: .object(metrics.map { m in (m.rawValue, .object([("mean", JSONValue(report.summary(of: m).mean)),
                                                                              ("std", JSONValue(report.summary(of: m).standardDeviation))])) }))
    }

    static func trialsOutput(_ trials: [SweepTrial], metric: TrainingOptions.BestMetric, total: Int) -> Output {
        let names = Array(Set(trials.flatMap { $0.configuration.values.keys })).sorted()
        let rows = trials.map { t in
            ["\(t.number)"] + names.map { t.configuration[$0]?.description ?? "" }
                + [Render.fixed(t.result.accuracy), Render.fixed(t.result.f1Macro), Render.fixed(t.result.loss), Render.duration(t.seconds)]
        }
        return Render.table(columns: ["trial"] + names + ["accuracy", "f1_macro", "loss", "time"], rows: rows,
                            title: "\(trials.count) of \(total) trials (ranked by \(metric.rawValue))",
                            json: .array(trials.map { t in .object(names.map { ($0, .string(t.configuration[$0]?.description ?? "")) }
                                + t.result.byName.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) }) }))
    }

    static func foldsOutput(_ folds: [FoldResult], k: Int) -> Output {
        Render.table(columns: ["fold", "train rows", "valid rows", "accuracy", "f1_macro", "loss", "time"],
                     rows: folds.map { ["\($0.fold)", "\($0.trainRows)", "\($0.validationRows)", Render.fixed($0.result.accuracy),
                                        Render.fixed($0.result.f1Macro), Render.fixed($0.result.loss), Render.duration($0.seconds)] },
                     title: "\(folds.count) of \(k) folds")
    }

    /// The session's method as a trial's starting point.
    static func baseSetup(_ call: Invocation) -> (TrainingOptions, LoRAConfiguration?, FourBitFormat?, BaseTraining) {
        var options = TrainingOptions()
        options.seed = call.interpreter.seed
        switch call.trainer.method {
        case .lora(let configuration)?: return (options, configuration, nil, .full)
        case .qlora(let configuration, let format)?: return (options, configuration, format, .full)
        case .bitfit?: return (options, nil, nil, .bitfit)
        case .full?, nil: return (options, nil, nil, .full)
        }
    }

    static func modelFolder(_ call: Invocation) throws -> URL {
        guard let folder = call.trainer.modelFolder else { throw SessionError("no model loaded", hint: "model load \"NAME\"") }
        return folder
    }

    static func sweepValue(_ value: Value, option: String, call: Invocation) throws -> SweepValue {
        switch value {
        case .number(let x): return .number(x)
        case .word(let w), .string(let w): return .word(w)
        case .bool(let b): return .word(b ? "true" : "false")
        case .list(let items):
            // targets=[[query, value], all-linear]: a list of names is one value.
            return .word(items.map(\.plainText).joined(separator: ","))
        }
    }
}
