import Foundation
import FinchCheckpoint
import FinchModels
import FinchPEFT
import FinchTensor

/// A model (with its adapter merged in) as a Hugging Face folder that transformers loads as is:
/// config.json (the base model's, with the labels and dtype of this export), model.safetensors with
/// transformers' own tensor names, and the base model's tokenizer files.
enum MergedModel {
    /// Tokenizer files copied from the base model's folder when present.
    static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json",
                                 "merges.txt", "sentencepiece.bpe.model", "spm.model", "tokenizer.model", "added_tokens.json"]

    /// transformers' class for the family with (or without) a classification head.
    static func architecture(_ family: EncoderFamily, classifier: Bool) -> String {
        let base: String = switch family {
        case .bert: "Bert"
        case .roberta: "Roberta"
        case .xlmRoberta: "XLMRoberta"
        case .distilbert: "DistilBert"
        }
        return base + (classifier ? "ForSequenceClassification" : "Model")
    }

    /// Every weight of `encoder` by its transformers state-dict name, as it is now (merged or not).
    static func tensors(_ encoder: Encoder) throws -> [(String, Tensor)] {
        let prefix = encoder.config.family.weightPrefix
        let e = encoder.embeddings
        var named: [(String, Tensor)] = [(prefix + "embeddings.word_embeddings.weight", e.word),
                                         (prefix + "embeddings.position_embeddings.weight", e.position)]
        if let types = e.tokenType { named.append((prefix + "embeddings.token_type_embeddings.weight", types)) }
        for norm in encoder.layerNorms { named += [(norm.name + ".weight", norm.weight), (norm.name + ".bias", norm.bias)] }
        var linears = encoder.blockLinears + [encoder.pooler].compactMap { $0 }
        if let head = encoder.head { linears += [head.dense, head.output].compactMap { $0 } }
        for linear in linears {
            named.append((linear.name + ".weight", linear.weight))
            if let bias = linear.bias { named.append((linear.name + ".bias", bias)) }
        }
        return named
    }

    /// Writes the folder as a whole (`AtomicFolder`: a previous export stays until the new one is complete;
    /// other files in it are kept); returns the files written. The adapter (if any, and not merged yet) is merged for
    /// the write and unmerged after, so the session is left as it was.
    static func write(encoder: Encoder, adapters: LoRAModel?, baseFolder: URL, labelNames: [String], dtype: SafetensorsDType,
                      to folder: URL) throws -> [String] {
        if let quantized = (encoder.blockLinears + [encoder.pooler].compactMap { $0 }).first(where: \.isQuantized) {
            throw SessionError("\(quantized.name) is held in 4 bits (QLoRA): transformers' model folder needs full weights",
                               hint: "save the adapter instead (save adapter \"dir\"); merging into 4-bit weights would round the adapter away")
        }
        let mergeHere = adapters.map { !$0.isMerged } ?? false
        if mergeHere { try adapters!.merge() }
        defer { if mergeHere { try? adapters!.unmerge() } }
        let named = try tensors(encoder)
        var payloads: [String: SafetensorsWriter.Payload] = [:]
        for (name, tensor) in named { payloads[name] = .float(tensor, dtype) }
        let configData = try config(baseFolder: baseFolder, encoder: encoder, labelNames: labelNames, dtype: dtype)
        var files = ["config.json", "model.safetensors"]
        try AtomicFolder.write(folder, keepingOtherFiles: true) { temporary in
            try SafetensorsWriter.write(payloads, metadata: ["format": "pt"], to: temporary.appendingPathComponent("model.safetensors"))
            try AtomicFile.write(configData, to: temporary.appendingPathComponent("config.json"))
            for name in tokenizerFiles {
                let source = baseFolder.appendingPathComponent(name)
                guard FileManager.default.fileExists(atPath: source.path) else { continue }
                let data: Data
                do { data = try Data(contentsOf: source) } catch {
                    throw CheckpointError(source, "cannot read the tokenizer file (\(error.localizedDescription))")
                }
                try AtomicFile.write(data, to: temporary.appendingPathComponent(name))
                files.append(name)
            }
        }
        return files
    }

    /// The base model's config.json with this export's architecture, labels and dtype.
    static func config(baseFolder: URL, encoder: Encoder, labelNames: [String], dtype: SafetensorsDType) throws -> Data {
        let url = baseFolder.appendingPathComponent("config.json")
        guard var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw CheckpointError(url, "top level is not a JSON object")
        }
        let classifier = encoder.head != nil
        json["architectures"] = [architecture(encoder.config.family, classifier: classifier)]
        if classifier {
            json["id2label"] = Dictionary(uniqueKeysWithValues: labelNames.enumerated().map { ("\($0)", $1) })
            json["label2id"] = Dictionary(uniqueKeysWithValues: labelNames.enumerated().map { ($1, $0) })
        }
        json.removeValue(forKey: "torch_dtype")
        json["dtype"] = switch dtype {
        case .f16: "float16"
        case .bf16: "bfloat16"
        default: "float32"
        }
        return try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
    }
}
