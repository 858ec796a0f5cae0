import Foundation
import FinchCheckpoint
import FinchModels
import FinchTensor

/// A decoder with LoRA (rsLoRA, DoRA) adapters on some of its block linears — q_proj, k_proj, v_proj,
/// o_proj, gate_proj, up_proj, down_proj or all-linear (PEFT never adapts lm_head for all-linear) — saved
/// and loaded in PEFT's layout for LlamaForCausalLM (task_type CAUSAL_LM) or, with a score head,
/// LlamaForSequenceClassification (SEQ_CLS, `score` in modules_to_save).
public final class DecoderLoRA: @unchecked Sendable {
    public let model: DecoderModel
    public let configuration: LoRAConfiguration
    public let adapted: [(linear: Linear, adapter: LoRAAdapter)]

    /// Attaches fresh adapters (seeded) to the layers `configuration.targets` selects.
    public init(model: DecoderModel, configuration: LoRAConfiguration, seed: UInt64) throws {
        let targets = try Self.check(configuration, for: model)
        var random = SeededRandom(seed: seed)
        self.model = model
        self.configuration = configuration
        adapted = targets.map { linear in
            let adapter = LoRAAdapter(inFeatures: linear.inFeatures, outFeatures: linear.outFeatures, rank: configuration.rank,
                                      alpha: configuration.alpha, rankStabilized: configuration.rankStabilized,
                                      dropout: configuration.dropout, random: &random)
            if configuration.useDoRA { adapter.enableDoRA(base: linear) }
            linear.adapter = adapter
            return (linear, adapter)
        }
    }

    /// The layers `configuration` adapts in `model`, or the error `init` would throw.
    @discardableResult
    public static func check(_ configuration: LoRAConfiguration, for model: DecoderModel) throws -> [Linear] {
        guard configuration.rank > 0 else { throw PEFTError("r must be at least 1, got \(configuration.rank)") }
        guard (0..<1).contains(configuration.dropout) else { throw PEFTError("dropout must be in [0, 1), got \(configuration.dropout)") }
        guard configuration.bias == .none else { throw PEFTError("bias=\(configuration.bias.rawValue): Llama-family blocks have no biases to train; use bias=none") }
        let candidates = model.blockLinears
        switch configuration.targets {
        case .allLinear:
            return candidates
        case let .modules(names):
            let selected = candidates.filter { linear in names.contains { linear.name == $0 || linear.name.hasSuffix("." + $0) } }
            guard !selected.isEmpty else {
                throw PEFTError("targets \(names) match no linear layer of this model; its layer names end in: "
                                + "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj")
            }
            return selected
        }
    }

    /// Freezes the base model and returns the trainable parameters: every lora_A / lora_B (and DoRA
    /// magnitude) and the score head when there is one, named as PEFT's saved adapter files.
    public func trainableParameters() -> [Parameter] {
        model.freezeAll()
        var parameters: [Parameter] = []
        if let score = model.scoreHead { parameters += model.makeTrainable(score) }
        for (linear, adapter) in adapted { parameters += adapter.parameters(module: linear.name) }
        return parameters
    }

    /// Turns adapter dropout on (training) or off (evaluation, generation).
    public func setTraining(_ training: Bool) {
        for (_, adapter) in adapted { adapter.isTraining = training }
    }

    /// Removes the adapters from the model's layers.
    public func detach() {
        for (linear, _) in adapted { linear.adapter = nil }
    }

    /// Puts the adapters (back) on their layers.
    public func attach() {
        for (linear, adapter) in adapted { linear.adapter = adapter }
    }

    /// Parameters that train and parameters in all (PEFT's print_trainable_parameters).
    public func parameterCounts() -> (trainable: Int, total: Int) {
        let adapters = adapted.reduce(0) { $0 + $1.adapter.a.count + $1.adapter.b.count + ($1.adapter.dora?.magnitude.count ?? 0) }
        let score = model.scoreHead.map { $0.weight.count } ?? 0
        return (adapters + score, model.config.parameterCount + score + adapters)
    }

    /// Writes `adapter_config.json` + `adapter_model.safetensors` as PEFT does for this model.
    public func save(to folder: URL, baseModel: String) throws {
        var tensors = AdapterFiles.adapterTensors(adapted)
        if let score = model.scoreHead { tensors[AdapterFiles.keyPrefix + "score.weight"] = .float(score.weight) }
        let targets: Any
        switch configuration.targets {
        case .allLinear: targets = "all-linear"
        case let .modules(names): targets = names
        }
        let json: [String: Any] = [
            "peft_type": "LORA", "task_type": model.scoreHead == nil ? "CAUSAL_LM" : "SEQ_CLS", "base_model_name_or_path": baseModel,
            "r": configuration.rank, "lora_alpha": Double(configuration.alpha), "lora_dropout": Double(configuration.dropout),
            "target_modules": targets, "use_rslora": configuration.rankStabilized, "bias": "none",
            "modules_to_save": model.scoreHead == nil ? NSNull() as Any : ["score"] as Any, "use_dora": configuration.useDoRA,
            "fan_in_fan_out": false, "init_lora_weights": true, "inference_mode": true, "revision": NSNull(),
        ]
        let configData = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try AtomicFolder.write(folder, keepingOtherFiles: true) { temporary in
            try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: temporary.appendingPathComponent("adapter_model.safetensors"))
            try AtomicFile.write(configData, to: temporary.appendingPathComponent("adapter_config.json"))
        }
    }

    /// Attaches the adapters of a PEFT folder to `model` and loads every tensor into place; every key of
    /// the file must be used.
    public static func load(from folder: URL, into model: DecoderModel) throws -> DecoderLoRA {
        let config = try AdapterFiles.readConfiguration(folder.appendingPathComponent("adapter_config.json"))
        let reader = try AdapterTensorReader(folder: folder)
        let lora = try DecoderLoRA(model: model, configuration: config, seed: 0)
        try reader.assignAdapters(lora.adapted)
        if let score = model.scoreHead, reader.has("score.weight") { try reader.assign("score.weight", to: score.weight) }
        if let key = reader.unusedKeys.first {
            throw PEFTError("\(reader.url.path): tensor \"\(key)\" does not belong to any adapted layer of this model")
        }
        return lora
    }
}
