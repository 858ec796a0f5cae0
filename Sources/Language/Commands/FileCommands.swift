import Foundation
import FinchModels
import FinchPEFT

/// save adapter, load adapter, save model, merge, unmerge.
enum FileCommands {
    static let all: [CommandSpec] = [saveAdapter, loadAdapter, saveModel, merge, unmerge]

    static let saveAdapter = CommandSpec(
        "save adapter", group: .files, summary: "Write the LoRA adapter in PEFT's layout (adapter_config.json + adapter_model.safetensors)",
        positionals: [ArgumentSpec("folder", .path, optional: false, help: "Folder to write (created if needed)")],
        options: [ArgumentSpec("overwrite", .bool, default: "false", help: "Replace a folder that holds other files")],
        details: "The folder loads with peft.PeftModel.from_pretrained(base_model, folder). Files are written atomically: an interrupted save leaves the previous adapter intact.",
        example: "save adapter \"adapters/banglish-lora\"") { call in
        if let lora = call.trainer.decoderAdapters {
            let folder = call.interpreter.resolve(path: call.string("folder")!)
            try lora.save(to: folder, baseModel: call.trainer.modelFolder?.path ?? call.trainer.modelName)
            return Output(plain: "adapter saved to \(call.string("folder")!)/ (adapter_config.json, adapter_model.safetensors; CAUSAL_LM)",
                          json: .object([("folder", .string(folder.path)), ("task_type", .string("CAUSAL_LM"))]))
        }
        guard let adapters = call.trainer.adapters else {
            throw SessionError("there is no adapter to save", hint: "attach one with lora r=16 (bitfit and full change the model itself)")
        }
        let folder = call.interpreter.resolve(path: call.string("folder")!)
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let foreign = existing.filter { !["adapter_config.json", "adapter_model.safetensors", "README.md"].contains($0) && !$0.hasPrefix(".") }
        if !foreign.isEmpty, !call.bool("overwrite", default: false) {
            let answer = try call.ask("\(call.string("folder")!) holds other files (\(foreign.prefix(3).joined(separator: ", "))); write the adapter there anyway? [y/N] ",
                                      otherwise: "pass overwrite=true to write into a folder that holds other files")
            guard answer.lowercased().hasPrefix("y") else { return Output(plain: "not saved") }
        }
        try AdapterFiles.save(adapters, to: folder, baseModel: call.trainer.modelFolder?.path ?? call.trainer.modelName)
        let files = ["adapter_config.json", "adapter_model.safetensors"]
        let bytes = files.compactMap { try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent($0).path)[.size] as? Int }.reduce(0, +)
        return Output(plain: "adapter saved to \(call.string("folder")!)/ (\(files.joined(separator: ", ")); \(Render.grouped(bytes)) bytes)",
                      json: .object([("folder", .string(folder.path)), ("files", JSONValue(files)), ("bytes", JSONValue(bytes))]))
    }

    static let loadAdapter = CommandSpec(
        "load adapter", group: .files, summary: "Attach a PEFT adapter folder to the loaded model (replacing the current method)",
        positionals: [ArgumentSpec("folder", .path, optional: false, help: "A folder with adapter_config.json and adapter_model.safetensors")],
        example: "load adapter \"adapters/banglish-lora\"") { call in
        let folder = try call.existingPath("folder", what: "folder")
        for file in ["adapter_config.json", "adapter_model.safetensors"]
        where !FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path) {
            throw call.error("\(call.string("folder")!) has no \(file): not a PEFT adapter folder", at: "folder")
        }
        if call.trainer.causal != nil {
            _ = try CausalCommands.prepareFreshModel(call)
            let lora = try DecoderLoRA.load(from: folder, into: try call.trainer.causalModel().model)
            call.trainer.decoderAdapters = lora
            call.trainer.method = .lora(lora.configuration)
            call.trainer.parameters = lora.trainableParameters()
            return CausalCommands.counts(call, prefix: "adapter loaded from \(call.string("folder")!)")
        }
        _ = try AdapterCommands.prepareFreshModel(call)
        let (encoder, _) = try call.trainer.classifier()
        let model = try AdapterFiles.load(from: folder, into: encoder)
        call.trainer.adapters = model
        call.trainer.method = .lora(model.configuration)
        call.trainer.parameters = model.trainableParameters()
        return AdapterCommands.counts(call, prefix: "adapter loaded from \(call.string("folder")!)")
    }

    static let saveModel = CommandSpec(
        "save model", group: .files, summary: "Write the base model as a Hugging Face folder (4-bit layers in bitsandbytes' layout after qlora)",
        positionals: [ArgumentSpec("folder", .path, optional: false, help: "Folder to write (replaced as a whole once complete)")],
        options: [ArgumentSpec("overwrite", .bool, default: "false", help: "Replace a folder that holds other files")],
        details: """
        Writes config.json, model.safetensors and the tokenizer files of the loaded model's folder. Layers that qlora holds in 4 bits \
        are written as transformers saves a BitsAndBytesConfig(load_in_4bit=True) model (packed weight, absmax, quant_map, nested \
        statistics, quant_state; quantization_config in config.json), so the folder loads with \
        AutoModelForSequenceClassification.from_pretrained(folder) and with model load; other weights are float32. An attached \
        adapter is not part of the base: write it with save adapter. The folder is written beside the destination, then renamed \
        into place.
        """,
        example: "qlora r=16 alpha=32\nsave model \"models/minilm-nf4\"") { call in
        let (encoder, _) = try call.trainer.model()
        guard let source = call.trainer.modelFolder else {
            throw SessionError("the model has no source folder to take config.json and the tokenizer from", hint: "load one with model load")
        }
        let folder = call.interpreter.resolve(path: call.string("folder")!)
        let known = Set(["config.json", "model.safetensors"] + EncoderWriter.tokenizerFiles)
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let foreign = existing.filter { !known.contains($0) && !$0.hasPrefix(".") }.sorted()
        if !foreign.isEmpty, !call.bool("overwrite", default: false) {
            let answer = try call.ask("\(call.string("folder")!) holds other files (\(foreign.prefix(3).joined(separator: ", "))) that saving replaces; go on? [y/N] ",
                                      otherwise: "pass overwrite=true to replace a folder that holds other files")
            guard answer.lowercased().hasPrefix("y") else { return Output(plain: "not saved") }
        }
        let report = try EncoderWriter.save(encoder, labels: call.trainer.labelNames, source: source, to: folder)
        var lines = ["model saved to \(call.string("folder")!)/ (\(report.files.joined(separator: ", ")); \(Render.grouped(report.bytes)) bytes)"]
        if let format = report.format {
            lines.append("\(report.quantizedLayers) linear layers in 4 bits (\(format)), bitsandbytes' layout; other weights float32")
        }
        if let adapters = call.trainer.adapters {
            lines.append(adapters.isMerged
                ? "the merged adapter is part of these weights"
                : "only the base model is written: the adapter is not in it (write it with save adapter)")
        }
        return Output(plain: lines.joined(separator: "\n"), json: .object([
            ("folder", .string(folder.path)), ("files", JSONValue(report.files)), ("bytes", JSONValue(report.bytes)),
            ("quantized_layers", JSONValue(report.quantizedLayers)), ("quant", report.format.map { .string($0.type.rawValue) } ?? .null),
            ("adapter_included", .bool(call.trainer.adapters?.isMerged == true)),
        ]))
    }

    static let merge = CommandSpec(
        "merge", group: .files, summary: "Fold the adapter into the base weights (W += scale·B·A); faster inference",
        example: "merge\npredict \"ami khub khushi\"\nunmerge") { call in
        guard let adapters = call.trainer.adapters else { throw SessionError("there is no adapter to merge", hint: "attach one with lora or load adapter") }
        guard !adapters.isMerged else { throw SessionError("the adapter is already merged") }
        try adapters.merge()
        return Output(plain: "merged \(adapters.adapted.count) adapted layers into the base weights", json: .object([("merged", JSONValue(adapters.adapted.count))]))
    }

    static let unmerge = CommandSpec(
        "unmerge", group: .files, summary: "Take a merged adapter out of the base weights again",
        example: "unmerge") { call in
        guard let adapters = call.trainer.adapters, adapters.isMerged else { throw SessionError("no merged adapter", hint: "merge first") }
        try adapters.unmerge()
        return Output(plain: "unmerged \(adapters.adapted.count) adapted layers", json: .object([("unmerged", JSONValue(adapters.adapted.count))]))
    }
}
