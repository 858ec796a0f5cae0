import Foundation
import FinchModels
import FinchPEFT
import FinchQuantization
import FinchTensor

/// lora, bitfit, full, params: how the next `train` changes the model.
enum AdapterCommands {
    static let all: [CommandSpec] = [lora, qlora, bitfit, full, params]

    /// The LoRA options `lora` and `qlora` share; `targets` defaults differ.
    static func loraOptions(targets: String) -> [ArgumentSpec] {
        [
            ArgumentSpec("r", .integer(min: 1, max: 4096), default: "16", help: "Rank of the update B·A"),
            ArgumentSpec("alpha", .number(min: 0), default: "32", help: "Scale: the update is multiplied by alpha/r (alpha/√r with rslora)"),
            ArgumentSpec("dropout", .number(min: 0, max: 0.99), default: "0.05", help: "Dropout on the adapter's input while training"),
            ArgumentSpec("targets", .list(.name), default: targets,
                         help: "Module names to adapt (PEFT's rule: equal to or ending with the name), or all-linear"),
            ArgumentSpec("rslora", .bool, default: "false", help: "Rank-stabilised scaling alpha/√r"),
            ArgumentSpec("dora", .bool, default: "false", help: "DoRA: a trained magnitude per output row on top of the LoRA direction"),
            ArgumentSpec("bias", .choice(LoRABias.allCases.map(\.rawValue)), default: "none", help: "Biases that train beside the adapters"),
            ArgumentSpec("modules_to_save", .list(.name), default: "[]", help: "Modules trained in full and saved with the adapter (the head always is)"),
        ]
    }

    static let lora = CommandSpec(
        "lora", group: .model, summary: "Attach LoRA adapters (rsLoRA and DoRA by option) to the loaded model",
        options: loraOptions(targets: "[query, value]"),
        details: "Names follow PEFT: targets=[query, value] for BERT-family models, targets=[q_lin, v_lin] for DistilBERT. The base weights stay frozen; the head trains and is saved with the adapter.",
        example: "lora r=16 alpha=32 targets=[query, value]\nlora r=8 alpha=16 targets=all-linear rslora=true") { call in
        try attach(call, configuration: configuration(call, defaultTargets: .modules(["query", "value"])), quantization: nil)
    }

    static let qlora = CommandSpec(
        "qlora", group: .model, summary: "QLoRA: hold every base linear weight in 4 bits (NF4 or FP4, as bitsandbytes) and attach LoRA to the targets",
        options: loraOptions(targets: "all-linear") + [
            ArgumentSpec("quant", .choice(FourBitType.allCases.map(\.rawValue)), default: "nf4", help: "The 4-bit code: NormalFloat4 or FP4"),
            ArgumentSpec("double_quant", .bool, default: "true", help: "Quantize the block scales too (8-bit, blocks of 256): 4.127 bits per weight instead of 4.5"),
            ArgumentSpec("block", .choice(["32", "64", "128", "256", "512", "1024", "2048", "4096"]), default: "64", help: "Weights per absmax block"),
        ],
        details: "As transformers' load_in_4bit: every linear layer of the base model (attention, feed-forward, pooler; not the classification head) has its frozen weight replaced by packed 4-bit codes and block scales, bit-identical to bitsandbytes' quantize_4bit, whatever the LoRA targets are; forward and backward dequantize a tile at a time (rounded to bf16 for the bf16 kernel after `precision bf16`). The adapters, the head, embeddings, biases and LayerNorms stay fp32. Prints the bytes the base weights took before and after.",
        example: "qlora r=16 alpha=32\nqlora r=8 alpha=16 targets=[query, value] quant=fp4 double_quant=false") { call in
        let format = FourBitFormat(type: FourBitType(rawValue: call.string("quant", default: "nf4"))!,
                                   blockSize: Int(call.string("block", default: "64"))!,
                                   doubleQuantization: call.bool("double_quant", default: true))
        return try attach(call, configuration: configuration(call, defaultTargets: .allLinear), quantization: format)
    }

    /// A LoRA configuration from the options of `lora` or `qlora`.
    static func configuration(_ call: Invocation, defaultTargets: LoRATargets) -> LoRAConfiguration {
        let targets = call.strings("targets")
        var configuration = LoRAConfiguration(
            rank: call.int("r", default: 16), alpha: Float(call.double("alpha", default: 32)),
            dropout: Float(call.double("dropout", default: 0.05)),
            targets: targets == ["all-linear"] ? .allLinear : (targets.isEmpty ? defaultTargets : .modules(targets)),
            rankStabilized: call.bool("rslora", default: false), bias: LoRABias(rawValue: call.string("bias", default: "none"))!,
            modulesToSave: call.strings("modules_to_save"), useDoRA: call.bool("dora", default: false))
        if targets.isEmpty, defaultTargets != .allLinear, call.trainer.encoder?.config.family == .distilbert {
            configuration.targets = .modules(["q_lin", "v_lin"])
        }
        if targets.isEmpty, defaultTargets != .allLinear, call.trainer.causal != nil {
            configuration.targets = .modules(["q_proj", "v_proj"])
        }
        return configuration
    }

    /// Attaches fresh adapters (after quantizing their base layers when `quantization` is given).
    static func attach(_ call: Invocation, configuration: LoRAConfiguration, quantization: FourBitFormat?) throws -> Output {
        if call.trainer.causal != nil { return try CausalCommands.attach(call, configuration: configuration, quantization: quantization) }
        // Check the setup before the current method is dropped, so a typo loses nothing.
        do { try LoRAModel.check(configuration, for: try call.trainer.classifier().encoder) } catch let error as PEFTError {
            throw call.error("\(error)", at: call.has("targets") ? "targets" : nil)
        }
        var note = try prepareFreshModel(call)
        let (encoder, _) = try call.trainer.classifier()
        var quantization = quantization
        if quantization != nil, let stored = QLoRA.storedFormat(encoder) {
            // A base loaded from a 4-bit checkpoint keeps its codes: no second quantization, and its format
            // for any targeted layer still in float32.
            var line = "the base is already in 4 bits (\(stored)): \(QLoRA.quantizedLayerCount(encoder)) layers kept as stored, not quantized again"
            if stored != quantization, call.has("quant") || call.has("block") || call.has("double_quant") {
                line += "; quant, block and double_quant are ignored"
            }
            note = [note, line].compactMap { $0 }.joined(separator: "\n")
            quantization = stored
        }
        if let quantization {
            let report = try QLoRA.quantize(encoder, targets: .allLinear, format: quantization)
            if !report.layers.isEmpty {
                let line = "quantized \(report.layers.count) layers (\(Render.grouped(report.parameters)) weights) to \(quantization): "
                    + "\(Render.bytes(report.bytesBefore)) → \(Render.bytes(report.bytesAfter)) (\(String(format: "%.3f", report.bitsPerParameter)) bits per weight); "
                    + "model weights \(Render.bytes(report.modelBytesBefore)) → \(Render.bytes(report.modelBytesAfter))"
                note = [note, line].compactMap { $0 }.joined(separator: "\n")
            }
        }
        let model = try LoRAModel(encoder: encoder, configuration: configuration, seed: call.interpreter.seed)
        call.trainer.adapters = model
        call.trainer.method = quantization.map { .qlora(configuration, $0) } ?? .lora(configuration)
        call.trainer.parameters = model.trainableParameters()
        return counts(call, prefix: note)
    }

    static let bitfit = CommandSpec(
        "bitfit", group: .model, summary: "Train only the biases (BitFit) and the head",
        example: "bitfit") { call in try train(.bitfit, call) }

    static let full = CommandSpec(
        "full", group: .model, summary: "Train every parameter (full fine-tuning)",
        example: "full") { call in try train(.full, call) }

    /// Sets a method without adapters: which of the model's own parameters train.
    private static func train(_ method: TrainingMethod, _ call: Invocation) throws -> Output {
        if call.trainer.causal != nil { return try CausalCommands.setMethod(method, call) }
        let note = try prepareFreshModel(call)
        let (encoder, _) = try call.trainer.classifier()
        if method == .full, let stored = QLoRA.storedFormat(encoder) {
            throw SessionError("the base is held in 4 bits (\(stored)), so its weights cannot train in full",
                               hint: "train adapters over it with qlora (or lora), or only the biases with bitfit")
        }
        call.trainer.parameters = encoder.prepareTraining(method == .full ? .full : .bitfit)
        call.trainer.method = method
        return counts(call, prefix: note)
    }

    static let params = CommandSpec(
        "params", group: .model, summary: "Trainable and total parameters, as PEFT's print_trainable_parameters counts them",
        example: "params") { call in
        if call.trainer.causal != nil {
            guard call.trainer.method != nil else { throw SessionError("no training method set", hint: "choose one: lora r=16 or full") }
            return CausalCommands.counts(call, prefix: nil)
        }
        _ = try call.trainer.model()
        guard call.trainer.method != nil else {
            throw SessionError("no training method set", hint: "choose one: lora r=16, bitfit or full")
        }
        return counts(call, prefix: nil)
    }

    /// "trainable params: 148,226 || all params: 22,861,058 || trainable%: 0.6484"
    static func counts(_ call: Invocation, prefix: String?) -> Output {
        let session = call.trainer
        let trainable = session.parameters.reduce(0) { $0 + $1.value.count }
        let total = session.adapters?.parameterCounts().total ?? session.encoder?.baseParameterCount ?? 0
        let percent = total == 0 ? 0 : 100 * Double(trainable) / Double(total)
        let line = "trainable params: \(Render.grouped(trainable)) || all params: \(Render.grouped(total)) || trainable%: \(Render.fixed(percent))"
        let method = session.method.map(describe) ?? ""
        let text = [prefix, method, line].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "\n")
        return Output(plain: text, json: .object([("method", .string(session.method?.name ?? "")), ("trainable", JSONValue(trainable)),
                                                  ("total", JSONValue(total)), ("trainable_percent", JSONValue(percent))]))
    }

    /// "lora r=16 alpha=32 dropout=0.05 targets=[query, value]"
    static func describe(_ method: TrainingMethod) -> String {
        switch method {
        case .qlora(let c, let format):
            return "q" + describe(.lora(c)) + " quant=\(format.type.rawValue) double_quant=\(format.doubleQuantization) block=\(format.blockSize)"
        case .lora(let c):
            let targets: String = switch c.targets {
            case .allLinear: "all-linear"
            case .modules(let names): "[" + names.joined(separator: ", ") + "]"
            }
            var text = "lora r=\(c.rank) alpha=\(Self.format(c.alpha)) dropout=\(Self.format(c.dropout)) targets=\(targets)"
            if c.rankStabilized { text += " rslora=true" }
            if c.useDoRA { text += " dora=true" }
            if c.bias != .none { text += " bias=\(c.bias.rawValue)" }
            return text
        case .bitfit: return "bitfit (biases and head)"
        case .full: return "full fine-tuning"
        }
    }

    /// A Float as written: 32 → "32", 0.05 → "0.05" (not its Double expansion).
    private static func format(_ x: Float) -> String {
        x == x.rounded() && abs(x) < 1e7 ? String(Int(x)) : "\(x)"
    }

    /// Before a new method: removes the old adapter, or reloads the model when a run or a merge changed
    /// its weights, so every method starts from the checkpoint. Returns a note when it reloaded.
    static func prepareFreshModel(_ call: Invocation) throws -> String? {
        let session = call.trainer
        _ = try session.classifier()
        // Layers qlora quantized are restored; a base loaded in 4 bits is already as its checkpoint holds it.
        var quantizedByQLoRA = false
        if case .qlora = session.method { quantizedByQLoRA = session.encoder?.blockLinears.contains(where: \.isQuantized) == true }
        let changed = session.run != nil || session.adapters?.isMerged == true || session.method == .full || session.method == .bitfit
            || quantizedByQLoRA
        if changed {
            try TrainCommands.restoreBaseWeights(call)
            return "model reloaded from \(session.modelName): the previous method's changes are gone"
        }
        if let adapters = session.adapters { try adapters.detach() }
        session.resetTraining()
        return nil
    }
}
