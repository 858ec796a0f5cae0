import Foundation
import FinchExperiment
import FinchModels
import FinchOptim
import FinchTensor

/// memory, estimate: the bytes of the current setup, and plans for models that do not fit here.
enum PlanningCommands {
    static let all: [CommandSpec] = [memory, estimate]

    static let optimizerChoice = ArgumentSpec("optim", .choice(OptimizerAlgorithm.allCases.map(\.name)), default: "adamw",
                                              help: "The optimizer whose state to count (default: the last run's, else adamw)")

    static let memory = CommandSpec(
        "memory", group: .planning, summary: "Bytes of the current setup by category, and the predicted peak of a training run",
        options: [
            ArgumentSpec("batch", .integer(min: 1, max: 4096), default: "16", help: "Rows per micro-batch (default: the last run's, else 16)"),
            ArgumentSpec("seq", .integer(min: 1, max: 8192), default: "128",
                         help: "Tokens per row (default: the longest training row, up to max_length)"),
            ArgumentSpec("max_length", .integer(min: 2, max: 8192), default: "128",
                         help: "The max_length train will use (default: the last run's, else 128)"),
            optimizerChoice,
        ],
        details: """
            Counts what the process holds now — base weights (fp32, or packed 4-bit codes after qlora), quantization statistics \
            (block absmax, nested statistics, code maps), adapters, one gradient per trainable value — and what a run of \
            batch × seq adds: optimizer state (adamw: 8 bytes a trained value; adamw8bit: 2 bytes plus an fp32 absmax per 256, \
            tensors under 4096 values stay fp32; paged_adamw: in a file mapping, resident once used unless memory runs short), activations saved for backward (counted from the \
            forward code: per block 7·T·H + 2·T·I + B·heads·S² floats for T = batch·seq tokens, plus the adapters' x·Aᵀ; \
            dropout masks are drawn again in backward, not kept), bf16 packings of frozen weights after `precision bf16`, \
            and scratch (backward buffers, the 4-bit tile, the shared pool of attention tiles, LoRA inputs after dropout \
            and packed activations, OpenBLAS buffers, evaluation). The process \
            baseline is the resident memory (VmRSS) that none of these explain: runtime, libraries, tokenizer, data. \
            The predicted peak is their sum; the fp32 line shows the same setup with fp32 base weights, what QLoRA saved. \
            Batches are padded to their longest row: a run whose longest batch comes late grows its buffers then, and holds \
            old and new for a moment.
            """,
        example: "memory\nmemory batch=32 seq=64 optim=adamw8bit\nmemory batch=16 max_length=64") { call in
        guard let method = call.trainer.method else {
            throw SessionError("no training method set", hint: "choose one first: lora r=16 alpha=32, qlora r=16, bitfit or full")
        }
        let lastOptions = call.trainer.run?.trainer.options
        let optimizer = call.string("optim").flatMap(OptimizerAlgorithm.init(rawValue:)) ?? lastOptions?.optimizer ?? .adamw
        let plan = try trainingPlan(call, batch: call.int("batch") ?? lastOptions?.batchSize ?? 16,
                                    maxLength: call.int("max_length") ?? lastOptions?.maxLength ?? 128, sequence: call.int("seq"),
                                    optimizer: optimizer,
                                    restoreBest: lastOptions?.restoreBest ?? true)
        return render(plan, method: AdapterCommands.describe(method))
    }

    /// The memory plan of a classifier run on the session's model, method and data: the data decides which
    /// word-embedding rows are touched and how long the longest batch is (`sequence` overrides that).
    static func trainingPlan(_ call: Invocation, batch: Int, maxLength requested: Int, sequence: Int? = nil,
                             optimizer: OptimizerAlgorithm, restoreBest: Bool) throws -> MemoryPlan {
        let (encoder, tokenizer) = try call.trainer.classifier()
        let maxLength = min(requested, encoder.config.usablePositions)
        var touched: Set<Int>?, longest = 0, tokens = 0, rows = 0
        if let data = try? call.dataset.trainingRows() {
            touched = []
            for text in data.texts {
                let ids = tokenizer.encode(text, pair: nil, addSpecialTokens: true, maxLength: maxLength).ids
                touched!.formUnion(ids)
                longest = max(longest, ids.count)
                tokens += ids.count
            }
            rows = data.count
        }
        var evaluation: (batch: Int, sequence: Int)?
        if let validation = call.dataset.validationRows() {
            let length = validation.texts.map { tokenizer.encode($0, pair: nil, addSpecialTokens: true, maxLength: maxLength).ids.count }.max() ?? 0
            evaluation = (min(32, validation.count), length)
        }
        return MemoryPlan.training(encoder: encoder, parameters: call.trainer.parameters, adapters: call.trainer.adapters,
                                   batch: batch, sequence: sequence ?? (longest > 0 ? longest : maxLength), optimizer: optimizer,
                                   restoreBest: restoreBest,
                                   evaluation: evaluation, wordRowsTouched: touched, tokenizedRows: (rows, tokens))
    }

    /// Refuses a run whose predicted peak does not fit in the memory this process can still take, saying
    /// how much it needs and what to change.
    static func refuseIfTooLarge(_ plan: MemoryPlan, available: Int?) throws {
        guard let available, plan.growth > available else { return }
        let gigabytes = { (bytes: Int) in String(format: "%.2f GB", Double(bytes) / 1e9) }
        var changes = ["a smaller batch= (now \(plan.batch))", "a shorter max_length= (the longest batch is \(plan.sequence) tokens)"]
        if plan.optimizer == .adamw { changes.append("optim=adamw8bit") }
        if plan.bytes(.quantizationStatistics) == 0 { changes.append("qlora (4-bit base weights)") }
        throw SessionError(
            "this run needs about \(gigabytes(plan.growth)) more memory at its peak (\(gigabytes(plan.predictedPeak)) in all, "
                + "batch \(plan.batch) × seq \(plan.sequence)) but only \(gigabytes(available)) is available",
            hint: "try " + changes.joined(separator: ", ") + "; `memory` shows where the bytes go")
    }

    /// The category table (with each category's items indented below it), the peak and the fp32 comparison.
    static func render(_ plan: MemoryPlan, method: String) -> Output {
        let total = max(plan.predictedPeak, 1)
        func share(_ bytes: Int) -> String { String(format: "%.1f%%", 100 * Double(bytes) / Double(total)) }
        var rows: [[String]] = []
        for category in MemoryCategory.allCases {
            let items = plan.items.filter { $0.category == category }
            guard !items.isEmpty else { continue }
            let bytes = plan.bytes(category)
            let when = Set(items.map(\.heldNow)).count == 2 ? "now + run" : (items[0].heldNow ? "now" : "run")
            rows.append([category.title, Render.bytes(bytes), share(bytes), when])
            if items.count > 1 || items[0].name != category.title {
                for item in items { rows.append(["  · " + item.name, Render.bytes(item.bytes), "", item.heldNow ? "now" : "run"]) }
            }
        }
        rows.append(["predicted peak", Render.bytes(plan.predictedPeak), "100.0%", ""])
        let title = "memory of \(method), batch \(plan.batch) × seq \(plan.sequence), optim=\(plan.optimizer.rawValue)"
        let table = Render.table(columns: ["category", "bytes", "share", "held"], rows: rows, title: title)
        let base = plan.bytes(.baseWeights) + plan.bytes(.quantizationStatistics)
        var notes = [
            "with fp32 base weights: \(Render.bytes(plan.fp32BaseWeights)) of weights (now \(Render.bytes(base))), peak \(Render.bytes(plan.fp32Peak))"
                + (plan.fp32Peak > plan.predictedPeak ? " — this setup saves \(Render.bytes(plan.fp32Peak - plan.predictedPeak))" : ""),
            "measured now: resident \(Render.bytes(plan.process.resident)), peak so far \(Render.bytes(plan.process.peak)), "
                + "checkpoint pages mapped \(Render.bytes(plan.process.mappedCheckpoints))",
        ]
        if plan.pagedOptimizerBytes > 0 { notes.append("paged optimizer state in its file mapping: \(Render.bytes(plan.pagedOptimizerBytes)) (in the peak: resident once a step touches it)") }
        let categories = JSONValue.object(MemoryCategory.allCases.map { ($0.rawValue, JSONValue(plan.bytes($0))) })
        let items = JSONValue.array(plan.items.map { item in
            .object([("category", .string(item.category.rawValue)), ("name", .string(item.name)), ("bytes", JSONValue(item.bytes)),
                     ("held_now", .bool(item.heldNow))])
        })
        let json = JSONValue.object([
            ("method", .string(method)), ("batch", JSONValue(plan.batch)), ("seq", JSONValue(plan.sequence)),
            ("optim", .string(plan.optimizer.rawValue)), ("categories", categories), ("items", items),
            ("predicted_peak_bytes", JSONValue(plan.predictedPeak)), ("fp32_base_weights_bytes", JSONValue(plan.fp32BaseWeights)),
            ("fp32_peak_bytes", JSONValue(plan.fp32Peak)), ("resident_bytes", JSONValue(plan.process.resident)),
            ("peak_so_far_bytes", JSONValue(plan.process.peak)), ("mapped_checkpoint_bytes", JSONValue(plan.process.mappedCheckpoints)),
            ("paged_optimizer_bytes", JSONValue(plan.pagedOptimizerBytes)),
        ])
        return Output(plain: table.plain + "\n" + notes.joined(separator: "\n"),
                      html: table.html! + "<p>" + notes.map(HTML.escape).joined(separator: "<br>") + "</p>", json: json, table: table.table)
    }

    static let estimate = CommandSpec(
        "estimate", group: .planning, summary: "Memory and cost of fine-tuning a Llama-family model of any size on GPUs",
        options: [
            ArgumentSpec("params", .count(min: 1e6), optional: false, help: "Parameters of the model: 1B, 3B, 7B, 8B, 13B, 34B, 65B, 70B or any count"),
            ArgumentSpec("method", .choice(EstimateMethod.allCases.map(\.rawValue)), default: "qlora", help: "How it is fine-tuned"),
            ArgumentSpec("seq", .integer(min: 1, max: 1_048_576), default: "512", help: "Tokens per row"),
            ArgumentSpec("batch", .integer(min: 1, max: 65536), default: "8", help: "Rows per micro-batch"),
            ArgumentSpec("r", .integer(min: 1, max: 4096), default: "16", help: "LoRA rank (adapters on every linear layer)"),
            ArgumentSpec("checkpointing", .bool, default: "true", help: "Gradient checkpointing: keep only each block's input"),
            optimizerChoice,
            ArgumentSpec("gpu", .name, help: "Show only this GPU (a name from the table)"),
            ArgumentSpec("hours", .number(min: 0), default: "1", help: "Hours of training, for the cost column"),
            ArgumentSpec("prices", .path, help: "A JSON price file that replaces or adds GPUs (default: ~/.finch/prices.json if present)"),
        ],
        details: """
            Shapes come from the published configs (Llama-3.2-1B/3B, Llama-2-7B/13B/70B, Llama-3.1-8B, CodeLlama-34B, LLaMA-65B); \
            other sizes take the nearest one's widths with the layer count scaled (marked approximate). Bytes: full = bf16 weights \
            and gradients, fp32 master copy and Adam moments (16 a parameter); lora = bf16 base plus fp32 adapters with their \
            gradients and moments (16 an adapter parameter); qlora = NF4 with double quantization, 4.127 bits a linear weight, bf16 \
            embeddings and head, plus the adapters. Adapters of rank r sit on every linear layer: r·(in + out) each. \
            Activations are bf16 with fused attention (no S×S scores): per block and token 6·H + 2·kv + 4·I + 7·r values; \
            with checkpointing only each block's input (H a token) stays, plus one block recomputed; the logits add \
            T·V·10 bytes (bf16, fp32 copy, gradient). A GPU fits when the total is at most 90 % of its memory; otherwise \
            the count shown is how many it takes with weights and states sharded (a lower bound). Prices are on-demand cloud \
            list prices of January 2026, per GPU-hour; a price file {"date": "…", "gpus": {"NAME": {"memory_gb": 80, \
            "usd_per_hour": 1.5}}} changes or adds rows. CUDA context, framework buffers and fragmentation are not counted \
            (the 10 % headroom stands for them).
            """,
        example: "estimate params=7B method=qlora\nestimate params=70B method=full seq=2048 batch=1 gpu=H100-80GB hours=10") { call in
        let requested = call.double("params")!
        let (shape, approximate) = DecoderShape.forParameters(requested)
        let method = EstimateMethod(rawValue: call.string("method", default: "qlora"))!
        let checkpointing = call.bool("checkpointing", default: true)
        let estimate = MemoryEstimate(shape: shape, isApproximate: approximate, method: method, rank: call.int("r", default: 16),
                                      sequence: call.int("seq", default: 512), batch: call.int("batch", default: 8),
                                      optimizer: OptimizerAlgorithm(rawValue: call.string("optim", default: "adamw"))!)
        var table = GPUPriceTable.defaults
        let defaultFile = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".finch/prices.json")
        let file = call.has("prices") ? try call.existingPath("prices") : (FileManager.default.fileExists(atPath: defaultFile.path) ? defaultFile : nil)
        if let file {
            do { table = try table.applying(priceFile: file) } catch let error as PriceFileError {
                throw call.error(error.description, at: call.has("prices") ? "prices" : nil)
            }
        }
        var gpus = table.gpus
        if let name = call.string("gpu") {
            guard let gpu = gpus.first(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw call.error("unknown GPU '\(name)'", at: "gpu", notes: ["GPUs: " + gpus.map(\.name).joined(separator: ", ")])
            }
            gpus = [gpu]
        }
        return renderEstimate(estimate, checkpointing: checkpointing, gpus: gpus, date: table.date, hours: call.double("hours", default: 1))
    }

    static func renderEstimate(_ e: MemoryEstimate, checkpointing: Bool, gpus: [GPUPrice], date: String, hours: Double) -> Output {
        let total = e.total(checkpointing: checkpointing)
        let shape = e.shape
        let header = "\(e.method.rawValue) of \(shape.name)\(e.isApproximate ? " (approximation)" : ""): "
            + "\(String(format: "%.2f", Double(shape.parameters) / 1e9))B parameters, hidden \(shape.hidden), \(shape.layers) layers, "
            + "\(shape.heads) heads (\(shape.kvHeads) kv), intermediate \(shape.intermediate), vocabulary \(shape.vocabulary); "
            + "trainable \(Render.grouped(e.trainable)); seq \(e.sequence) × batch \(e.batch)\(e.method == .full ? "" : ", r=\(e.rank)")"
        let parts = [
            ["weights", Render.bytes(e.weights)], ["gradients", Render.bytes(e.gradients)], ["optimizer state", Render.bytes(e.optimizer)],
            ["activations, no checkpointing", Render.bytes(e.activations)], ["activations, checkpointing", Render.bytes(e.checkpointedActivations)],
            ["total (\(checkpointing ? "checkpointing" : "no checkpointing"))", Render.bytes(total)],
        ]
        let breakdown = Render.table(columns: ["part", "bytes"], rows: parts, title: header)
        let gpuRows = gpus.map { gpu -> [String] in
            let count = gpu.count(for: total)
            return [gpu.name, String(format: "%.0f GB", gpu.memoryGB), gpu.fits(total) ? "yes" : "no (≥ \(count) GPUs)",
                    String(format: "$%.2f", gpu.dollarsPerHour), String(format: "$%.2f", Double(count) * gpu.dollarsPerHour * hours)]
        }
        let gpuTable = Render.table(columns: ["gpu", "memory", "fits (10% headroom)", "$/hour", "cost for \(Value.format(hours)) h"], rows: gpuRows,
                                    title: "on-demand prices of \(date)")
        let json = JSONValue.object([
            ("model", .string(shape.name)), ("approximate", .bool(e.isApproximate)), ("params", JSONValue(shape.parameters)),
            ("method", .string(e.method.rawValue)), ("trainable", JSONValue(e.trainable)), ("seq", JSONValue(e.sequence)),
            ("batch", JSONValue(e.batch)), ("r", JSONValue(e.rank)),
            ("weights_bytes", JSONValue(e.weights)), ("gradients_bytes", JSONValue(e.gradients)), ("optimizer_bytes", JSONValue(e.optimizer)),
            ("activations_bytes", JSONValue(e.activations)), ("checkpointed_activations_bytes", JSONValue(e.checkpointedActivations)),
            ("total_bytes", JSONValue(total)), ("price_date", .string(date)),
            ("gpus", .array(gpus.map { gpu in
                .object([("name", .string(gpu.name)), ("memory_gb", JSONValue(gpu.memoryGB)), ("fits", .bool(gpu.fits(total))),
                         ("count", JSONValue(gpu.count(for: total))), ("usd_per_hour", JSONValue(gpu.dollarsPerHour)),
                         ("cost", JSONValue(Double(gpu.count(for: total)) * gpu.dollarsPerHour * hours))])
            })),
        ])
        return Output(plain: breakdown.plain + "\n\n" + gpuTable.plain, html: breakdown.html! + gpuTable.html!, json: json, table: gpuTable.table)
    }
}
