import Foundation
import FinchData
import FinchExperiment
import FinchModels
import FinchPEFT
import FinchQuantization
import FinchTensor
import FinchTokenizers

/// Causal LMs (Llama-family decoders from a folder or a GGUF file): loading, methods, training with the
/// prompt masked, held-out loss and generated-answer scores, and `generate`.
enum CausalCommands {
    static let all: [CommandSpec] = [generate]

    // MARK: data

    /// Column pairs read as prompt/response data when data load names no columns.
    static let knownPairs = [("prompt", "response"), ("question", "answer"), ("instruction", "output"), ("prompt", "completion")]

    /// Whether `data load` should read prompt/response (or chat) data from this table.
    static func wantsGenerativeData(_ call: Invocation, table: Table) -> Bool {
        if call.has("prompt") || call.has("response") || call.has("messages") { return true }
        guard !call.has("text"), !call.has("label") else { return false }
        if table.columns.contains("text") && table.columns.contains("label") { return false }
        return table.columns.contains("messages") || knownPairs.contains { table.columns.contains($0.0) && table.columns.contains($0.1) }
    }

    /// Loads prompt/response rows (or chat conversations) into the dataset session.
    static func loadGenerative(_ call: Invocation, table: Table) throws -> Output {
        let session = call.dataset
        var prompts: [String] = [], responses: [String] = []
        var conversations: [[(role: String, content: String)]]?
        var description: String
        if call.has("messages") || (!call.has("prompt") && !knownPairs.contains { table.columns.contains($0.0) && table.columns.contains($0.1) }) {
            let column = try DataCommands.column(call, option: "messages", in: table)
            let index = try table.columnIndex(column)
            var parsed: [[(role: String, content: String)]] = []
            for (row, cells) in table.rows.enumerated() {
                let conversation = try parseConversation(cells[index], at: "\(table.source) line \(table.lines[row]), column '\(column)'")
                parsed.append(conversation)
                prompts.append(conversation.last { $0.role == "user" }?.content ?? "")
                responses.append(conversation.last { $0.role == "assistant" }?.content ?? "")
            }
            conversations = parsed
            description = "messages=\(column)"
        } else {
            let pair = knownPairs.first { table.columns.contains($0.0) && table.columns.contains($0.1) } ?? ("prompt", "response")
            let promptColumn = call.has("prompt") ? try DataCommands.column(call, option: "prompt", in: table) : pair.0
            let responseColumn = call.has("response") ? try DataCommands.column(call, option: "response", in: table) : pair.1
            for name in [promptColumn, responseColumn] where !table.columns.contains(name) {
                throw call.error("no column '\(name)' in \(call.string("file")!)", at: "file",
                                 notes: ["the columns are " + table.columns.map { "'\($0)'" }.joined(separator: ", "), "say which: prompt=COLUMN response=COLUMN"])
            }
            let (p, r) = (try table.columnIndex(promptColumn), try table.columnIndex(responseColumn))
            for (row, cells) in table.rows.enumerated() {
                guard !cells[p].isEmpty else {
                    throw call.error("\(table.source) line \(table.lines[row]): the prompt ('\(promptColumn)') is empty", at: "file")
                }
                prompts.append(cells[p])
                responses.append(cells[r])
            }
            description = "prompt=\(promptColumn), response=\(responseColumn)"
        }
        guard !prompts.isEmpty else { throw call.error("\(call.string("file")!) has no rows", at: "file") }
        session.reset()
        session.source = call.string("file")
        session.table = table
        session.textColumn = description
        session.rows = LabeledTexts(texts: prompts, labels: [Int](repeating: 0, count: prompts.count), labelNames: ["response"])
        session.responses = responses
        session.conversations = conversations
        let title = "loaded \(call.string("file")!): \(Render.grouped(prompts.count)) rows × \(table.columns.count) columns (\(table.columns.joined(separator: ", "))); \(description)"
        let lengths = responses.map { $0.count }.sorted()
        let line = "response characters: median \(lengths[lengths.count / 2]), longest \(lengths.last!)"
        return Output(plain: title + "\n" + line, html: "<p>\(HTML.escape(title))<br>\(HTML.escape(line))</p>",
                      json: .object([("source", .string(call.string("file")!)), ("rows", JSONValue(prompts.count)),
                                     ("columns", JSONValue(table.columns)), ("format", .string(conversations == nil ? "prompt-response" : "messages"))]))
    }

    /// A chat cell: a JSON array of {"role": …, "content": …} objects.
    static func parseConversation(_ cell: String, at place: String) throws -> [(role: String, content: String)] {
        guard let array = try? JSONSerialization.jsonObject(with: Data(cell.utf8)) as? [[String: Any]] else {
            throw SessionError("\(place): not a JSON array of {\"role\", \"content\"} messages")
        }
        return try array.enumerated().map { index, message in
            guard let role = message["role"] as? String, let content = message["content"] as? String else {
                throw SessionError("\(place): message \(index) needs string \"role\" and \"content\" fields")
            }
            guard ["system", "user", "assistant"].contains(role) else {
                throw SessionError("\(place): message \(index) has role \"\(role)\"; expected system, user or assistant")
            }
            return (role, content)
        }
    }

    /// The segments of rows `indices` of the loaded data in the model's format.
    static func segments(_ call: Invocation, model: CausalLanguageModel, indices: [Int], chat: Bool) throws -> [[TextSegment]] {
        let session = call.dataset
        guard let rows = session.rows, let responses = session.responses else {
            throw SessionError("the loaded data has no responses to learn", hint: "load prompt/response data: data load \"gsm8k/train.jsonl\" prompt=question response=answer")
        }
        if let conversations = session.conversations {
            return try indices.map { try model.trainingSegments(conversation: conversations[$0]) }
        }
        return indices.map { model.trainingSegments(prompt: rows.texts[$0], response: responses[$0], chat: chat) }
    }

    /// Row indices of a split ("all": every row; "train": every row before any split).
    static func indices(_ call: Invocation, split: String) throws -> [Int] {
        let session = call.dataset
        let rows = try session.loaded()
        if split == "all" || (split == "train" && session.splits.isEmpty) { return Array(0..<rows.count) }
        guard let indices = session.splits[split], !indices.isEmpty else {
            throw SessionError("the '\(split)' split is empty or missing", hint: "split the data first: data split train=90% valid=0% test=10%")
        }
        return indices
    }

    // MARK: model

    /// Loads a decoder into the trainer session (replacing any model).
    static func install(_ call: Invocation, source: URL, labelNames: [String] = [], seed: UInt64 = 0) throws -> Output {
        let task: DecoderTask = labelNames.isEmpty ? .causalLM : .classify(labels: labelNames.count, seed: seed)
        let model = try CausalLanguageModel.load(from: source, task: task)
        switch call.string("chat_format", default: "auto") {
        case "auto": break
        case "none": model.chatTemplate = nil
        case let name:
            let family = ChatTemplateFamily.allCases.first { $0.rawValue.lowercased() == name }!
            model.chatTemplate = ChatTemplate(family: family, defaultSystemMessage: model.chatTemplate?.family == family ? model.chatTemplate?.defaultSystemMessage : nil)
        }
        let session = call.trainer
        session.reset()
        session.labelNames = labelNames
        session.headSeed = seed
        session.modelFolder = source
        session.modelName = source.pathExtension.lowercased() == "gguf" ? source.deletingLastPathComponent().lastPathComponent : source.lastPathComponent
        session.task = labelNames.isEmpty ? .causalLM : .classify
        session.tokenizer = model.tokenizer
        session.causal = model
        try session.applyPrecision()
        return info(call)
    }

    static func info(_ call: Invocation) -> Output {
        let session = call.trainer
        guard let lm = session.causal else { return Output(plain: "no model loaded") }
        let c = lm.model.config
        let linears = lm.model.blockLinears
        let quantized = linears.filter(\.isQuantized).count
        let rows: [[String]] = [
            ["model", session.modelName], ["source", lm.source.lastPathComponent], ["family", c.modelType],
            ["layers", "\(c.layerCount)"], ["hidden size", "\(c.hiddenSize)"],
            ["attention heads", "\(c.headCount) (key/value heads \(c.keyValueHeadCount), head size \(c.headSize))"],
            ["intermediate size", "\(c.intermediateSize)"], ["vocabulary", Render.grouped(c.vocabularySize)],
            ["context", Render.grouped(c.maxPositions)], ["rope θ", Value.format(c.ropeTheta)],
            ["tied embeddings", "\(c.tiesEmbeddings)"], ["parameters", Render.grouped(c.parameterCount)],
            ["chat format", lm.chatTemplate.map { "\($0.family.rawValue)" } ?? "none (plain prompts)"],
            ["task", session.task.rawValue + (session.task == .classify ? " (score head on the last token: \(session.labelNames.joined(separator: ", ")))" : "")],
            ["base weights", quantized == 0 ? "float32" : "4-bit \(linears.first { $0.isQuantized }!.quantized!.format) (\(quantized) of \(linears.count) block linear layers)"],
            ["training", session.method.map(AdapterCommands.describe) ?? "not set (lora, qlora or full)"],
        ]
        return Render.properties(rows, json: .object([
            ("model", .string(session.modelName)), ("family", .string(c.modelType)), ("layers", JSONValue(c.layerCount)),
            ("hidden_size", JSONValue(c.hiddenSize)), ("heads", JSONValue(c.headCount)), ("kv_heads", JSONValue(c.keyValueHeadCount)),
            ("vocab_size", JSONValue(c.vocabularySize)), ("parameters", JSONValue(c.parameterCount)),
            ("chat_format", lm.chatTemplate.map { .string($0.family.rawValue) } ?? .null), ("task", .string(session.task.rawValue)),
            ("quantized_layers", JSONValue(quantized)),
        ]))
    }

    /// Before a new method: removes adapters, and reloads the model when training or 4 bits changed it.
    static func prepareFreshModel(_ call: Invocation) throws -> String? {
        let session = call.trainer
        let lm = try session.causalModel()
        // A run changed the weights it trained (the score head trains in full beside adapters); qlora quantized the base.
        let changed = session.causalRun != nil || lm.model.blockLinears.contains(where: \.isQuantized)
        session.resetTraining()
        lm.model.freezeAll()  // `full` without a run left gradient buffers on every weight: nothing trains until asked
        guard changed else { return nil }
        session.causal = try CausalLanguageModel.load(from: lm.source, task: session.task == .classify
            ? .classify(labels: session.labelNames.count, seed: session.headSeed) : .causalLM)
        session.causal!.chatTemplate = lm.chatTemplate  // as chosen at load (chat_format=)
        try session.applyPrecision()
        session.tokenizer = session.causal!.tokenizer
        return "model reloaded from \(session.modelName): the previous method's changes are gone"
    }

    /// lora / qlora on a decoder.
    static func attach(_ call: Invocation, configuration: LoRAConfiguration, quantization: FourBitFormat?) throws -> Output {
        do { try DecoderLoRA.check(configuration, for: try call.trainer.causalModel().model) } catch let error as PEFTError {
            throw call.error("\(error)", at: call.has("targets") ? "targets" : nil)
        }
        var notes = [try prepareFreshModel(call)].compactMap { $0 }
        let model = try call.trainer.causalModel().model
        if let quantization {
            // As transformers' load_in_4bit: every block linear in 4 bits; embeddings, norms and lm_head stay fp32.
            let before = model.blockLinears.reduce(0) { $0 + $1.weightByteCount }
            for linear in model.blockLinears { try linear.quantize(quantization) }
            let after = model.blockLinears.reduce(0) { $0 + $1.weightByteCount }
            notes.append("quantized \(model.blockLinears.count) layers to \(quantization): \(Render.bytes(before)) → \(Render.bytes(after))")
        }
        let lora = try DecoderLoRA(model: model, configuration: configuration, seed: call.interpreter.seed)
        call.trainer.decoderAdapters = lora
        call.trainer.method = quantization.map { .qlora(configuration, $0) } ?? .lora(configuration)
        call.trainer.parameters = lora.trainableParameters()
        return counts(call, prefix: notes.joined(separator: "\n"))
    }

    /// full (or bitfit, which Llama-family blocks cannot do: they have no biases).
    static func setMethod(_ method: TrainingMethod, _ call: Invocation) throws -> Output {
        let lm = try call.trainer.causalModel()
        if method == .bitfit {
            let biases = lm.model.blockLinears.compactMap(\.bias).count
            guard biases > 0 else {
                throw SessionError("\(call.trainer.modelName) has no biases (Llama-family blocks use none), so BitFit has nothing to train",
                                   hint: "use lora r=16 targets=all-linear, qlora, or full")
            }
        }
        let note = try prepareFreshModel(call)
        let model = try call.trainer.causalModel().model
        if method == .full {
            call.trainer.parameters = model.prepareFullTraining()
        } else {
            model.freezeAll()
            call.trainer.parameters = model.blockLinears.filter { $0.bias != nil }.flatMap { linear -> [Parameter] in
                let g = Tensor(zeros: linear.bias!.shape)
                linear.bias!.makeWritable()
                linear.biasGradient = g
                return [Parameter(name: linear.name + ".bias", value: linear.bias!, gradient: g, decays: false)]
            }
        }
        call.trainer.method = method
        return counts(call, prefix: note)
    }

    static func counts(_ call: Invocation, prefix: String?) -> Output {
        let session = call.trainer
        let trainable = session.parameters.reduce(0) { $0 + $1.value.count }
        let total = session.decoderAdapters?.parameterCounts().total ?? session.causal?.model.config.parameterCount ?? 0
        let percent = total == 0 ? 0 : 100 * Double(trainable) / Double(total)
        let line = "trainable params: \(Render.grouped(trainable)) || all params: \(Render.grouped(total)) || trainable%: \(Render.fixed(percent))"
        let text = [prefix, session.method.map(AdapterCommands.describe), line].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "\n")
        return Output(plain: text, json: .object([("method", .string(session.method?.name ?? "")), ("trainable", JSONValue(trainable)),
                                                  ("total", JSONValue(total)), ("trainable_percent", JSONValue(percent))]))
    }

    // MARK: generate

    static let generate = CommandSpec(
        "generate", group: .metrics, summary: "Generate a reply from the causal LM (with its adapter), streaming tokens as they come",
        positionals: [ArgumentSpec("prompt", .string, optional: false, help: "The user's message (put in the model's chat format) or raw text with chat=false")],
        options: [
            ArgumentSpec("max_tokens", .integer(min: 1, max: 32_768), default: "64", help: "New tokens at most"),
            ArgumentSpec("temperature", .number(min: 0, max: 100), default: "0", help: "0: greedy (argmax); above 0: sample from softmax(logits / temperature)"),
            ArgumentSpec("top_k", .integer(min: 0), default: "50", help: "When sampling: keep the k most likely tokens (0: all)"),
            ArgumentSpec("top_p", .number(min: 0, max: 1), default: "1", help: "When sampling: keep the smallest set of tokens whose probability reaches p"),
            ArgumentSpec("min_p", .number(min: 0, max: 1), help: "When sampling: drop tokens below min_p × the top probability"),
            ArgumentSpec("repetition_penalty", .number(min: 0.01, max: 100), default: "1", help: "Divide (or multiply, when negative) the logits of tokens already present"),
            ArgumentSpec("stop", .list(.string), default: "[]", help: "Stop strings: the reply ends before the first one"),
            ArgumentSpec("seed", .integer(min: 0), help: "Seed for sampling (default: the session seed)"),
            ArgumentSpec("chat", .bool, default: "true", help: "Wrap the prompt in the model's chat format (when it has one)"),
            ArgumentSpec("system", .string, help: "A system message (chat format only)"),
        ],
        details: "Runs the prompt through the model once, then one token at a time with a key/value cache. Greedy decoding equals transformers' generate(do_sample=False); sampling applies repetition penalty, temperature, top-k, top-p and min-p as transformers does, drawing from Finch's seeded generator. The reply ends at the model's end-of-turn or EOS token, a stop string or max_tokens. Tokens are shown as they come.",
        example: "generate \"What is 7 times 8?\"\ngenerate \"Write a haiku about rain\" temperature=0.7 top_p=0.9 max_tokens=48 seed=1") { call in
        let lm = try call.trainer.causalModel()
        let prompt = lm.generationPrompt(call.string("prompt")!, system: call.string("system"), chat: call.bool("chat", default: true))
        let temperature = call.double("temperature", default: 0)
        let options = SamplingOptions(
            maxNewTokens: call.int("max_tokens", default: 64), doSample: temperature > 0, temperature: temperature > 0 ? temperature : 1,
            topK: call.int("top_k", default: 50), topP: call.double("top_p", default: 1), minP: call.double("min_p"),
            repetitionPenalty: call.double("repetition_penalty", default: 1),
            seed: call.int("seed").map(UInt64.init) ?? call.interpreter.seed, stopStrings: call.strings("stop"))
        call.trainer.decoderAdapters?.setTraining(false)
        let result = try lm.generate(prompt, options: options, cancellation: call.interpreter.cancellation) { piece in
            call.emit(.stream(toStandardError: false, text: piece))
        }
        call.emit(.stream(toStandardError: false, text: "\n"))
        let line = "[\(result.generatedTokens.count) tokens · \(String(format: "%.1f", result.tokensPerSecond)) tokens/s · prompt \(result.promptTokens) tokens in \(Render.duration(result.promptSeconds)) · stopped: \(result.stopReason)]"
        return Output(plain: line, html: "<pre>\(HTML.escape(line))</pre>",
                      json: .object([("text", .string(result.text)), ("tokens", JSONValue(result.generatedTokens.count)),
                                     ("ids", .array(result.generatedTokens.map { JSONValue($0) })), ("prompt_ids", .array(result.promptIds.map { JSONValue($0) })),
                                     ("logprobs", .array(result.logProbabilities.map { JSONValue($0) })),
                                     ("stop_reason", .string(result.stopReason)), ("tokens_per_second", JSONValue(result.tokensPerSecond))]))
    }
}
