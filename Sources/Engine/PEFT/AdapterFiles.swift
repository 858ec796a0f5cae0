import Foundation
import FinchCheckpoint
import FinchModels
import FinchTensor

/// Adapters on disk in Hugging Face PEFT's layout: `adapter_config.json` + `adapter_model.safetensors`,
/// with PEFT's key names, so `PeftModel.from_pretrained` loads what Finch saves and Finch loads what
/// PEFT saves:
///   base_model.model.<module>.lora_A.weight / .lora_B.weight      adapters
///   base_model.model.<module>.lora_magnitude_vector                DoRA magnitudes
///   base_model.model.<module>.base_layer.bias                     biases of adapted layers (bias ≠ none)
///   base_model.model.<module>.bias                                other trained biases (bias = all)
///   base_model.model.<module>.weight / .bias                      modules_to_save (the head, a fresh pooler)
public enum AdapterFiles {
    static let keyPrefix = "base_model.model."

    /// Writes the adapter folder as a whole (`AtomicFolder`: the two files change together; other files in it stay). `baseModel` is recorded as base_model_name_or_path.
    public static func save(_ model: LoRAModel, to folder: URL, baseModel: String) throws {
        guard !model.isMerged else { throw PEFTError("unmerge the adapters before saving them") }
        let config = model.configuration
        var tensors: [String: SafetensorsWriter.Payload] = [:]
        let adaptedNames = Set(model.adapted.map(\.linear.name))
        tensors.merge(adapterTensors(model.adapted)) { $1 }
        for (name, bias) in trainedBiases(model) {
            let module = String(name.dropLast(".bias".count))
            let key = adaptedNames.contains(module) ? module + ".base_layer.bias" : name
            tensors[keyPrefix + key] = .float(bias)
        }
        for linear in model.savedModules {
            tensors[keyPrefix + linear.name + ".weight"] = .float(linear.isQuantized ? linear.weightCopy() : linear.weight)
            if let bias = linear.bias { tensors[keyPrefix + linear.name + ".bias"] = .float(bias) }
        }
        let targets: Any
        switch config.targets {
        case .allLinear: targets = "all-linear"
        case let .modules(names): targets = names
        }
        let json: [String: Any] = [
            "peft_type": "LORA", "task_type": "SEQ_CLS", "base_model_name_or_path": baseModel,
            "r": config.rank, "lora_alpha": Double(config.alpha), "lora_dropout": Double(config.dropout),
            "target_modules": targets, "use_rslora": config.rankStabilized, "bias": config.bias.rawValue,
            "modules_to_save": modulesToSave(model), "use_dora": config.useDoRA, "fan_in_fan_out": false,
            "init_lora_weights": true, "inference_mode": true, "revision": NSNull(),
        ]
        let configData = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try AtomicFolder.write(folder, keepingOtherFiles: true) { temporary in
            try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: temporary.appendingPathComponent("adapter_model.safetensors"))
            try AtomicFile.write(configData, to: temporary.appendingPathComponent("adapter_config.json"))
        }
    }

    /// Attaches the adapters of a PEFT folder to `encoder` and loads every saved tensor into place.
    public static func load(from folder: URL, into encoder: Encoder) throws -> LoRAModel {
        let config = try readConfiguration(folder.appendingPathComponent("adapter_config.json"))
        let reader = try AdapterTensorReader(folder: folder)
        let model = try LoRAModel(encoder: encoder, configuration: config, seed: 0)
        func assign(_ key: String, to tensor: Tensor) throws { try reader.assign(key, to: tensor) }
        try reader.assignAdapters(model.adapted)
        let adaptedNames = Set(model.adapted.map(\.linear.name))
        for (name, bias) in trainedBiases(model) {
            let module = String(name.dropLast(".bias".count))
            try assign(adaptedNames.contains(module) ? module + ".base_layer.bias" : name, to: bias)
        }
        for linear in model.savedModules {
            linear.dequantize()  // a module trained in full holds fp32 weights (overwritten here)
            try assign(linear.name + ".weight", to: linear.weight)
            if let bias = linear.bias { try assign(linear.name + ".bias", to: bias) }
        }
        // Any other saved module (e.g. a pooler PEFT was told to save) replaces the base weights too.
        for key in reader.unusedKeys {
            let name = String(key.dropFirst(keyPrefix.count))
            guard key.hasPrefix(keyPrefix), let linear = (encoder.blockLinears + [encoder.pooler].compactMap { $0 })
                .first(where: { name == $0.name + ".weight" || name == $0.name + ".bias" }) else {
                throw PEFTError("\(reader.url.path): tensor \"\(key)\" does not belong to any layer of this model")
            }
            if name.hasSuffix(".weight") { linear.dequantize() }
            guard let target = name.hasSuffix(".weight") ? linear.weight : linear.bias else {
                throw PEFTError("\(reader.url.path): tensor \"\(key)\" is a bias, but \(linear.name) has none")
            }
            try assign(name, to: target)
        }
        return model
    }

    /// lora_A, lora_B and DoRA magnitudes of adapted layers under PEFT's keys.
    static func adapterTensors(_ adapted: [(linear: Linear, adapter: LoRAAdapter)]) -> [String: SafetensorsWriter.Payload] {
        var tensors: [String: SafetensorsWriter.Payload] = [:]
        for (linear, adapter) in adapted {
            tensors[keyPrefix + linear.name + ".lora_A.weight"] = .float(adapter.a)
            tensors[keyPrefix + linear.name + ".lora_B.weight"] = .float(adapter.b)
            if let dora = adapter.dora { tensors[keyPrefix + linear.name + ".lora_magnitude_vector"] = .float(dora.magnitude) }
        }
        return tensors
    }

    /// The biases PEFT saves for this model's bias mode, by state-dict name.
    static func trainedBiases(_ model: LoRAModel) -> [(String, Tensor)] {
        let biased = model.biasedLayers
        return biased.linears.compactMap { l in l.bias.map { (l.name + ".bias", $0) } } + biased.norms.map { ($0.name + ".bias", $0.bias) }
    }


    /// Head module names that PEFT adds to modules_to_save for sequence classification by itself.
    static let headModuleNames = ["classifier", "score", "pre_classifier"]

    /// PEFT's modules_to_save for this model: the head's module, the pooler when it was fresh, and the
    /// configuration's own.
    static func modulesToSave(_ model: LoRAModel) -> [String] {
        var names = ["classifier"]
        if model.encoder.config.family == .distilbert { names.append("pre_classifier") }
        if model.encoder.freshModules.contains(where: { $0.hasSuffix("pooler.dense") }) { names.append("pooler") }
        for name in model.configuration.modulesToSave where !names.contains(name) { names.append(name) }
        return names
    }

    static func readConfiguration(_ url: URL) throws -> LoRAConfiguration {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw PEFTError("\(url.path): missing (an adapter folder needs adapter_config.json and adapter_model.safetensors)")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) } catch {
            throw PEFTError("\(url.path): not valid JSON (\(error.localizedDescription))")
        }
        guard let json = object as? [String: Any] else { throw PEFTError("\(url.path): top level is not a JSON object") }
        func fail(_ key: String, _ problem: String) -> PEFTError { PEFTError("\(url.path): key \"\(key)\" \(problem)") }
        let type = json["peft_type"] as? String ?? "LORA"
        guard type == "LORA" else { throw fail("peft_type", "is \"\(type)\"; Finch loads LORA adapters") }
        guard let rank = (json["r"] as? NSNumber)?.intValue, rank > 0 else { throw fail("r", "must be a positive integer") }
        let alpha = (json["lora_alpha"] as? NSNumber)?.floatValue ?? 8
        let targets: LoRATargets
        if let text = json["target_modules"] as? String {
            guard text == "all-linear" else { throw fail("target_modules", "is the regular expression \"\(text)\"; give a list of names or \"all-linear\"") }
            targets = .allLinear
        } else if let names = json["target_modules"] as? [String], !names.isEmpty {
            targets = .modules(names)
        } else {
            throw fail("target_modules", "must be a list of module names or \"all-linear\"")
        }
        let biasName = json["bias"] as? String ?? "none"
        guard let bias = LoRABias(rawValue: biasName) else {
            throw fail("bias", "is \"\(biasName)\"; expected none, all or lora_only")
        }
        let saved = (json["modules_to_save"] as? [String] ?? []).filter { !headModuleNames.contains($0) }
        return LoRAConfiguration(rank: rank, alpha: alpha, dropout: (json["lora_dropout"] as? NSNumber)?.floatValue ?? 0,
                                 targets: targets, rankStabilized: json["use_rslora"] as? Bool ?? false, bias: bias,
                                 modulesToSave: saved.reduce(into: []) { if !$0.contains($1) { $0.append($1) } },
                                 useDoRA: json["use_dora"] as? Bool ?? false)
    }
}

/// Reads an adapter folder's `adapter_model.safetensors` into a model's tensors by PEFT key, keeping
/// track of the keys used.
final class AdapterTensorReader {
    let url: URL
    private let file: SafetensorsFile
    private var used = Set<String>()

    init(folder: URL) throws {
        url = folder.appendingPathComponent("adapter_model.safetensors")
        file = try SafetensorsFile(url: url)
    }

    /// Whether the file holds `base_model.model.<key>`.
    func has(_ key: String) -> Bool { file.entries[AdapterFiles.keyPrefix + key] != nil }

    /// Copies `base_model.model.<key>` into `tensor`; a missing key or another shape is an error naming both.
    func assign(_ key: String, to tensor: Tensor) throws {
        let full = AdapterFiles.keyPrefix + key
        guard file.entries[full] != nil else { throw PEFTError("\(url.path): missing tensor \"\(full)\"") }
        let loaded = try file.tensor(full)
        guard loaded.shape == tensor.shape else {
            throw PEFTError("\(url.path): tensor \"\(full)\" has shape \(loaded.shape) but the model needs \(tensor.shape)")
        }
        tensor.makeWritable()
        tensor.data.update(from: loaded.data, count: tensor.count)
        used.insert(full)
    }

    /// lora_A, lora_B (and DoRA magnitudes) of every adapted layer.
    func assignAdapters(_ adapted: [(linear: Linear, adapter: LoRAAdapter)]) throws {
        for (linear, adapter) in adapted {
            try assign(linear.name + ".lora_A.weight", to: adapter.a)
            try assign(linear.name + ".lora_B.weight", to: adapter.b)
            if let dora = adapter.dora { try assign(linear.name + ".lora_magnitude_vector", to: dora.magnitude) }
        }
    }

    /// Keys not loaded yet, leaving out PEFT's duplicate copies (the frozen original of a modules_to_save
    /// module and the second copy of a trained one).
    var unusedKeys: [String] {
        file.names.filter { !used.contains($0) && !$0.contains(".original_module.") && !$0.contains(".modules_to_save.") }
    }
}
