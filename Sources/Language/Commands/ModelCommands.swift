import Foundation
import FinchCheckpoint
import FinchExperiment
import FinchModels
import FinchPlot
import FinchQuantization
import FinchTensor
import FinchTokenizers

/// model load, model info, tokenize, embed.
enum ModelCommands {
    static let all: [CommandSpec] = [load, info, tokenize, embed]

    static let load = CommandSpec(
        "model load", group: .model, summary: "Load a Hugging Face model folder (config.json, *.safetensors, tokenizer files) or a GGUF file",
        positionals: [ArgumentSpec("model", .path, optional: false, help: "A model folder or .gguf file, or the name of one under $FINCH_MODELS")],
        options: [
            ArgumentSpec("task", .choice(ModelTask.allCases.map(\.rawValue)), default: "classify",
                         help: "classify: a sequence-classification head over the pooled output; embed: sentence vectors only; causal-lm: a Llama-family decoder (chosen by itself for decoders)"),
            ArgumentSpec("labels", .integer(min: 2, max: 10_000), help: "Classes of the head (default: the loaded data's labels, else the model's own)"),
            ArgumentSpec("seed", .integer(min: 0), help: "Seed for a freshly initialised head (default: the session seed)"),
            ArgumentSpec("chat_format", .choice(["auto", "none"] + ChatTemplateFamily.allCases.map { $0.rawValue.lowercased() }), default: "auto",
                         help: "Decoders: the chat format prompts and examples are written in (auto: the one the model's files name; none: plain text)"),
        ],
        details: "A classification head missing from the checkpoint is initialised as transformers does. Llama-family decoders (a folder whose config.json says llama, mistral or qwen2, or a GGUF file, whose metadata carries the tokenizer and chat template) load as causal LMs for generate and prompt/response fine-tuning. Loading a model clears the adapter and the last run; the data stays.",
        example: "model load \"all-MiniLM-L6-v2\"\nmodel load \"multilingual-e5-small\" task=embed\nmodel load \"SmolLM2-135M-Instruct-GGUF\"") { call in
        let folder = try modelFolder(call)
        let decoder = CausalLanguageModel.isDecoder(at: folder)
        if decoder, call.string("task") == ModelTask.embed.rawValue {
            throw call.error("\(call.string("model")!) is a decoder; load it with task=causal-lm (the default) or task=classify", at: "task")
        }
        if decoder, call.string("task") != ModelTask.classify.rawValue {
            return try CausalCommands.install(call, source: folder)
        }
        let task = ModelTask(rawValue: call.string("task", default: "classify"))!
        if task == .causalLM {
            throw call.error("\(call.string("model")!) is not a Llama-family decoder (its config.json names another model type)", at: "task")
        }
        let labelsInConfig = decoder ? [] : try EncoderConfig.load(folder: folder).labels
        var names: [String] = []
        if task == .classify {
            if let count = call.int("labels") {
                names = call.dataset.labelNames.count == count ? call.dataset.labelNames : (0..<count).map { "LABEL_\($0)" }
            } else if !call.dataset.labelNames.isEmpty {
                names = call.dataset.labelNames
            } else if labelsInConfig.count >= 2 {
                names = labelsInConfig
            } else {
                throw call.error("the head needs a number of classes", at: "model",
                                 notes: ["load data first (data load …), or give labels=N"])
            }
        }
        if task == .classify, names.count < 2 {
            throw call.error("a classifier needs at least 2 labels; the data has only \(names.first.map { "'\($0)'" } ?? "none")", at: "model",
                             notes: ["check the label column, or give labels=N"])
        }
        let seed = call.int("seed").map(UInt64.init) ?? call.interpreter.seed
        if decoder { return try CausalCommands.install(call, source: folder, labelNames: names, seed: seed) }
        try install(call, folder: folder, task: task, labelNames: names, seed: seed)
        return try info.run(call)
    }

    static let info = CommandSpec(
        "model info", group: .model, summary: "Show the loaded model: family, sizes, parameters, head, training method",
        example: "model info") { call in
        let session = call.trainer
        if session.causal != nil { return CausalCommands.info(call) }
        let (encoder, _) = try session.model()
        let c = encoder.config
        var rows: [[String]] = [
            ["model", session.modelName], ["folder", shownFolder(call)], ["family", "\(c.family)"],
            ["layers", "\(c.layerCount)"], ["hidden size", "\(c.hiddenSize)"], ["attention heads", "\(c.headCount)"],
            ["intermediate size", "\(c.intermediateSize)"], ["vocabulary", Render.grouped(c.vocabularySize)],
            ["max positions", "\(c.usablePositions)"], ["parameters", Render.grouped(encoder.baseParameterCount)],
            ["task", session.task.rawValue],
        ]
        if !session.labelNames.isEmpty { rows.append(["labels", session.labelNames.joined(separator: ", ")]) }
        let base = baseWeights(encoder)
        rows.append(["base weights", base.text])
        rows.append(["training", session.method.map(AdapterCommands.describe) ?? "not set (lora, qlora, bitfit or full)"])
        return Render.properties(rows, json: .object([
            ("model", .string(session.modelName)), ("family", .string("\(c.family)")), ("layers", JSONValue(c.layerCount)),
            ("hidden_size", JSONValue(c.hiddenSize)), ("heads", JSONValue(c.headCount)), ("vocab_size", JSONValue(c.vocabularySize)),
            ("parameters", JSONValue(encoder.baseParameterCount)), ("task", .string(session.task.rawValue)),
            ("labels", JSONValue(session.labelNames)), ("quantized_layers", JSONValue(base.quantized)),
            ("quant", base.format.map { .string($0.type.rawValue) } ?? .null),
        ]))
    }

    /// How the base linear layers are held: "float32", or "4-bit nf4, block 64, double quantization (37 of 38 linear layers)".
    static func baseWeights(_ encoder: Encoder) -> (text: String, quantized: Int, format: FourBitFormat?) {
        let linears = encoder.blockLinears + [encoder.pooler, encoder.head?.dense, encoder.head?.output].compactMap { $0 }
        let formats = linears.compactMap { $0.quantized?.format }
        guard let format = formats.first else { return ("float32", 0, nil) }
        let kinds = Set(formats.map(\.description)).sorted().joined(separator: "; ")
        return ("4-bit \(kinds) (\(formats.count) of \(linears.count) linear layers); the rest float32", formats.count, format)
    }

    static let tokenize = CommandSpec(
        "tokenize", group: .model, summary: "Token ids and tokens of texts, as transformers' AutoTokenizer gives them",
        positionals: [ArgumentSpec("text", .string, optional: false, repeats: true, help: "Texts to tokenize")],
        options: [ArgumentSpec("max_length", .integer(min: 1), help: "Truncate to this many tokens (special tokens included)")],
        example: "tokenize \"আমি খুব খুশি\" \"ami khub happy\"") { call in
        guard let tokenizer = call.trainer.tokenizer else { _ = try call.trainer.model(); return nil }
        var plain: [String] = [], json: [JSONValue] = [], rows: [[String]] = []
        for text in call.strings("text") {
            let encoding = tokenizer.encode(text, maxLength: call.int("max_length"))
            plain.append("\(encoding.count) tokens: \(text)\n  ids:    \(encoding.ids.map(String.init).joined(separator: " "))\n  tokens: \(encoding.tokens.joined(separator: " "))")
            rows.append([text, "\(encoding.count)", encoding.tokens.joined(separator: " "), encoding.ids.map(String.init).joined(separator: " ")])
            json.append(.object([("text", .string(text)), ("ids", .array(encoding.ids.map { JSONValue($0) })), ("tokens", JSONValue(encoding.tokens))]))
        }
        return Output(plain: plain.joined(separator: "\n"), html: HTML.table(columns: ["text", "count", "tokens", "ids"], rows: rows),
                      json: json.count == 1 ? json[0] : .array(json))
    }

    static let embed = CommandSpec(
        "embed", group: .model, summary: "Sentence embeddings of texts from the model (with its adapter), and their cosine similarities",
        positionals: [ArgumentSpec("text", .string, optional: false, repeats: true, help: "Texts to embed")],
        options: [
            ArgumentSpec("pool", .choice(Pooling.allCases.map(\.rawValue)), default: "mean", help: "mean over real tokens (sentence-transformers) or the first token"),
            ArgumentSpec("normalize", .bool, default: "true", help: "L2-normalise each vector"),
            ArgumentSpec("prefix", .string, default: "\"\"", help: "Text put before each input, e.g. \"query: \" for e5 models"),
            ArgumentSpec("show", .integer(min: 0, max: 4096), default: "6", help: "Leading dimensions printed per vector"),
        ],
        example: "embed \"আমি খুব খুশি\" \"ami khub khushi\" \"I am very happy\" prefix=\"query: \"") { call in
        let (encoder, tokenizer) = try call.trainer.model()
        let texts = call.strings("text")
        let prefix = call.string("prefix", default: "")
        let vectors = try FinchExperiment.embed(texts.map { prefix + $0 }, encoder: encoder, tokenizer: tokenizer,
                                                pooling: Pooling(rawValue: call.string("pool", default: "mean"))!,
                                                normalize: call.bool("normalize", default: true))
        let h = vectors.shape[1], show = min(call.int("show", default: 6), h)
        let similarities = cosineSimilarities(vectors)
        var plain = ["\(texts.count) × \(h) vectors (\(call.string("pool", default: "mean")) pooling)"]
        for (row, text) in texts.enumerated() {
            plain.append("[\(row)] " + (0..<show).map { String(format: "%+.4f", vectors[row * h + $0]) }.joined(separator: " ") + " …  " + text)
        }
        let labels = texts.indices.map { "[\($0)]" }
        let table = similarities.enumerated().map { row, values in [labels[row]] + values.map { String(format: "%.3f", $0) } }
        plain += ["cosine similarity", TextTable.render(columns: [""] + labels, rows: table)]
        let heatmap = Heatmap(title: "Cosine similarity", rowLabel: "text", columnLabel: "text", rowNames: labels, columnNames: labels,
                              values: similarities.map { $0.map(Double.init) })
        let legend = texts.enumerated().map { "<li>[\($0)] \(HTML.escape($1))</li>" }.joined()
        return Output(
            plain: plain.joined(separator: "\n"),
            html: "<ol style=\"list-style:none\">\(legend)</ol>" + HTML.table(columns: [""] + labels, rows: table) + HTML.image(svg: heatmap.svg(width: 360, height: 320)),
            json: .object([
                ("texts", JSONValue(texts)),
                ("embeddings", .array((0..<texts.count).map { r in .array((0..<h).map { JSONValue(vectors[r * h + $0]) }) })),
                ("similarities", .array(similarities.map { .array($0.map { JSONValue($0) }) })),
            ]))
    }

    /// The model's folder as the user can write it: `$FINCH_MODELS/NAME` for a named model, else as given
    /// (so printed output is the same on every machine).
    static func shownFolder(_ call: Invocation) -> String {
        guard let folder = call.trainer.modelFolder else { return "" }
        let models = call.interpreter.modelsDirectory.standardizedFileURL.path
        if folder.standardizedFileURL.path.hasPrefix(models + "/") { return "$FINCH_MODELS/" + folder.lastPathComponent }
        let here = call.interpreter.workingDirectory.standardizedFileURL.path
        let path = folder.standardizedFileURL.path
        return path.hasPrefix(here + "/") ? String(path.dropFirst(here.count + 1)) : path
    }

    /// The folder a `model` argument names: a path, or a name under the models folder.
    static func modelFolder(_ call: Invocation) throws -> URL {
        let text = call.string("model")!
        let direct = call.interpreter.resolve(path: text)
        if FileManager.default.fileExists(atPath: direct.appendingPathComponent("config.json").path) { return direct }
        let named = call.interpreter.modelsDirectory.appendingPathComponent(text)
        if FileManager.default.fileExists(atPath: named.appendingPathComponent("config.json").path) { return named }
        for candidate in [direct, named] where CausalLanguageModel.ggufFile(at: candidate).map({ FileManager.default.fileExists(atPath: $0.path) }) == true {
            return candidate
        }
        let available = (try? FileManager.default.contentsOfDirectory(atPath: call.interpreter.modelsDirectory.path))?
            .filter { FileManager.default.fileExists(atPath: call.interpreter.modelsDirectory.appendingPathComponent($0 + "/config.json").path) }
            .sorted() ?? []
        var notes = ["looked in \(direct.path) and \(named.path)"]
        if let guess = Suggestions.closest(to: text, among: available) { notes.insert("did you mean '\(guess)'?", at: 0) }
        if !available.isEmpty { notes.append("models in \(call.interpreter.modelsDirectory.path): " + available.joined(separator: ", ")) }
        throw call.error("no model folder (with config.json or one .gguf file) at '\(text)'", at: "model", notes: notes)
    }

    /// Loads the model into the trainer session, replacing the model, its method and last run.
    static func install(_ call: Invocation, folder: URL, task: ModelTask, labelNames: [String], seed: UInt64) throws {
        let tokenizer = try AutoTokenizer.load(from: folder)
        let encoder = try EncoderLoader.load(folder: folder, task: task == .embed ? .embed : .classify(labels: labelNames.count, seed: seed))
        let session = call.trainer
        session.resetTraining()
        session.modelFolder = folder
        session.modelName = folder.lastPathComponent
        session.task = task
        session.tokenizer = tokenizer
        session.encoder = encoder
        try session.applyPrecision()
        session.labelNames = labelNames
        session.headSeed = seed
    }
}
