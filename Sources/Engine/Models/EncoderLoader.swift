import Foundation
import FinchCheckpoint
import FinchQuantization
import FinchTensor

/// What the loaded encoder is for.
public enum EncoderTask: Sendable, Equatable {
    /// Hidden states and pooled sentence vectors only.
    case embed
    /// Sequence classification into `labels` classes; a head missing from the checkpoint (or of another
    /// size) is freshly initialised from `seed` as transformers does (normal(0, initializer_range), zero bias).
    case classify(labels: Int, seed: UInt64)
}

/// Builds an `Encoder` from a Hugging Face folder (config.json + safetensors), mapping each family's
/// checkpoint names (BERT, RoBERTa/XLM-R, DistilBERT; with or without the base-model prefix). Linear
/// weights stored in bitsandbytes' 4-bit layout (`BitsandbytesLayout`) load as 4-bit layers holding the
/// stored codes and statistics, not re-quantized; a 4-bit classification head is dequantized (it trains).
public enum EncoderLoader {
    public static func load(folder: URL, task: EncoderTask) throws -> Encoder {
        let config = try EncoderConfig.load(folder: folder)
        let store = try WeightStore(folder: folder)
        return try build(config: config, store: store, task: task)
    }

    public static func build(config: EncoderConfig, store: WeightStore, task: EncoderTask) throws -> Encoder {
        let names = CheckpointNames(config: config, store: store)
        let prefix = try names.basePrefix()
        let reader = WeightReader(store: store, prefix: prefix, modulePrefix: config.family.weightPrefix)
        let h = config.hiddenSize, inner = config.intermediateSize
        let isDistil = config.family == .distilbert

        let embeddings = Embeddings(
            word: try reader.tensor("embeddings.word_embeddings.weight", [config.vocabularySize, h], allowLargerFirst: true),
            position: try reader.tensor("embeddings.position_embeddings.weight", [config.maxPositions, h]),
            tokenType: config.typeVocabularySize > 0
                ? try reader.tensor("embeddings.token_type_embeddings.weight", [config.typeVocabularySize, h]) : nil,
            norm: try reader.layerNorm("embeddings.LayerNorm", size: h, epsilon: config.layerNormEpsilon),
            offsetsPositionsByPadding: config.family.offsetsPositionsByPadding,
            padTokenId: config.padTokenId)

        let layers: [EncoderLayer] = try (0..<config.layerCount).map { i in
            let p = isDistil ? "transformer.layer.\(i)." : "encoder.layer.\(i)."
            let attention = SelfAttention(
                query: try reader.linear(p + (isDistil ? "attention.q_lin" : "attention.self.query"), in: h, out: h),
                key: try reader.linear(p + (isDistil ? "attention.k_lin" : "attention.self.key"), in: h, out: h),
                value: try reader.linear(p + (isDistil ? "attention.v_lin" : "attention.self.value"), in: h, out: h),
                output: try reader.linear(p + (isDistil ? "attention.out_lin" : "attention.output.dense"), in: h, out: h),
                headCount: config.headCount)
            return EncoderLayer(
                attention: attention,
                attentionNorm: try reader.layerNorm(p + (isDistil ? "sa_layer_norm" : "attention.output.LayerNorm"), size: h, epsilon: config.layerNormEpsilon),
                intermediate: try reader.linear(p + (isDistil ? "ffn.lin1" : "intermediate.dense"), in: h, out: inner),
                output: try reader.linear(p + (isDistil ? "ffn.lin2" : "output.dense"), in: inner, out: h),
                outputNorm: try reader.layerNorm(p + (isDistil ? "output_layer_norm" : "output.LayerNorm"), size: h, epsilon: config.layerNormEpsilon),
                activation: config.activation)
        }

        var random: SeededRandom?
        if case let .classify(_, seed) = task { random = SeededRandom(seed: seed) }
        var pooler: Linear? = nil
        var fresh: [String] = []
        if config.family == .bert {
            if reader.has("pooler.dense.weight") {
                pooler = try reader.linear("pooler.dense", in: h, out: h)
            } else if random != nil {
                pooler = freshLinear(name: config.family.weightPrefix + "pooler.dense", in: h, out: h, config: config, random: &random!)
                fresh.append(pooler!.name)
            }
        }
        var head: ClassificationHead? = nil
        if case let .classify(labels, _) = task {
            head = try classificationHead(config: config, store: store, labels: labels, random: &random!, fresh: &fresh)
        }
        let encoder = Encoder(config: config, embeddings: embeddings, layers: layers, pooler: pooler, head: head)
        encoder.freshModules = fresh
        return encoder
    }

    private static func classificationHead(config: EncoderConfig, store: WeightStore, labels: Int,
                                           random: inout SeededRandom, fresh: inout [String]) throws -> ClassificationHead {
        let h = config.hiddenSize
        let head = WeightReader(store: store, prefix: "", modulePrefix: "")
        func linear(_ name: String, out: Int) throws -> Linear {
            if head.isFourBit(name + ".weight") || store.entry(name + ".weight")?.shape == [out, h] {
                let linear = try head.linear(name, in: h, out: out)
                linear.dequantize()
                return linear
            }
            fresh.append(name)
            return freshLinear(name: name, in: h, out: out, config: config, random: &random)
        }
        switch config.family {
        case .bert:
            return ClassificationHead(dense: nil, denseActivation: .tanh, output: try linear("classifier", out: labels))
        case .roberta, .xlmRoberta:
            return ClassificationHead(dense: try linear("classifier.dense", out: h), denseActivation: .tanh,
                                      output: try linear("classifier.out_proj", out: labels))
        case .distilbert:
            return ClassificationHead(dense: try linear("pre_classifier", out: h), denseActivation: .relu,
                                      output: try linear("classifier", out: labels))
        }
    }

    /// A freshly initialised linear layer: weight ~ normal(0, initializer_range), bias 0.
    static func freshLinear(name: String, in inFeatures: Int, out: Int, config: EncoderConfig,
                            random: inout SeededRandom) -> Linear {
        let weight = Tensor(zeros: [out, inFeatures])
        random.fillNormal(weight, std: config.initializerRange)
        return Linear(name: name, weight: weight, bias: Tensor(zeros: [out]))
    }
}

/// Finds where the base model's weights sit in a checkpoint ("bert.embeddings…" or "embeddings…").
struct CheckpointNames {
    let config: EncoderConfig
    let store: WeightStore

    func basePrefix() throws -> String {
        for prefix in [config.family.weightPrefix, ""] where store.contains(prefix + "embeddings.word_embeddings.weight") {
            return prefix
        }
        let sample = store.names.prefix(5).joined(separator: ", ")
        throw CheckpointError(store.folder, "no \(config.family.weightPrefix)embeddings.word_embeddings.weight: these weights do not look like a \(config.family.rawValue) model (first names: \(sample))")
    }
}

/// Reads named weights below a prefix, checking every shape against the config.
struct WeightReader {
    let store: WeightStore
    /// Prefix of names in the checkpoint.
    let prefix: String
    /// Prefix of module names inside Finch (the classification model's names, what adapters target).
    let modulePrefix: String

    func has(_ name: String) -> Bool { store.contains(prefix + name) }

    func tensor(_ name: String, _ shape: [Int], allowLargerFirst: Bool = false) throws -> Tensor {
        if allowLargerFirst, let entry = store.entry(prefix + name), entry.shape.count == 2,
           entry.shape[1] == shape[1], entry.shape[0] >= shape[0] {
            return try store.tensor(prefix + name)
        }
        return try store.tensor(prefix + name, shape: shape)
    }

    func linear(_ name: String, in inFeatures: Int, out: Int) throws -> Linear {
        if isFourBit(name + ".weight") {
            let weight = try fourBit(name + ".weight", [out, inFeatures])
            return Linear(name: modulePrefix + name, quantized: weight, bias: has(name + ".bias") ? try tensor(name + ".bias", [out]) : nil)
        }
        let weight = try tensor(name + ".weight", [out, inFeatures])
        return Linear(name: modulePrefix + name, weight: weight, bias: has(name + ".bias") ? try tensor(name + ".bias", [out]) : nil)
    }

    /// Whether a weight is stored in bitsandbytes' 4-bit layout (a U8 weight, or 4-bit statistics beside it).
    func isFourBit(_ name: String) -> Bool {
        store.entry(prefix + name)?.dtype == .u8 || BitsandbytesLayout.isFourBit(weight: prefix + name, names: Set(store.names))
    }

    /// A 4-bit weight from its packed codes and statistics, every size checked; errors name the file and entry.
    func fourBit(_ name: String, _ shape: [Int]) throws -> FourBitTensor {
        let weight = prefix + name
        let file = store.file(holding: weight)
        do {
            return try BitsandbytesLayout.tensor(weight: weight, shape: shape, names: Set(store.names)) { key in
                guard let entry = store.entry(key), let holder = store.file(holding: key) else { return nil }
                switch entry.dtype {
                case .u8: return .bytes(try holder.integers(key).values.map { UInt8($0) }, shape: entry.shape)
                case .f32, .f16, .bf16, .f64:
                    let values = try store.tensor(key)
                    return .floats(Array(UnsafeBufferPointer(start: values.data, count: values.count)), shape: entry.shape)
                default: return .other(dtype: entry.dtype.rawValue, shape: entry.shape)
                }
            }
        } catch let error as QuantizationError {
            throw CheckpointError(file?.url ?? store.folder, "4-bit weight: \(error)")
        }
    }

    /// LayerNorm weights under either name pair (weight/bias or the older gamma/beta).
    func layerNorm(_ name: String, size: Int, epsilon: Float) throws -> LayerNorm {
        let legacy = !has(name + ".weight") && has(name + ".gamma")
        return LayerNorm(name: modulePrefix + name,
                         weight: try tensor(name + (legacy ? ".gamma" : ".weight"), [size]),
                         bias: try tensor(name + (legacy ? ".beta" : ".bias"), [size]),
                         epsilon: epsilon)
    }
}
