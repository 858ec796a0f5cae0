import Foundation
import FinchData
import FinchExperiment
import FinchModels
import FinchOptim
import FinchPEFT
import FinchPlot
import FinchTensor

/// train, train resume (and, from SearchCommands, lrfind, sweep, cv).
enum TrainCommands {
    static let all: [CommandSpec] = [train, resume] + SearchCommands.all

    /// The options `train`, `cv` and (as base values) `sweep` share, with TrainingOptions' defaults.
    static let trainingOptions: [ArgumentSpec] = {
        let d = TrainingOptions()
        return [
            ArgumentSpec("epochs", .integer(min: 1, max: 10_000), default: "\(d.epochs)", help: "Passes over the training rows"),
            ArgumentSpec("max_steps", .integer(min: 1), help: "Optimizer steps in all (overrides epochs)"),
            ArgumentSpec("lr", .number(min: 1e-12, max: 10), default: Value.format(d.learningRate), help: "Peak learning rate"),
            ArgumentSpec("batch", .integer(min: 1, max: 4096), default: "\(d.batchSize)", help: "Rows per micro-batch"),
            ArgumentSpec("accumulate", .integer(min: 1, max: 1024), default: "\(d.accumulate)", help: "Micro-batches per optimizer step"),
            ArgumentSpec("warmup", .integer(min: 0), default: "0", help: "Warmup steps (linear from 0)"),
            ArgumentSpec("warmup_ratio", .number(min: 0, max: 0.999), help: "Warmup as a fraction of the steps (instead of warmup)"),
            ArgumentSpec("schedule", .choice(LearningRateSchedule.Kind.names), default: d.schedule.name, help: "Learning-rate schedule after warmup"),
            ArgumentSpec("weight_decay", .number(min: 0, max: 10), default: Value.format(d.weightDecay), help: "AdamW's decoupled weight decay"),
            ArgumentSpec("clip", .number(min: 0), default: "1", help: "Clip the global gradient norm to this (0: no clipping)"),
            ArgumentSpec("eval_every", .integer(min: 1), help: "Evaluate on the valid split every N steps (default: at the end)"),
            ArgumentSpec("save_every", .integer(min: 1), help: "Write a checkpoint every N steps (into checkpoints=)"),
            ArgumentSpec("checkpoints", .path, help: "Folder for checkpoints (default with save_every: checkpoints/run-N)"),
            ArgumentSpec("keep", .integer(min: 1), default: "\(d.keep)", help: "Checkpoints to keep"),
            ArgumentSpec("patience", .integer(min: 1), help: "Stop after this many evaluations without a better best metric"),
            ArgumentSpec("best", .choice(TrainingOptions.BestMetric.allCases.map(\.rawValue)), default: d.best.rawValue,
                         help: "The metric that picks the best evaluation"),
            ArgumentSpec("restore_best", .bool, default: "true", help: "End with the weights of the best evaluation"),
            ArgumentSpec("seed", .integer(min: 0), help: "Seed for data order and dropout (default: the session seed)"),
            ArgumentSpec("max_length", .integer(min: 2, max: 8192), default: "\(d.maxLength)", help: "Tokens per row (longer rows are cut)"),
            ArgumentSpec("model_dropout", .bool, default: "true", help: "Train with the model's dropout rates from config.json"),
            ArgumentSpec("label_smoothing", .number(min: 0, max: 0.99), default: "0", help: "Cross-entropy label smoothing"),
            ArgumentSpec("group_by_length", .bool, default: "false", help: "Batch rows of similar length together"),
            ArgumentSpec("pack", .bool, default: "false", help: "Causal LM: pack several short examples into each row of max_length tokens (attention stays within each example)"),
            ArgumentSpec("chat", .bool, default: "true", help: "Causal LM: write examples in the model's chat format (the assistant's reply is learned, the rest masked)"),
            ArgumentSpec("optim", .choice(OptimizerAlgorithm.allCases.map(\.name)), default: d.optimizer.name,
                         help: "The optimizer: adamw (torch's AdamW), adamw8bit (bitsandbytes' 8-bit AdamW: moments as 8-bit codes, ~2 bytes a value instead of 8) or paged_adamw (AdamW with its moments in a file the kernel can page out)"),
        ]
    }()

    static let train = CommandSpec(
        "train", group: .trainer, summary: "Train the model with the chosen method on the train split, with live progress",
        options: trainingOptions,
        details: "Trains on the train split (every row before `data split`) and evaluates on the valid split when there is one. Ctrl-C (or the notebook's interrupt) stops within a step; `train resume` continues exactly where it stopped. Each run is recorded in the metrics session (`runs`). Before a classifier run allocates anything, its predicted peak (what `memory` computes) is compared with the memory the process can still take (the system's MemAvailable, a cgroup limit, and FINCH_MEMORY_LIMIT if set, e.g. 8GB): a run that does not fit is refused with what it needs and what to change.",
        example: "train epochs=3 lr=2e-4 batch=16 warmup_ratio=0.1 schedule=cosine\ntrain max_steps=200 lr=2e-3 eval_every=50 patience=2") { call in
        if call.trainer.causal != nil { return try CausalCommands.train(call) }
        let (encoder, tokenizer) = try call.trainer.classifier()
        guard call.trainer.method != nil else {
            throw SessionError("no training method set", hint: "choose one first: lora r=16 alpha=32, bitfit or full")
        }
        try refuseMergedAdapter(call)
        let data = try call.dataset.trainingRows()
        guard data.labelNames == call.trainer.labelNames else {
            throw SessionError("the model's head is for labels [\(call.trainer.labelNames.joined(separator: ", "))] but the data has [\(data.labelNames.joined(separator: ", "))]",
                               hint: "load the model again after loading the data: model load \"\(call.trainer.modelName)\"")
        }
        let options = try trainingOptions(call)
        call.trainer.run = nil  // the last run's buffers go before the new run allocates its own
        ProcessMemory.returnFreedHeap()
        defer {
            // The run's short-lived scratch (LoRA inputs, tiles, packed activations) goes back to the system.
            ScratchPool.drain()
            ProcessMemory.returnFreedHeap()
        }
        let plan = try PlanningCommands.trainingPlan(call, batch: min(options.batchSize, data.count), maxLength: options.maxLength,
                                                     optimizer: options.optimizer,
                                                     restoreBest: options.restoreBest)
        try PlanningCommands.refuseIfTooLarge(plan, available: ProcessMemory.availableToGrow())
        let trainer = try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: call.trainer.parameters,
                                            adapters: call.trainer.adapters, options: options)
        trainer.baseModelName = call.trainer.modelFolder?.path ?? call.trainer.modelName
        if options.saveEvery != nil {
            trainer.checkpointFolder = try checkpointFolder(call)
        }
        call.trainer.run = TrainingRun(trainer: trainer, data: data, validation: call.dataset.validationRows(), started: Date(),
                                       finished: false, learningRates: [])
        return try execute(call, resuming: false)
    }

    static let resume = CommandSpec(
        "train resume", group: .trainer, summary: "Continue the last interrupted run (or a checkpoint folder) exactly where it stopped",
        options: [ArgumentSpec("checkpoints", .path, help: "Resume from the newest checkpoint in this folder (a run of an earlier session)")],
        details: "In the same session, continues the stopped run in memory: same data order, optimizer state and random generators, so the result equals an uninterrupted run. With checkpoints=, rebuilds the run from the newest checkpoint-N folder (the model, method and data must be set up as they were).",
        example: "train resume\ntrain resume checkpoints=\"checkpoints/run-1\"") { call in
        if let folderText = call.string("checkpoints") {
            let folder = try call.existingPath("checkpoints", what: "folder")
            guard let last = ClassifierTrainer.checkpoints(in: folder).last else {
                throw call.error("no checkpoint-N folder in \(folderText)", at: "checkpoints")
            }
            let (encoder, tokenizer) = try call.trainer.classifier()
            guard call.trainer.method != nil else { throw SessionError("no training method set", hint: "set the method the run used (lora …, bitfit or full)") }
            let options = try ClassifierTrainer.options(inCheckpoint: last.url)
            let trainer = try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: call.trainer.parameters,
                                                adapters: call.trainer.adapters, options: options)
            try trainer.restore(from: last.url)
            trainer.checkpointFolder = folder
            trainer.baseModelName = call.trainer.modelFolder?.path ?? call.trainer.modelName
            call.trainer.run = TrainingRun(trainer: trainer, data: try call.dataset.trainingRows(), validation: call.dataset.validationRows(),
                                           started: Date(), finished: false, learningRates: [])
            return try execute(call, resuming: true)
        }
        if let run = call.trainer.causalRun, call.trainer.causal != nil {
            guard !run.finished else { throw SessionError("the last run finished at step \(run.trainer.state.step)", hint: "start a new one with train") }
            return try CausalCommands.execute(call, resuming: true)
        }
        guard let run = call.trainer.run else {
            throw SessionError("there is no run to resume", hint: "start one with train, or resume from disk: train resume checkpoints=\"DIR\"")
        }
        guard !run.finished else {
            throw SessionError("the last run finished at step \(run.trainer.state.step)", hint: "start a new one with train")
        }
        return try execute(call, resuming: true)
    }

    /// Trains the session's run from where it stands, showing progress; records it when it finishes.
    static func execute(_ call: Invocation, resuming: Bool) throws -> Output? {
        guard let run = call.trainer.run else { return nil }
        try refuseMergedAdapter(call)
        let trainer = run.trainer
        trainer.cancellation = call.interpreter.cancellation  // this cell's token
        let display = ProgressDisplay(call)
        var lastEvaluation: ValidationMetrics?
        let startStep = trainer.state.step
        var lastReport: TrainingStepReport?
        let summary = try trainer.train(run.data, validation: run.validation) { event in
            switch event {
            case .step(let report):
                call.trainer.run?.learningRates.append(report.learningRate)
                lastReport = report
                display.update { progressOutput(report, losses: trainer.state.losses, evaluation: lastEvaluation) }
            case .evaluated(let report):
                lastEvaluation = report.metrics
            case .checkpointed, .finished:
                break
            }
            return .proceed
        }
        if let lastReport {
            // The last state of the live display: its line only, the summary below draws the loss curve.
            display.update(finished: true) { progressOutput(lastReport, losses: trainer.state.losses, evaluation: lastEvaluation, chart: false) }
        }
        if summary.stopReason == "interrupted" {
            throw Interrupted("train interrupted at step \(trainer.state.step) of \(trainer.state.totalSteps); `train resume` continues from there")
        }
        call.trainer.run?.finished = true
        var metrics: [String: Double] = ["train_loss": trainer.state.losses.suffix(10).reduce(0, +) / Double(max(1, min(10, trainer.state.losses.count)))]
        if let evaluation = reportedEvaluation(trainer.state, summary: summary)?.metrics {
            for (name, value) in evaluation.byName { metrics[name] = value }
        }
        var configuration = trainer.options.settings
        if let method = call.trainer.method { configuration["method"] = AdapterCommands.describe(method) }
        call.metrics.runs.record(RunRecord(kind: resuming ? "train (resumed)" : "train", started: run.started, seconds: summary.seconds,
                                           model: call.trainer.modelName, configuration: configuration,
                                           data: call.dataset.source ?? "", seed: trainer.options.seed, metrics: metrics,
                                           losses: trainer.state.losses))
        return summaryOutput(summary, trainer: trainer, stepsThisCall: trainer.state.step - startStep)
    }

    /// The live line and (with `chart`) the growing loss chart.
    static func progressOutput(_ report: TrainingStepReport, losses: [Double], evaluation: ValidationMetrics?, chart: Bool = true) -> Output {
        var line = "step \(report.step)/\(report.totalSteps) · epoch \(report.epoch) · loss \(Render.fixed(report.loss)) · lr \(Render.scientific(report.learningRate)) · \(String(format: "%.1f", report.samplesPerSecond)) samples/s · ETA \(Render.duration(report.secondsRemaining))"
        if let evaluation { line += " · val f1_macro \(Render.fixed(evaluation.f1Macro)) acc \(Render.fixed(evaluation.accuracy))" }
        let image = chart ? HTML.image(svg: lossChart(losses).svg(width: 560, height: 260)) : ""
        return Output(plain: line, html: "<pre>\(HTML.escape(line))</pre>" + image,
                      json: .object([("step", JSONValue(report.step)), ("total_steps", JSONValue(report.totalSteps)),
                                     ("epoch", JSONValue(report.epoch)), ("loss", JSONValue(report.loss)),
                                     ("lr", JSONValue(report.learningRate)), ("samples_per_second", JSONValue(report.samplesPerSecond)),
                                     ("eta_seconds", JSONValue(report.secondsRemaining))]))
    }

    /// Training loss per step with an exponential moving average (β = 0.9) over it.
    static func lossChart(_ losses: [Double]) -> LineChart {
        var smoothed: [Double] = []
        var average = 0.0
        for (i, loss) in losses.enumerated() {
            average = 0.9 * average + 0.1 * loss
            smoothed.append(average / (1 - pow(0.9, Double(i + 1))))
        }
        let steps = losses.indices.map { Double($0 + 1) }
        return LineChart(title: "Training loss", xLabel: "step", yLabel: "loss",
                         series: [Series(name: "loss", x: steps, y: losses), Series(name: "smoothed", x: steps, y: smoothed)])
    }

    static func summaryOutput(_ summary: TrainingSummary, trainer: ClassifierTrainer, stepsThisCall: Int) -> Output {
        let state = trainer.state
        var lines = ["trained \(stepsThisCall) step\(stepsThisCall == 1 ? "" : "s") in \(Render.duration(summary.seconds)) (step \(state.step) of \(state.totalSteps))"]
        if let reason = summary.stopReason { lines.append("stopped: \(reason)") }
        if let best = summary.restoredBestStep { lines.append("restored the weights of step \(best), the best \(trainer.options.best.rawValue)") }
        let tail = state.losses.suffix(10)
        if !tail.isEmpty { lines.append("final loss (mean of the last \(tail.count) steps): \(Render.fixed(tail.reduce(0, +) / Double(tail.count)))") }
        var json: [(String, JSONValue)] = [("steps", JSONValue(state.step)), ("total_steps", JSONValue(state.totalSteps)),
                                           ("seconds", JSONValue(summary.seconds)), ("loss", JSONValue(tail.isEmpty ? .nan : tail.reduce(0, +) / Double(tail.count)))]
        if let evaluation = reportedEvaluation(state, summary: summary) {
            let m = evaluation.metrics
            lines.append("valid (step \(evaluation.step)\(summary.restoredBestStep != nil ? ", the weights kept" : "")): accuracy \(Render.fixed(m.accuracy)) · f1_macro \(Render.fixed(m.f1Macro)) · f1_weighted \(Render.fixed(m.f1Weighted)) · loss \(Render.fixed(m.loss))")
            json += [("accuracy", JSONValue(m.accuracy)), ("f1_macro", JSONValue(m.f1Macro)), ("f1_weighted", JSONValue(m.f1Weighted)),
                     ("eval_loss", JSONValue(m.loss))]
        }
        let chart = lossChart(state.losses)
        let text = lines.joined(separator: "\n")
        let svg = chart.svg()
        return Output(plain: text + "\n" + chart.text(width: Render.textSize.width, height: Render.textSize.height),
                      html: "<pre>\(HTML.escape(text))</pre>" + HTML.image(svg: svg), svg: svg, json: .object(json), caption: text)
    }

    /// The evaluation of the weights the run ends with: the restored best one, else the last.
    static func reportedEvaluation(_ state: TrainerState, summary: TrainingSummary) -> EvaluationReport? {
        if let best = summary.restoredBestStep, let evaluation = state.evaluations.last(where: { $0.step == best }) { return evaluation }
        return state.evaluations.last
    }

    /// TrainingOptions from the command's options (those not given keep TrainingOptions' defaults).
    static func trainingOptions(_ call: Invocation) throws -> TrainingOptions {
        var o = TrainingOptions()
        if let v = call.int("epochs") { o.epochs = v }
        o.maxSteps = call.int("max_steps")
        if let v = call.double("lr") { o.learningRate = v }
        if let v = call.int("batch") { o.batchSize = v }
        if let v = call.int("accumulate") { o.accumulate = v }
        if call.has("warmup"), call.has("warmup_ratio") {
            throw call.error("give warmup or warmup_ratio, not both", at: "warmup_ratio")
        }
        if let v = call.int("warmup") { o.warmup = .steps(v) }
        if let v = call.double("warmup_ratio") { o.warmup = .ratio(v) }
        if let v = call.string("schedule") { o.schedule = try LearningRateSchedule.Kind(name: v) }
        if let v = call.double("weight_decay") { o.weightDecay = v }
        if let v = call.double("clip") { o.clip = v > 0 ? v : nil }
        o.evalEvery = call.int("eval_every")
        o.saveEvery = call.int("save_every")
        if let v = call.int("keep") { o.keep = v }
        o.patience = call.int("patience")
        if o.patience != nil, o.evalEvery == nil {
            throw call.error("patience needs eval_every (evaluations to count)", at: "patience")
        }
        if let v = call.string("best") { o.best = TrainingOptions.BestMetric(rawValue: v)! }
        if let v = call.bool("restore_best") { o.restoreBest = v }
        o.seed = call.int("seed").map(UInt64.init) ?? call.interpreter.seed
        if let v = call.int("max_length") { o.maxLength = v }
        if let v = call.bool("model_dropout") { o.modelDropout = v }
        if let v = call.double("label_smoothing") { o.loss = CrossEntropy(labelSmoothing: Float(v)) }
        if let v = call.bool("group_by_length") { o.groupByLength = v }
        if let v = call.string("optim") { o.optimizer = try OptimizerAlgorithm(name: v) }
        if let v = call.bool("pack") { o.pack = v }
        try o.validate()
        return o
    }

    /// checkpoints= as given (it must not hold another run's checkpoints), else the first free checkpoints/run-N.
    static func checkpointFolder(_ call: Invocation) throws -> URL {
        if let given = call.string("checkpoints") {
            let url = call.interpreter.resolve(path: given)
            if !ClassifierTrainer.checkpoints(in: url).isEmpty {
                throw call.error("\(given) already holds checkpoints of another run", at: "checkpoints",
                                 notes: ["choose a new folder, or continue that run with train resume checkpoints=\"\(given)\""])
            }
            return url
        }
        var number = 1
        while FileManager.default.fileExists(atPath: call.interpreter.resolve(path: "checkpoints/run-\(number)").path) { number += 1 }
        return call.interpreter.resolve(path: "checkpoints/run-\(number)")
    }

    /// Training a merged adapter would update nothing and corrupt the unmerge: refuse it.
    static func refuseMergedAdapter(_ call: Invocation) throws {
        if call.trainer.adapters?.isMerged == true {
            throw SessionError("the adapter is merged into the base weights and cannot train", hint: "unmerge first")
        }
    }

    /// Reloads the model from its folder (same task, labels and head seed), dropping adapters and runs.
    static func restoreBaseWeights(_ call: Invocation) throws {
        let session = call.trainer
        guard let folder = session.modelFolder else { session.resetTraining(); return }
        try ModelCommands.install(call, folder: folder, task: session.task, labelNames: session.labelNames, seed: session.headSeed)
    }
}
