import Foundation
import FinchPEFT

/// save adapter, load adapter, merge, unmerge.
enum FileCommands {
    static let all: [CommandSpec] = [saveAdapter, loadAdapter, merge, unmerge]

    static let saveAdapter = CommandSpec(
        "save adapter", group: .files, summary: "Write the LoRA adapter in PEFT's layout (adapter_config.json + adapter_model.safetensors)",
        positionals: [ArgumentSpec("folder", .path, optional: false, help: "Folder to write (created if needed)")],
        options: [ArgumentSpec("overwrite", .bool, default: "false", help: "Replace a folder that holds other files")],
        details: "The folder loads with peft.PeftModel.from_pretrained(base_model, folder). Files are written atomically: an interrupted save leaves the previous adapter intact.",
        example: "save adapter \"adapters/banglish-lora\"") { call in
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
        _ = try AdapterCommands.prepareFreshModel(call)
        let (encoder, _) = try call.trainer.classifier()
        let model = try AdapterFiles.load(from: folder, into: encoder)
        call.trainer.adapters = model
        call.trainer.method = .lora(model.configuration)
        call.trainer.parameters = model.trainableParameters()
        return AdapterCommands.counts(call, prefix: "adapter loaded from \(call.string("folder")!)")
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
