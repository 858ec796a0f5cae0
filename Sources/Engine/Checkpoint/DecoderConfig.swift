import Foundation

/// The parts of a Llama-family config.json (llama, mistral, qwen2, smollm…) that a decoder's forward pass
/// depends on, or the same read from a GGUF file's `llama.*` metadata.
public struct DecoderConfig: Sendable, Equatable, Codable {
    /// config.json `model_type` (llama, mistral, qwen2…).
    public var modelType: String
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    /// Key/value heads (grouped-query attention); equals `headCount` for multi-head attention.
    public var keyValueHeadCount: Int
    /// Width of one head (config `head_dim`, else hidden / heads).
    public var headSize: Int
    public var rmsNormEpsilon: Float
    /// Base θ of the rotary embedding frequencies.
    public var ropeTheta: Double
    public var maxPositions: Int
    /// Whether the LM head reuses the token embedding matrix.
    public var tiesEmbeddings: Bool
    /// Biases on q, k, v and o projections (Llama `attention_bias`); Qwen2 has them on q, k, v only.
    public var attentionBias: Bool
    public var outputBias: Bool
    /// Biases on gate, up and down projections (`mlp_bias`).
    public var mlpBias: Bool
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var padTokenId: Int?
    public var initializerRange: Float

    public init(modelType: String = "llama", vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int,
                headCount: Int, keyValueHeadCount: Int, headSize: Int? = nil, rmsNormEpsilon: Float = 1e-6,
                ropeTheta: Double = 10000, maxPositions: Int = 2048, tiesEmbeddings: Bool = false, attentionBias: Bool = false,
                outputBias: Bool? = nil, mlpBias: Bool = false, bosTokenId: Int? = nil, eosTokenIds: [Int] = [],
                padTokenId: Int? = nil, initializerRange: Float = 0.02) {
        self.modelType = modelType
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount
        self.headSize = headSize ?? hiddenSize / max(headCount, 1)
        self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeTheta = ropeTheta
        self.maxPositions = maxPositions
        self.tiesEmbeddings = tiesEmbeddings
        self.attentionBias = attentionBias
        self.outputBias = outputBias ?? attentionBias
        self.mlpBias = mlpBias
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
        self.padTokenId = padTokenId
        self.initializerRange = initializerRange
    }

    /// Model types whose checkpoints follow Llama's layout and math.
    public static let supportedModelTypes = ["llama", "mistral", "qwen2", "smollm", "smollm2"]

    /// Whether a config.json describes a Llama-family decoder (by `model_type` or `architectures`).
    public static func describesDecoder(folder: URL) -> Bool {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("config.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        if let type = json["model_type"] as? String, supportedModelTypes.contains(type) { return true }
        return (json["architectures"] as? [String] ?? []).contains { $0.hasSuffix("ForCausalLM") }
    }

    /// Reads `config.json` in `folder`; every error names the file and the key.
    public static func load(folder: URL) throws -> DecoderConfig {
        let url = folder.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError(folder, "no config.json in this folder") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) } catch {
            throw CheckpointError(url, "not valid JSON (\(error.localizedDescription))")
        }
        guard let json = object as? [String: Any] else { throw CheckpointError(url, "top level is not a JSON object") }
        return try parse(json, url: url)
    }

    /// Interprets a parsed config.json; every error names `url` and the key.
    public static func parse(_ json: [String: Any], url: URL) throws -> DecoderConfig {
        func int(_ key: String, limit: Int = ConfigReader.maximumSize) throws -> Int {
            guard let value = json[key] as? NSNumber, value.doubleValue == value.doubleValue.rounded(), value.doubleValue >= 1 else {
                throw CheckpointError(url, "key \"\(key)\" must be a positive integer (found \(json[key].map { "\($0)" } ?? "nothing"))")
            }
            guard value.doubleValue <= Double(limit) else { throw CheckpointError(url, "key \"\(key)\" is \(value); Finch reads at most \(limit)") }
            return value.intValue
        }
        func number(_ key: String) -> Double? { (json[key] as? NSNumber)?.doubleValue }
        let type = json["model_type"] as? String ?? "llama"
        guard supportedModelTypes.contains(type) else {
            throw CheckpointError(url, "model_type \"\(type)\" is not a Llama-family decoder Finch runs (\(supportedModelTypes.joined(separator: ", ")))")
        }
        // transformers 5 writes rope_parameters {rope_theta, rope_type}; older configs rope_theta and rope_scaling.
        let rope = json["rope_parameters"] as? [String: Any]
        for (key, scaling) in [("rope_scaling", json["rope_scaling"] as? [String: Any]), ("rope_parameters", rope)] {
            guard let scaling else { continue }
            let kind = scaling["rope_type"] as? String ?? scaling["type"] as? String ?? "default"
            guard kind == "default" else {
                throw CheckpointError(url, "key \"\(key)\" has rope_type \"\(kind)\"; Finch implements the default rotary embedding only")
            }
        }
        let ropeTheta = (rope?["rope_theta"] as? NSNumber)?.doubleValue ?? number("rope_theta") ?? 10000
        if let act = json["hidden_act"] as? String, act != "silu" {
            throw CheckpointError(url, "key \"hidden_act\" is \"\(act)\"; Llama-family decoders use silu")
        }
        let heads = try int("num_attention_heads")
        let hidden = try int("hidden_size")
        let eos: [Int]
        if let list = json["eos_token_id"] as? [NSNumber] { eos = list.map(\.intValue) }
        else if let one = json["eos_token_id"] as? NSNumber { eos = [one.intValue] }
        else { eos = [] }
        let config = DecoderConfig(
            modelType: type, vocabularySize: try int("vocab_size"), hiddenSize: hidden,
            intermediateSize: try int("intermediate_size"), layerCount: try int("num_hidden_layers", limit: ConfigReader.maximumLayers), headCount: heads,
            keyValueHeadCount: json["num_key_value_heads"] is NSNumber ? try int("num_key_value_heads") : heads,
            headSize: json["head_dim"] is NSNumber ? try int("head_dim") : nil,
            rmsNormEpsilon: Float(number("rms_norm_eps") ?? 1e-6), ropeTheta: ropeTheta,
            maxPositions: json["max_position_embeddings"] is NSNumber ? try int("max_position_embeddings") : 2048,
            tiesEmbeddings: json["tie_word_embeddings"] as? Bool ?? false,
            attentionBias: type == "qwen2" ? true : json["attention_bias"] as? Bool ?? false,
            outputBias: type == "qwen2" ? false : nil,
            mlpBias: json["mlp_bias"] as? Bool ?? false,
            bosTokenId: (json["bos_token_id"] as? NSNumber)?.intValue, eosTokenIds: eos,
            padTokenId: (json["pad_token_id"] as? NSNumber)?.intValue,
            initializerRange: Float(number("initializer_range") ?? 0.02))
        try config.validate(source: url.path)
        return config
    }

    /// Checks that the heads divide as attention needs.
    public func validate(source: String) throws {
        guard headCount > 0, keyValueHeadCount > 0, headCount % keyValueHeadCount == 0 else {
            throw CheckpointError(source, "\(headCount) attention heads cannot be shared by \(keyValueHeadCount) key/value heads")
        }
        guard headSize > 0, headSize % 2 == 0 else { throw CheckpointError(source, "head size \(headSize) must be positive and even for rotary embeddings") }
        guard queryWidth <= ConfigReader.maximumSize else {
            throw CheckpointError(source, "\(headCount) heads × head size \(headSize) is wider than Finch reads (\(ConfigReader.maximumSize))")
        }
    }

    /// Width of the query projection (heads × head size) and of the key/value projections.
    public var queryWidth: Int { headCount * headSize }
    public var keyValueWidth: Int { keyValueHeadCount * headSize }

    /// Parameters of the model (embeddings, blocks, final norm, an untied head).
    public var parameterCount: Int {
        let h = hiddenSize
        let attention = h * queryWidth * 2 + h * keyValueWidth * 2
            + (attentionBias ? queryWidth + 2 * keyValueWidth : 0) + (outputBias ? h : 0)
        let mlp = 3 * h * intermediateSize + (mlpBias ? 2 * intermediateSize + h : 0)
        let block = attention + mlp + 2 * h
        return vocabularySize * h * (tiesEmbeddings ? 1 : 2) + layerCount * block + h
    }
}
