import Foundation
import FinchCheckpoint
import FinchQuantization
import FinchTensor

/// Writes an `Encoder` as a Hugging Face model folder that transformers' `from_pretrained` loads:
/// config.json, model.safetensors and the tokenizer files of the folder it came from.
///
/// Tensor names are those of the *ForSequenceClassification model ("bert.encoder.layer.0…", "classifier…").
/// Layers held in 4 bits are written in bitsandbytes' layout (`BitsandbytesLayout`: packed codes, absmax,
/// quant_map, nested statistics, quant_state JSON) and config.json gets the `quantization_config` that
/// `BitsAndBytesConfig(load_in_4bit=True, …)` saves, so transformers loads them as `Linear4bit` with the very
/// same codes; every other weight is float32.
public enum EncoderWriter {
    /// What `save` wrote.
    public struct Report: Sendable, Equatable {
        public let folder: URL
        /// File names written, sorted.
        public let files: [String]
        /// Bytes of all files written.
        public let bytes: Int
        /// Linear layers written in 4 bits, and their format (nil when none).
        public let quantizedLayers: Int
        public let format: FourBitFormat?
    }

    /// Tokenizer files copied from the source folder when present.
    public static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                                "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spiece.model"]

    /// Writes `encoder` to `folder`, all at once (`AtomicFolder`: a previous folder is replaced only when
    /// the new one is complete). `source` is the folder the model was loaded from: its config.json is the
    /// base of the new one and its tokenizer files are copied. `labels` name the head's classes (id2label).
    @discardableResult
    public static func save(_ encoder: Encoder, labels: [String], source: URL, to folder: URL) throws -> Report {
        let linears = encoder.blockLinears + [encoder.pooler, encoder.head?.dense, encoder.head?.output].compactMap { $0 }
        let quantized = linears.filter(\.isQuantized)
        let formats = quantized.compactMap { $0.quantized?.format }
        if let first = formats.first, let other = formats.first(where: { $0 != first }) {
            throw CheckpointError(folder, "the 4-bit layers use different formats (\(first); \(other)); transformers' quantization_config holds one")
        }
        let config = try configJSON(encoder, labels: labels, source: source,
                                    quantization: formats.first.map { ($0, linears.filter { !$0.isQuantized }.map(\.name)) })

        let manager = FileManager.default
        try AtomicFolder.write(folder) { temporary in
            try AtomicFile.write(config, to: temporary.appendingPathComponent("config.json"))
            try SafetensorsWriter.write(try tensors(encoder), metadata: ["format": "pt"], to: temporary.appendingPathComponent("model.safetensors"))
            for name in tokenizerFiles where manager.fileExists(atPath: source.appendingPathComponent(name).path) {
                let file = source.appendingPathComponent(name)
                let data: Data
                do { data = try Data(contentsOf: file) } catch {
                    throw CheckpointError(file, "cannot read the tokenizer file (\(error.localizedDescription))")
                }
                try AtomicFile.write(data, to: temporary.appendingPathComponent(name))
            }
        }
        let files = ((try? manager.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        let bytes = files.compactMap { try? manager.attributesOfItem(atPath: folder.appendingPathComponent($0).path)[.size] as? Int }.reduce(0, +)
        return Report(folder: folder, files: files, bytes: bytes, quantizedLayers: quantized.count, format: formats.first)
    }

    /// Every weight under its checkpoint name: embeddings, LayerNorms and linear layers (4-bit ones as
    /// bitsandbytes' entries).
    static func tensors(_ encoder: Encoder) throws -> [String: SafetensorsWriter.Payload] {
        let prefix = encoder.config.family.weightPrefix + "embeddings."
        var tensors: [String: SafetensorsWriter.Payload] = [
            prefix + "word_embeddings.weight": .float(encoder.embeddings.word),
            prefix + "position_embeddings.weight": .float(encoder.embeddings.position),
        ]
        if let types = encoder.embeddings.tokenType { tensors[prefix + "token_type_embeddings.weight"] = .float(types) }
        for norm in encoder.layerNorms {
            tensors[norm.name + ".weight"] = .float(norm.weight)
            tensors[norm.name + ".bias"] = .float(norm.bias)
        }
        for linear in encoder.blockLinears + [encoder.pooler, encoder.head?.dense, encoder.head?.output].compactMap({ $0 }) {
            if let bias = linear.bias { tensors[linear.name + ".bias"] = .float(bias) }
            guard let fourBit = linear.quantized else {
                tensors[linear.name + ".weight"] = .float(linear.weight)
                continue
            }
            for (key, part) in BitsandbytesLayout.parts(of: fourBit, weight: linear.name + ".weight") {
                switch part {
                case let .bytes(values, shape): tensors[key] = .bytes(values, shape: shape)
                case let .floats(values, shape): tensors[key] = .float(Tensor(values, shape: shape))
                case let .other(dtype, _): throw CheckpointError(key, "cannot write a \(dtype) entry")
                }
            }
        }
        return tensors
    }

    /// The source config.json with the head's labels, the classification architecture and (when some
    /// layers are in 4 bits) the `quantization_config` transformers 5.24 writes for BitsAndBytesConfig.
    static func configJSON(_ encoder: Encoder, labels: [String], source: URL,
                           quantization: (format: FourBitFormat, skipped: [String])?) throws -> Data {
        let url = source.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path),
              var config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CheckpointError(url, "cannot read the source model's config.json (needed to write the new one)")
        }
        if let head = encoder.head {
            let names = labels.count == head.labelCount ? labels : (0..<head.labelCount).map { "LABEL_\($0)" }
            config["id2label"] = Dictionary(uniqueKeysWithValues: names.enumerated().map { (String($0), $1) })
            config["label2id"] = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
            if config["num_labels"] != nil { config["num_labels"] = head.labelCount }
            config["architectures"] = [architecture(encoder.config.family)]
        }
        if let (format, skipped) = quantization {
            config["quantization_config"] = [
                "_load_in_4bit": true, "_load_in_8bit": false, "bnb_4bit_compute_dtype": "float32",
                "bnb_4bit_quant_storage": "uint8", "bnb_4bit_quant_type": format.type.rawValue,
                "bnb_4bit_use_double_quant": format.doubleQuantization, "llm_int8_enable_fp32_cpu_offload": false,
                "llm_int8_has_fp16_weight": false, "llm_int8_skip_modules": skipped, "llm_int8_threshold": floatSix,
                "load_in_4bit": true, "load_in_8bit": false, "quant_method": "bitsandbytes",
            ] as [String: Any]
        } else {
            config["quantization_config"] = nil
        }
        // JSONSerialization writes 6.0 as 6, and transformers refuses an integer llm_int8_threshold
        // ("must be a float"): the value goes in as a placeholder string, replaced by the literal 6.0.
        let text = String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
        return Data(text.replacingOccurrences(of: "\"\(floatSix)\"", with: "6.0").utf8)
    }

    /// Placeholder of the float 6.0 in config.json (see `configJSON`).
    private static let floatSix = "<float 6.0>"

    /// transformers' sequence-classification class of a family.
    static func architecture(_ family: EncoderFamily) -> String {
        switch family {
        case .bert: "BertForSequenceClassification"
        case .roberta: "RobertaForSequenceClassification"
        case .xlmRoberta: "XLMRobertaForSequenceClassification"
        case .distilbert: "DistilBertForSequenceClassification"
        }
    }
}
