import Foundation
import FinchExperiment
import FinchMetrics
import FinchModels

/// train and eval for causal LMs.
extension CausalCommands {
    /// `train` with a causal LM: the loss on responses only (the prompt masked), live progress, a run record.
    static func train(_ call: Invocation) throws -> Output? {
        let lm = try call.trainer.causalModel()
        guard call.trainer.method != nil else {
            throw SessionError("no training method set", hint: "choose one first: lora r=16 alpha=32 targets=all-linear, qlora or full")
        }
        let options = try TrainCommands.trainingOptions(call)
        if call.trainer.task == .classify { return try trainClassifier(call, lm: lm, options: options) }
        let chat = call.bool("chat", default: true)
        let data = lm.examples(try segments(call, model: lm, indices: try indices(call, split: "train"), chat: chat), maxLength: options.maxLength)
        let validRows = call.dataset.splits["valid"] ?? []
        let validation = validRows.isEmpty ? nil : lm.examples(try segments(call, model: lm, indices: validRows, chat: chat), maxLength: options.maxLength)
        call.trainer.causalRun = nil
        ProcessMemory.returnFreedHeap()
        let trainer = try DecoderTrainer(model: lm.model, parameters: call.trainer.parameters, adapters: call.trainer.decoderAdapters,
                                          padId: lm.padId, options: options)
        call.trainer.causalRun = CausalRun(trainer: trainer, data: data, validation: validation, classification: nil, started: Date(),
                                           finished: false, learningRates: [])
        var notes: [String] = []
        if data.truncated > 0 { notes.append("\(data.truncated) of \(data.count) examples were cut to max_length=\(options.maxLength)") }
        if data.empty > 0 { notes.append("\(data.empty) examples have no response token left and are skipped") }
        for note in notes { call.emit(.stream(toStandardError: true, text: "note: \(note)\n")) }
        return try execute(call, resuming: false)
    }

    /// Trains the session's causal run from where it stands; records it when it finishes.
    static func execute(_ call: Invocation, resuming: Bool) throws -> Output? {
        guard let run = call.trainer.causalRun else { return nil }
        let trainer = run.trainer
        trainer.cancellation = call.interpreter.cancellation
        let display = ProgressDisplay(call)
        let startStep = trainer.state.step
        var lastReport: TrainingStepReport?
        var stepSeconds: [Double] = [], last = DispatchTime.now().uptimeNanoseconds
        let progress: (TrainingEvent) -> TrainingDecision = { event in
            if case .step(let report) = event {
                let now = DispatchTime.now().uptimeNanoseconds
                stepSeconds.append(Double(now - last) / 1e9)
                last = now
                call.trainer.causalRun?.learningRates.append(report.learningRate)
                lastReport = report
                display.update { TrainCommands.progressOutput(report, losses: trainer.state.losses, evaluation: nil) }
            }
            return .proceed
        }
        let summary = try run.classification.map { try trainer.train(classification: $0.texts, labels: $0.labels, progress: progress) }
            ?? trainer.train(run.data, validation: run.validation, progress: progress)
        if let lastReport {
            display.update(finished: true) { TrainCommands.progressOutput(lastReport, losses: trainer.state.losses, evaluation: nil, chart: false) }
        }
        if summary.stopReason == "interrupted" {
            throw Interrupted("train interrupted at step \(trainer.state.step) of \(trainer.state.totalSteps); `train resume` continues from there")
        }
        call.trainer.causalRun?.finished = true
        let tail = trainer.state.losses.suffix(10)
        var metrics: [String: Double] = ["train_loss": tail.reduce(0, +) / Double(max(1, tail.count))]
        if let last = trainer.evaluations.last { metrics["eval_loss"] = last.loss; metrics["perplexity"] = last.perplexity }
        var configuration = trainer.options.settings
        if let method = call.trainer.method { configuration["method"] = AdapterCommands.describe(method) }
        call.metrics.runs.record(RunRecord(kind: resuming ? "train (resumed)" : "train", started: run.started, seconds: summary.seconds,
                                           model: call.trainer.modelName, configuration: configuration, data: call.dataset.source ?? "",
                                           seed: trainer.options.seed, metrics: metrics, losses: trainer.state.losses))
        let steps = trainer.state.step - startStep
        var lines = ["trained \(steps) step\(steps == 1 ? "" : "s") in \(Render.duration(summary.seconds)) (step \(trainer.state.step) of \(trainer.state.totalSteps)); "
                     + "\(String(format: "%.2f", summary.seconds / Double(max(1, steps)))) s/step; \(Render.grouped(run.data.tokenCount)) tokens in \(run.data.count) examples"]
        if let reason = summary.stopReason { lines.append("stopped: \(reason)") }
        if !tail.isEmpty { lines.append("final loss (mean of the last \(tail.count) steps): \(Render.fixed(metrics["train_loss"]!))") }
        if let last = trainer.evaluations.last {
            lines.append("valid (step \(last.step)): loss \(Render.fixed(last.loss)) · perplexity \(Render.fixed(last.perplexity))")
        }
        let chart = TrainCommands.lossChart(trainer.state.losses)
        let text = lines.joined(separator: "\n"), svg = chart.svg()
        var json: [(String, JSONValue)] = [("steps", JSONValue(trainer.state.step)), ("total_steps", JSONValue(trainer.state.totalSteps)),
                                           ("seconds", JSONValue(summary.seconds)), ("loss", JSONValue(metrics["train_loss"]!)),
                                           ("step_seconds", .array(stepSeconds.map { JSONValue($0) }))]
        if let last = trainer.evaluations.last { json += [("eval_loss", JSONValue(last.loss)), ("perplexity", JSONValue(last.perplexity))] }
        return Output(plain: text + "\n" + chart.text(width: Render.textSize.width, height: Render.textSize.height),
                      html: "<pre>\(HTML.escape(text))</pre>" + HTML.image(svg: svg), svg: svg, json: .object(json), caption: text)
    }

    /// `eval` with a causal LM: the token loss and perplexity of the split's responses; with generate=true,
    /// greedy answers to the first n prompts scored against the responses.
    static func evaluate(_ call: Invocation) throws -> Output {
        let lm = try call.trainer.causalModel()
        let session = call.dataset
        _ = try session.loaded()
        let split = try call.string("split") ?? MetricsCommands.defaultSplit(call)
        let rows = try indices(call, split: split)
        // Whole examples (up to the model's context, at most 2,048 tokens), whatever a run cut them to, so that
        // losses before and after training are over the same tokens.
        let maxLength = min(lm.model.config.maxPositions, 2048)
        let chat = call.bool("chat", default: true)
        call.trainer.decoderAdapters?.setTraining(false)
        let started = Date()
        let data = lm.examples(try segments(call, model: lm, indices: rows, chat: chat), maxLength: maxLength)
        let loss = try CausalLMEvaluation.loss(model: lm.model, data: data, padId: lm.padId, batchSize: 8)
        var metrics: [String: Double] = ["loss": loss.mean, "perplexity": exp(loss.mean)]
        var lines = ["\(split): \(rows.count) rows, \(Render.grouped(loss.tokens)) response tokens · loss \(Render.fixed(loss.mean)) · perplexity \(Render.fixed(exp(loss.mean)))"]
        var table: [[String]] = []
        if call.bool("generate", default: false) {
            let count = min(call.int("n", default: 20), rows.count)
            let display = ProgressDisplay(call)
            var predictions: [String] = [], references: [String] = []
            let options = SamplingOptions(maxNewTokens: call.int("max_tokens", default: 256))
            for (i, row) in rows.prefix(count).enumerated() {
                display.update { Output(plain: "generating \(i + 1)/\(count)") }
                let prompt = lm.generationPrompt(session.rows!.texts[row], chat: chat)
                predictions.append(try lm.generate(prompt, options: options, cancellation: call.interpreter.cancellation).text)
                references.append(session.responses![row])
                if call.interpreter.cancellation.isCancelled { throw Interrupted("eval interrupted after \(i + 1) of \(count) answers") }
            }
            display.update(finished: true) { Output(plain: "generated \(count) answers") }
            let scores = GenerativeScores(predictions: predictions, references: references)
            for (name, value) in scores.byName { metrics[name] = value }
            var line = "generated \(count) answers (greedy, max_tokens=\(options.maxNewTokens)): exact match \(Render.fixed(scores.exactMatch)) · token F1 \(Render.fixed(scores.tokenF1)) · BLEU \(String(format: "%.2f", scores.bleu)) · ROUGE-L \(Render.fixed(scores.rougeL))"
            if let accuracy = scores.finalAnswerAccuracy { line += " · final-answer accuracy \(Render.fixed(accuracy)) (#### N)" }
            lines.append(line)
            table = zip(rows.prefix(count), zip(predictions, references)).prefix(5).map { row, pair in
                [String(row), String(session.rows!.texts[row].prefix(60)), String(pair.0.prefix(80)), String(pair.1.prefix(80))]
                    .map { $0.replacingOccurrences(of: "\n", with: " ⏎ ") }
            }
        }
        call.metrics.runs.record(RunRecord(kind: "eval", started: started, seconds: Date().timeIntervalSince(started), model: call.trainer.modelName,
                                           configuration: ["split": split, "method": call.trainer.method.map(AdapterCommands.describe) ?? "base model"],
                                           data: session.source ?? "", seed: call.interpreter.seed, metrics: metrics, losses: []))
        let text = lines.joined(separator: "\n")
        let columns = ["row", "prompt", "generated", "reference"]
        let json = JSONValue.object(metrics.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) } + [("split", .string(split)), ("rows", JSONValue(rows.count))])
        if table.isEmpty { return Output(plain: text, html: "<pre>\(HTML.escape(text))</pre>", json: json) }
        return Output(plain: text + "\n" + TextTable.render(columns: columns, rows: table),
                      html: "<pre>\(HTML.escape(text))</pre>" + HTML.table(columns: columns, rows: table), json: json)
    }
}
