import Foundation
import FinchCheckpoint
import FinchTensor

/// What a loaded decoder is for.
public enum DecoderTask: Sendable, Equatable {
    /// Next-token prediction (LlamaForCausalLM).
    case causalLM
    /// Sequence classification into `labels` classes from the last real token (LlamaForSequenceClassification);
    /// a `score` head missing from the checkpoint is initialised from `seed` as transformers does.
    case classify(labels: Int, seed: UInt64)
}

/// Builds a `DecoderModel` from a Hugging Face Llama-layout folder (config.json + safetensors) or a GGUF file.
public enum DecoderLoader {
    /// Reads a folder with config.json and model.safetensors (or shards).
    public static func load(folder: URL, task: DecoderTask = .causalLM) throws -> DecoderModel {
        let config = try DecoderConfig.load(folder: folder)
        let store = try WeightStore(folder: folder)
        return try build(config: config, task: task, source: folder.path) { name, shape in
            store.contains(name) ? try store.tensor(name, shape: shape) : nil
        }
    }

    /// Assembles the model from a source of named fp32 tensors in transformers' names and shapes
    /// (`tensor` returns nil for a name the checkpoint lacks, and throws for a wrong shape).
    public static func build(config: DecoderConfig, task: DecoderTask, source: String,
                             tensor: (String, [Int]) throws -> Tensor?) throws -> DecoderModel {
        try config.validate(source: source)
        func required(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let value = try tensor(name, shape) else { throw CheckpointError(source, "missing weight \"\(name)\"") }
            return value
        }
        func linear(_ name: String, in inFeatures: Int, out: Int, bias: Bool) throws -> Linear {
            let weight = try required(name + ".weight", [out, inFeatures])
            let b = bias ? try required(name + ".bias", [out]) : try tensor(name + ".bias", [out])
            return Linear(name: name, weight: weight, bias: b)
        }
        let h = config.hiddenSize, inner = config.intermediateSize
        let rotary = RotaryEmbedding(headSize: config.headSize, theta: config.ropeTheta)
        let layers: [DecoderLayer] = try (0..<config.layerCount).map { i in
            let p = "model.layers.\(i)."
            let attention = CausalAttention(
                query: try linear(p + "self_attn.q_proj", in: h, out: config.queryWidth, bias: config.attentionBias),
                key: try linear(p + "self_attn.k_proj", in: h, out: config.keyValueWidth, bias: config.attentionBias),
                value: try linear(p + "self_attn.v_proj", in: h, out: config.keyValueWidth, bias: config.attentionBias),
                output: try linear(p + "self_attn.o_proj", in: config.queryWidth, out: h, bias: config.outputBias),
                headCount: config.headCount, keyValueHeadCount: config.keyValueHeadCount, headSize: config.headSize, rotary: rotary)
            return DecoderLayer(
                attentionNorm: RMSNorm(name: p + "input_layernorm", weight: try required(p + "input_layernorm.weight", [h]), epsilon: config.rmsNormEpsilon),
                attention: attention,
                mlpNorm: RMSNorm(name: p + "post_attention_layernorm", weight: try required(p + "post_attention_layernorm.weight", [h]),
                                 epsilon: config.rmsNormEpsilon),
                gate: try linear(p + "mlp.gate_proj", in: h, out: inner, bias: config.mlpBias),
                up: try linear(p + "mlp.up_proj", in: h, out: inner, bias: config.mlpBias),
                down: try linear(p + "mlp.down_proj", in: inner, out: h, bias: config.mlpBias))
        }
        let embedding = try required("model.embed_tokens.weight", [config.vocabularySize, h])
        var head: Linear? = nil
        if !config.tiesEmbeddings {
            head = Linear(name: "lm_head", weight: try required("lm_head.weight", [config.vocabularySize, h]), bias: nil)
        }
        let model = DecoderModel(config: config, embedding: embedding, layers: layers,
                                 norm: RMSNorm(name: "model.norm", weight: try required("model.norm.weight", [h]), epsilon: config.rmsNormEpsilon),
                                 lmHead: head)
        if case let .classify(labels, seed) = task {
            guard labels >= 2 else { throw ModelError("a classifier needs at least 2 labels, got \(labels)") }
            if let weight = try? tensor("score.weight", [labels, h]) {
                model.scoreHead = Linear(name: "score", weight: weight, bias: nil)
            } else {
                var random = SeededRandom(seed: seed)
                let weight = Tensor(zeros: [labels, h])
                random.fillNormal(weight, std: config.initializerRange)
                model.scoreHead = Linear(name: "score", weight: weight, bias: nil)
                model.freshModules = ["score"]
            }
        }
        return model
    }
}
