import Foundation
import FinchCheckpoint
import FinchTensor

/// Llama-family decoders read straight from a GGUF file (llama.cpp's format): the config from the
/// `<arch>.*` metadata, tensors dequantized to fp32 under transformers' names, and the query/key rows put
/// back in transformers' rotary layout (llama.cpp's converter interleaves them; transformers'
/// `_reverse_permute_weights` undoes it: HF row h·2d + j·d + i = GGUF row h·2d + 2i + j).
extension DecoderLoader {
    /// Architectures (`general.architecture`) read as Llama-family decoders, and whether their q/k rows are permuted.
    static let ggufArchitectures: [String: Bool] = ["llama": true, "mistral": true, "qwen2": false]

    /// Reads a GGUF file.
    public static func load(gguf url: URL, task: DecoderTask = .causalLM) throws -> DecoderModel {
        let file = try GGUFFile(contentsOf: url)
        let config = try DecoderConfig(gguf: file)
        let permuted = ggufArchitectures[config.modelType] ?? false
        let names = ggufNames(layers: config.layerCount)
        return try build(config: config, task: task, source: url.path) { name, shape in
            guard let ggufName = names[name], file.tensorInfo(named: ggufName) != nil else { return nil }
            let tensor = try file.tensor(named: ggufName)
            guard tensor.shape == shape else {
                throw CheckpointError(url, "tensor \"\(ggufName)\" has shape \(tensor.shape) but the metadata implies \(shape)")
            }
            if permuted, ggufName.hasSuffix("attn_q.weight") || ggufName.hasSuffix("attn_q.bias") {
                return unpermuteRows(tensor, heads: config.headCount)
            }
            if permuted, ggufName.hasSuffix("attn_k.weight") || ggufName.hasSuffix("attn_k.bias") {
                return unpermuteRows(tensor, heads: config.keyValueHeadCount)
            }
            return tensor
        }
    }

    /// transformers' name of every GGUF tensor of a Llama-family model.
    static func ggufNames(layers: Int) -> [String: String] {
        var names = ["model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                     "lm_head.weight": "output.weight"]
        let block = ["input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
                     "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
                     "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
                     "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
                     "self_attn.v_proj.bias": "attn_v.bias", "self_attn.o_proj.bias": "attn_output.bias",
                     "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
                     "mlp.down_proj.weight": "ffn_down.weight"]
        for i in 0..<layers {
            for (hf, gguf) in block { names["model.layers.\(i).\(hf)"] = "blk.\(i).\(gguf)" }
        }
        return names
    }

    /// Rows of [heads · 2d, cols] from llama.cpp's interleaved rotary order back to transformers' halves.
    static func unpermuteRows(_ tensor: Tensor, heads: Int) -> Tensor {
        let rows = tensor.shape[0], columns = tensor.count / rows, d = rows / heads / 2
        let result = Tensor(zeros: tensor.shape)
        for h in 0..<heads {
            for j in 0..<2 {
                for i in 0..<d {
                    (result.data + (h * 2 * d + j * d + i) * columns)
                        .update(from: tensor.data + (h * 2 * d + 2 * i + j) * columns, count: columns)
                }
            }
        }
        return result
    }
}

extension DecoderConfig {
    /// The config a GGUF file's metadata describes; errors name the file and the key.
    public init(gguf file: GGUFFile) throws {
        let path = file.url.path
        guard let arch = file.string("general.architecture") else {
            throw CheckpointError(path, "metadata key \"general.architecture\" is missing")
        }
        guard DecoderLoader.ggufArchitectures[arch] != nil else {
            throw CheckpointError(path, "general.architecture is \"\(arch)\"; Finch reads Llama-family decoders (\(DecoderLoader.ggufArchitectures.keys.sorted().joined(separator: ", ")))")
        }
        func int(_ key: String) throws -> Int {
            guard let value = file.int("\(arch).\(key)"), value > 0 else {
                throw CheckpointError(path, "metadata key \"\(arch).\(key)\" is missing or not a positive integer")
            }
            return value
        }
        let heads = try int("attention.head_count")
        let hidden = try int("embedding_length")
        guard let embedding = file.tensorInfo(named: "token_embd.weight") else {
            throw CheckpointError(path, "tensor \"token_embd.weight\" is missing")
        }
        let vocabulary = file.int("\(arch).vocab_size") ?? file.strings("tokenizer.ggml.tokens")?.count ?? embedding.shape.first ?? 0
        let eos = file.int("tokenizer.ggml.eos_token_id")
        self.init(modelType: arch, vocabularySize: vocabulary, hiddenSize: hidden,
                  intermediateSize: try int("feed_forward_length"), layerCount: try int("block_count"), headCount: heads,
                  keyValueHeadCount: file.int("\(arch).attention.head_count_kv") ?? heads,
                  headSize: file.int("\(arch).attention.key_length") ?? file.int("\(arch).rope.dimension_count"),
                  rmsNormEpsilon: Float(file.double("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5),
                  ropeTheta: file.double("\(arch).rope.freq_base") ?? 10000,
                  maxPositions: file.int("\(arch).context_length") ?? 2048,
                  tiesEmbeddings: file.tensorInfo(named: "output.weight") == nil,
                  attentionBias: file.tensorInfo(named: "blk.0.attn_q.bias") != nil,
                  outputBias: file.tensorInfo(named: "blk.0.attn_output.bias") != nil,
                  bosTokenId: file.int("tokenizer.ggml.bos_token_id"), eosTokenIds: eos.map { [$0] } ?? [],
                  padTokenId: file.int("tokenizer.ggml.padding_token_id"))
        if let scaling = file.string("\(arch).rope.scaling.type"), scaling != "none" {
            throw CheckpointError(path, "metadata \"\(arch).rope.scaling.type\" is \"\(scaling)\"; Finch implements the default rotary embedding only")
        }
        try validate(source: path)
    }
}
