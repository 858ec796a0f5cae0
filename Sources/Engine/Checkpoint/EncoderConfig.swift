import Foundation

/// The families of encoder checkpoints Finch reads, by config.json `model_type`.
public enum EncoderFamily: String, Sendable, Codable, CaseIterable {
    case bert
    case roberta
    case xlmRoberta = "xlm-roberta"
    case distilbert

    /// Prefix of the base model's weights inside a *ForSequenceClassification checkpoint.
    public var weightPrefix: String {
        switch self {
        case .bert: "bert."
        case .roberta: "roberta."
        case .xlmRoberta: "roberta."
        case .distilbert: "distilbert."
        }
    }

    /// RoBERTa-style models number positions from padding_idx + 1 and give pads padding_idx.
    public var offsetsPositionsByPadding: Bool { self == .roberta || self == .xlmRoberta }
}

/// Feed-forward activation, by config.json `hidden_act` / `activation`.
public enum Activation: String, Sendable, Codable {
    /// Exact GELU, x·Φ(x) with erf (transformers "gelu").
    case gelu
    /// tanh-approximated GELU (transformers "gelu_new", "gelu_pytorch_tanh").
    case geluTanh = "gelu_tanh"
    case relu
}

/// The parts of a Hugging Face encoder config.json that the forward pass depends on.
public struct EncoderConfig: Sendable, Equatable, Codable {
    public var family: EncoderFamily
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    /// 0 when the model has no token-type embeddings (DistilBERT).
    public var typeVocabularySize: Int
    public var layerNormEpsilon: Float
    public var padTokenId: Int
    public var activation: Activation
    public var initializerRange: Float
    /// Class names by id, from `id2label` (empty when the config has none).
    public var labels: [String]
    /// Dropout during training: after the embeddings and each block's two output projections
    /// (hidden_dropout_prob / dropout), on attention probabilities (attention_probs_dropout_prob /
    /// attention_dropout), and in the classification head (classifier_dropout, else the hidden rate;
    /// DistilBERT: seq_classif_dropout).
    public var hiddenDropout: Float = 0.1
    public var attentionDropout: Float = 0.1
    public var classifierDropout: Float = 0.1

    /// Width of one attention head.
    public var headSize: Int { hiddenSize / headCount }

    /// The longest sequence the position table allows (RoBERTa-style numbering starts at
    /// padding_idx + 1, so it loses that many rows).
    public var usablePositions: Int { maxPositions - (family.offsetsPositionsByPadding ? padTokenId + 1 : 0) }

    public init(family: EncoderFamily, vocabularySize: Int, hiddenSize: Int, layerCount: Int, headCount: Int,
                intermediateSize: Int, maxPositions: Int, typeVocabularySize: Int, layerNormEpsilon: Float,
                padTokenId: Int, activation: Activation = .gelu, initializerRange: Float = 0.02, labels: [String] = []) {
        self.family = family
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEpsilon = layerNormEpsilon
        self.padTokenId = padTokenId
        self.activation = activation
        self.initializerRange = initializerRange
        self.labels = labels
    }

    /// Reads `config.json` from a model folder.
    public static func load(folder: URL) throws -> EncoderConfig {
        let url = folder.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CheckpointError(url, "missing: a model folder needs config.json (Hugging Face layout)")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        } catch {
            throw CheckpointError(url, "not valid JSON (\(error.localizedDescription))")
        }
        guard let json = object as? [String: Any] else { throw CheckpointError(url, "top level is not a JSON object") }
        return try parse(json, url: url)
    }

    /// Interprets a parsed config.json; errors name the file and the key.
    public static func parse(_ json: [String: Any], url: URL) throws -> EncoderConfig {
        let reader = ConfigReader(json: json, url: url)
        let modelType = try reader.string("model_type")
        guard let family = EncoderFamily(rawValue: modelType) else {
            throw CheckpointError(url, "model_type \"\(modelType)\" is not an encoder Finch reads (supported: \(EncoderFamily.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let isDistil = family == .distilbert
        let vocabularySize = try reader.positiveInt("vocab_size")
        let hidden = try reader.positiveInt(isDistil ? "dim" : "hidden_size")
        let heads = try reader.positiveInt(isDistil ? "n_heads" : "num_attention_heads")
        guard hidden % heads == 0 else {
            throw CheckpointError(url, "\(isDistil ? "dim" : "hidden_size") \(hidden) is not divisible by \(isDistil ? "n_heads" : "num_attention_heads") \(heads)")
        }
        let activationName = try reader.optionalString(isDistil ? "activation" : "hidden_act") ?? "gelu"
        let activation: Activation
        switch activationName {
        case "gelu": activation = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": activation = .geluTanh
        case "relu": activation = .relu
        default:
            throw CheckpointError(url, "\(isDistil ? "activation" : "hidden_act") \"\(activationName)\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)")
        }
        if let embeddingType = try reader.optionalString("position_embedding_type"), embeddingType != "absolute" {
            throw CheckpointError(url, "position_embedding_type \"\(embeddingType)\" is not supported (only absolute)")
        }
        var config = EncoderConfig(
            family: family,
            vocabularySize: vocabularySize,
            hiddenSize: hidden,
            layerCount: try reader.positiveInt(isDistil ? "n_layers" : "num_hidden_layers", limit: ConfigReader.maximumLayers),
            headCount: heads,
            intermediateSize: try reader.positiveInt(isDistil ? "hidden_dim" : "intermediate_size"),
            maxPositions: try reader.positiveInt("max_position_embeddings"),
            typeVocabularySize: isDistil ? 0 : try reader.optionalInt("type_vocab_size") ?? 2,
            layerNormEpsilon: isDistil ? 1e-12 : Float(try reader.optionalDouble("layer_norm_eps") ?? 1e-12),
            padTokenId: try reader.optionalInt("pad_token_id") ?? 0,
            activation: activation,
            initializerRange: Float(try reader.optionalDouble("initializer_range") ?? 0.02),
            labels: try reader.labels()
        )
        config.hiddenDropout = Float(try reader.optionalDouble(isDistil ? "dropout" : "hidden_dropout_prob") ?? 0.1)
        config.attentionDropout = Float(try reader.optionalDouble(isDistil ? "attention_dropout" : "attention_probs_dropout_prob") ?? 0.1)
        config.classifierDropout = Float(try reader.optionalDouble(isDistil ? "seq_classif_dropout" : "classifier_dropout")
                                         ?? Double(config.hiddenDropout))
        guard (0...ConfigReader.maximumSize).contains(config.typeVocabularySize) else {
            throw CheckpointError(url, "key \"type_vocab_size\" is \(config.typeVocabularySize); it must be 0...\(ConfigReader.maximumSize)")
        }
        guard (0..<vocabularySize).contains(config.padTokenId) else {
            throw CheckpointError(url, "key \"pad_token_id\" is \(config.padTokenId), outside the vocabulary 0..<\(vocabularySize)")
        }
        guard config.usablePositions > 0 else {
            throw CheckpointError(url, "key \"max_position_embeddings\" is \(config.maxPositions), which leaves no positions after the padding offset \(config.padTokenId + 1)")
        }
        for (name, rate) in [("hidden dropout", config.hiddenDropout), ("attention dropout", config.attentionDropout),
                             ("classifier dropout", config.classifierDropout)] where !(0..<1).contains(rate) {
            throw CheckpointError(url, "\(name) \(rate) is outside [0, 1)")
        }
        return config
    }
}

/// Typed access to config.json keys with errors that name the key.
struct ConfigReader {
    let json: [String: Any]
    let url: URL

    func string(_ key: String) throws -> String {
        guard let value = json[key] else { throw CheckpointError(url, "missing key \"\(key)\"") }
        guard let string = value as? String else { throw CheckpointError(url, "key \"\(key)\" should be a string") }
        return string
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = json[key], !(value is NSNull) else { return nil }
        guard let string = value as? String else { throw CheckpointError(url, "key \"\(key)\" should be a string") }
        return string
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let value = json[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, !number.isBoolean, number.doubleValue == number.doubleValue.rounded(),
              abs(number.doubleValue) < 9.2e18 else {
            throw CheckpointError(url, "key \"\(key)\" should be an integer, found \(value)")
        }
        return number.intValue
    }

    /// The largest width, vocabulary or context a config may give (2^24 = 16,777,216): past every real model,
    /// and small enough that parameter counts cannot overflow.
    static let maximumSize = 1 << 24
    /// The most layers a config may give.
    static let maximumLayers = 1024

    /// A positive integer of at most `limit` (default `maximumSize`).
    func positiveInt(_ key: String, limit: Int = maximumSize) throws -> Int {
        guard let value = try optionalInt(key) else { throw CheckpointError(url, "missing key \"\(key)\"") }
        guard value > 0 else { throw CheckpointError(url, "key \"\(key)\" must be positive, found \(value)") }
        guard value <= limit else { throw CheckpointError(url, "key \"\(key)\" is \(value); Finch reads at most \(limit)") }
        return value
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard let value = json[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber else { throw CheckpointError(url, "key \"\(key)\" should be a number, found \(value)") }
        return number.doubleValue
    }

    /// `id2label` as an ordered list; ids must be 0..<n.
    func labels() throws -> [String] {
        guard let raw = json["id2label"], !(raw is NSNull) else { return [] }
        guard let map = raw as? [String: Any] else { throw CheckpointError(url, "key \"id2label\" should be an object") }
        var labels = [String](repeating: "", count: map.count)
        for (key, value) in map {
            guard let id = Int(key), id >= 0, id < map.count, let name = value as? String else {
                throw CheckpointError(url, "key \"id2label\" must map ids 0..<\(map.count) to names; found \"\(key)\": \(value)")
            }
            labels[id] = name
        }
        return labels
    }
}

extension NSNumber {
    /// Whether JSONSerialization made this number from `true` / `false`.
    var isBoolean: Bool { String(cString: objCType) == "c" }
}
