import Foundation
import FinchTensor

/// help, print, seed, threads, precision, sessions, reset, clear, sleep.
enum GeneralCommands {
    static let all: [CommandSpec] = [help, print, seed, threads, precision, sessions, reset, clear, sleep]

    static let help = CommandSpec(
        "help", group: .general, summary: "List the commands, or show one command's usage, options and an example",
        positionals: [ArgumentSpec("command", .name, repeats: true, help: "A command's words, e.g. data load")],
        details: "In a notebook, COMMAND? (or ?COMMAND) shows the same text in the pager.",
        example: "help\nhelp lora\nhelp data split") { call in
        try Help.output(for: call.strings("command"), at: call.range("command"))
    }

    static let print = CommandSpec(
        "print", group: .general, summary: "Print a value (strings without quotes)",
        positionals: [ArgumentSpec("value", .value, optional: false, repeats: true, help: "Values to print, separated by spaces")],
        options: [ArgumentSpec("to", .choice(["stdout", "stderr"]), default: "stdout", help: "The stream to print to")],
        example: "print \"hello, world\"\nlr = 2e-4\nprint \"lr is\" lr * 2") { call in
        let text = call.list("value").map(\.plainText).joined(separator: " ")
        call.emit(.stream(toStandardError: call.string("to") == "stderr", text: text + "\n"))
        return nil
    }

    static let seed = CommandSpec(
        "seed", group: .general, summary: "Set the seed for splits, samples, folds, new heads and adapters, and training",
        positionals: [ArgumentSpec("value", .integer(min: 0), optional: false, help: "The seed")],
        details: "Commands that take seed=N use it when given; otherwise they use this one (42 at the start). Reruns with the same seed and thread count reproduce every number.",
        example: "seed 7") { call in
        call.interpreter.seed = UInt64(call.int("value")!)
        return Output(plain: "seed \(call.interpreter.seed)", json: .object([("seed", JSONValue(Int(call.interpreter.seed)))]))
    }

    static let threads = CommandSpec(
        "threads", group: .general, summary: "Set (or show) the number of threads for matrix products and the attention loop",
        positionals: [ArgumentSpec("count", .integer(min: 1, max: 64), help: "Threads for products, attention, activations and 4-bit dequantization")],
        details: "One thread is the default: measured here, a second thread helps only when the second core is idle. Results are the same at any thread count up to the last bits of the split products; dropout masks do not depend on it.",
        example: "threads 2\nthreads") { call in
        if let count = call.int("count") { Threads.setCount(count) }
        return Output(plain: "threads \(Threads.count) (OpenBLAS core \(Threads.coreName))",
                      json: .object([("threads", JSONValue(Threads.count)), ("core", .string(Threads.coreName))]))
    }

    static let precision = CommandSpec(
        "precision", group: .general, summary: "Set (or show) how products with frozen weights compute: fp32 or bf16",
        positionals: [ArgumentSpec("mode", .choice(FrozenPrecision.allCases.map(\.rawValue)), help: "fp32 (the default) or bf16")],
        details: """
        fp32 computes exactly as PyTorch's fp32 CPU path. bf16 rounds each frozen weight and the activations \
        entering it to bfloat16 and sums the exact products in fp32 (AVX512-BF16; what torch.autocast("cpu", \
        dtype=torch.bfloat16) does to a linear layer's inputs), about twice as fast per product. 4-bit weights \
        (qlora) are dequantized a tile at a time and rounded the same way, as bitsandbytes computes with \
        bnb_4bit_compute_dtype=torch.bfloat16 (but with fp32 sums and outputs). Trained weights, adapters, \
        attention and every gradient of a trained parameter stay fp32, so LoRA and QLoRA runs train as \
        before; outputs move by about as much as they do under torch's bf16. The setting applies to the loaded \
        model and to every model loaded after it (sweep and cv trials too). Needs a CPU with AVX512-BF16.
        """,
        example: "precision bf16\nprecision") { call in
        let session = call.trainer
        if let mode = call.string("mode"), let chosen = FrozenPrecision(rawValue: mode) {
            do { try chosen.checkAvailable() } catch { throw call.error("\(error)", at: "mode") }
            session.precision = chosen
            try session.applyPrecision()
        }
        let available = FrozenPrecision.bf16Available ? "bf16 available" : "bf16 not available on this CPU"
        return Output(plain: "precision \(session.precision.rawValue) (\(available))",
                      json: .object([("precision", .string(session.precision.rawValue)), ("bf16_available", .bool(FrozenPrecision.bf16Available))]))
    }

    static let sessions = CommandSpec(
        "sessions", group: .general, summary: "Show the dataset, trainer and metrics sessions",
        example: "sessions") { call in
        let d = call.dataset, t = call.trainer, m = call.metrics
        let dataText = d.rows.map { rows in
            "\(d.source ?? "?") · \(rows.count) rows · text=\(d.textColumn) label=\(d.labelColumn) · labels \(rows.labelNames.joined(separator: ", "))"
                + (d.splits.isEmpty ? " · not split" : " · " + ["train", "valid", "test"].map { "\($0) \(d.splits[$0]?.count ?? 0)" }.joined(separator: ", "))
                + (d.folds.isEmpty ? "" : " · \(d.folds.count) folds")
        } ?? "empty"
        var trainerText = t.encoder == nil ? "no model" : "\(t.modelName) (\(t.task.rawValue))"
        if let method = t.method { trainerText += " · \(method.name)" }
        if let run = t.run { trainerText += " · last run step \(run.trainer.state.step)/\(run.trainer.state.totalSteps)\(run.finished ? "" : " (can resume)")" }
        let metricsText = "\(m.runs.runs.count) run\(m.runs.runs.count == 1 ? "" : "s")" + (m.lastEvaluation.map { " · last eval on \($0.split): accuracy \(Render.fixed($0.metrics.accuracy))" } ?? "")
        let variables = call.interpreter.variables.keys.sorted().map { "\($0) = \(call.interpreter.variables[$0]!.sourceText)" }.joined(separator: ", ")
        let rows = [["dataset", dataText], ["trainer", trainerText], ["metrics", metricsText], ["variables", variables.isEmpty ? "none" : variables]]
        return Render.table(columns: ["session", "state"], rows: rows,
                            json: .object(rows.map { ($0[0], .string($0[1])) }))
    }

    static let reset = CommandSpec(
        "reset", group: .general, summary: "Clear a session: data, model, train, metrics or all",
        positionals: [ArgumentSpec("session", .choice(["data", "model", "train", "metrics", "variables", "all"]), optional: false,
                                   help: "data: the table and splits; model: the model and its adapter; train: the adapter/method and last run (the model stays); metrics: runs and evaluations; variables; all")],
        example: "reset train\nreset all") { call in
        let what = call.string("session")!
        if what == "data" || what == "all" { call.dataset.reset() }
        if what == "model" || what == "all" { call.trainer.reset() }
        if what == "train" { try TrainCommands.restoreBaseWeights(call) }
        if what == "metrics" || what == "all" { call.metrics.reset() }
        if what == "variables" || what == "all" { call.interpreter.variables = [:] }
        return Output(plain: "reset \(what)", json: .object([("reset", .string(what))]))
    }

    static let clear = CommandSpec(
        "clear", group: .general, summary: "Clear the cell's output (the terminal's screen in the REPL)",
        example: "clear") { call in
        call.emit(.clear)
        return nil
    }

    static let sleep = CommandSpec(
        "sleep", group: .general, summary: "Wait a number of seconds (interruptible; useful in demos and tests)",
        positionals: [ArgumentSpec("seconds", .number(min: 0, max: 86_400), optional: false, help: "How long to wait")],
        example: "sleep 1.5") { call in
        let end = DispatchTime.now().uptimeNanoseconds + UInt64(call.double("seconds")! * 1e9)
        while DispatchTime.now().uptimeNanoseconds < end {
            if call.isCancelled { throw Interrupted("sleep interrupted") }
            usleep(20_000)
        }
        return nil
    }
}
