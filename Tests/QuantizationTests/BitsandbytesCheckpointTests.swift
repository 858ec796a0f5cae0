import Foundation
import Testing
import FinchCheckpoint
import FinchModels
import FinchPEFT
import FinchQuantization
import FinchTensor
import TestSupport

/// bitsandbytes 4-bit checkpoints in and out (Tests/Reference/qlora_checkpoint_reference.py): a folder that
/// transformers saved from a BitsAndBytesConfig model loads in Finch as 4-bit layers holding exactly the stored
/// codes (which equal Finch's own quantization of the float32 weights) and gives transformers' logits; Finch's
/// `EncoderWriter` writes the same entries, byte for byte, and the same quantization_config.
@Suite struct BitsandbytesCheckpointTests {
    static let cases = ["minilm-nf4-dq", "minilm-fp4", "tiny-bert-h21-nf4-dq"]

    struct Case {
        let info: [String: Any]
        let expected: ReferenceTensors
        let folder: URL
        let source: URL
        let labels: Int
        let format: FourBitFormat
        let quantizedModules: [String]

        init(_ name: String) throws {
            info = try #require(try referenceJSON("qlora_checkpoint/\(name)/case.json") as? [String: Any])
            expected = try ReferenceTensors("qlora_checkpoint/\(name)/expected.safetensors")
            folder = try TestPaths.referenceFile("qlora_checkpoint/\(name)/model")
            let base = try #require(info["base_model"] as? [String: String])
            source = try base["models"].map { try TestPaths.model($0) } ?? TestPaths.referenceFile(try #require(base["reference"]))
            labels = try #require(info["num_labels"] as? Int)
            let quantization = try #require(info["quantization"] as? [String: Any])
            format = FourBitFormat(type: try #require(FourBitType(rawValue: quantization["quant_type"] as? String ?? "")),
                                   blockSize: try #require(quantization["blocksize"] as? Int),
                                   doubleQuantization: try #require(quantization["double_quant"] as? Bool))
            quantizedModules = try #require(quantization["quantized_modules"] as? [String])
        }

        func batch() throws -> EncoderBatch {
            let shape = expected.shape("input_ids")
            return EncoderBatch(batchSize: shape[0], sequenceLength: shape[1], ids: try expected.int32s("input_ids"),
                                attentionMask: try expected.int32s("attention_mask"), typeIds: try expected.int32s("token_type_ids"))
        }

        func logitsDifference(_ encoder: Encoder) throws -> Float {
            let logits = try ClassifierStep(config: encoder.config).forward(encoder, try batch())
            return maxAbsoluteDifference(logits.data, try expected.tensor("logits")).value
        }
    }

    static func linears(_ encoder: Encoder) -> [Linear] {
        encoder.blockLinears + [encoder.pooler, encoder.head?.dense, encoder.head?.output].compactMap { $0 }
    }

    @Test(arguments: cases)
    func transformersFolderLoadsAsStoredFourBitLayers(name: String) throws {
        let c = try Case(name)
        let encoder = try EncoderLoader.load(folder: c.folder, task: .classify(labels: c.labels, seed: 0))
        #expect(Self.linears(encoder).filter(\.isQuantized).map(\.name) == c.quantizedModules)
        #expect(encoder.head.map { !$0.output.isQuantized } == true, "the head is float32")
        #expect(QLoRA.storedFormat(encoder) == c.format)

        // The stored codes and statistics are exactly Finch's quantization of the float32 checkpoint.
        let float32 = try EncoderLoader.load(folder: c.source, task: .embed)
        for (stored, original) in zip(encoder.blockLinears + [encoder.pooler!], float32.blockLinears + [float32.pooler!]) {
            let fourBit = try #require(stored.quantized, "\(stored.name) is not 4-bit")
            let ours = try FourBitTensor(quantizing: original.weight.data, shape: original.weight.shape, format: c.format)
            #expect(firstDifference(fourBit.packed, ours.packed) == nil, "\(stored.name): packed bytes")
            #expect(fourBit.scales == ours.scales, "\(stored.name): block statistics")
            #expect(stored.bias?.array == original.bias?.array, "\(stored.name): bias")
        }

        let difference = try c.logitsDifference(encoder)
        #expect(difference <= 1e-4, "\(name): logits differ from transformers' 4-bit model by \(difference)")
        print("\(name): \(c.quantizedModules.count) layers \(c.format); logits max |Δ| \(difference)")
    }

    /// Finch writes what transformers wrote: every entry (4-bit parts, quant_state JSON, float32 weights)
    /// byte-identical, the same quantization_config; and the written folder loads back with the same logits.
    @Test(arguments: cases)
    func writerReproducesTransformersFolder(name: String) throws {
        let c = try Case(name)
        let encoder = try EncoderLoader.load(folder: c.folder, task: .classify(labels: c.labels, seed: 0))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("finch-bnb-\(name)-\(getpid())/model")
        defer { try? FileManager.default.removeItem(at: out.deletingLastPathComponent()) }
        let report = try EncoderWriter.save(encoder, labels: [], source: c.folder, to: out)
        #expect(report.quantizedLayers == c.quantizedModules.count && report.format == c.format)
        let differing = try differingEntries(out.appendingPathComponent("model.safetensors"), c.folder.appendingPathComponent("model.safetensors"))
        #expect(differing == [], "\(differing.prefix(8))")
        #expect(try quantizationConfig(out) == quantizationConfig(c.folder))
        let reloaded = try EncoderLoader.load(folder: out, task: .classify(labels: c.labels, seed: 1))
        #expect(try c.logitsDifference(reloaded) <= 1e-4)
    }

    /// `qlora` on the float32 model, then `save model`: the same file as transformers' quantize-and-save,
    /// except the freshly initialised head's weight (seeded differently in the two programs; both biases are 0).
    @Test func quantizingAndSavingMatchesTransformers() throws {
        let c = try Case("minilm-nf4-dq")
        let encoder = try EncoderLoader.load(folder: c.source, task: .classify(labels: c.labels, seed: 0))
        let report = try QLoRA.quantize(encoder, targets: .allLinear, format: c.format)
        #expect(report.layers == c.quantizedModules)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("finch-bnb-quantize-\(getpid())/model")
        defer { try? FileManager.default.removeItem(at: out.deletingLastPathComponent()) }
        try EncoderWriter.save(encoder, labels: ["a", "b", "c"], source: c.source, to: out)
        let differing = try differingEntries(out.appendingPathComponent("model.safetensors"), c.folder.appendingPathComponent("model.safetensors"))
        #expect(differing == ["classifier.weight"], "\(differing.prefix(8))")
        #expect(try quantizationConfig(out) == quantizationConfig(c.folder))
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json"))) as? [String: Any])
        #expect(config["id2label"] as? [String: String] == ["0": "a", "1": "b", "2": "c"])
        #expect(config["architectures"] as? [String] == ["BertForSequenceClassification"])
        // transformers refuses an integer threshold ("llm_int8_threshold must be a float").
        let text = try String(contentsOf: out.appendingPathComponent("config.json"), encoding: .utf8)
        #expect(text.range(of: #""llm_int8_threshold"\s*:\s*6\.0"#, options: .regularExpression) != nil)
        for file in ["tokenizer.json", "vocab.txt", "tokenizer_config.json"] {
            #expect(FileManager.default.contentsEqual(atPath: out.appendingPathComponent(file).path, andPath: c.source.appendingPathComponent(file).path), "\(file)")
        }
    }

    /// Saving over an existing folder replaces it whole; a failed save leaves it as it was.
    @Test func savingReplacesTheFolderOnlyWhenComplete() throws {
        let c = try Case("tiny-bert-h21-nf4-dq")
        let encoder = try EncoderLoader.load(folder: c.folder, task: .classify(labels: c.labels, seed: 0))
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("finch-bnb-replace-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: out.appendingPathComponent("stale.txt"))
        try EncoderWriter.save(encoder, labels: [], source: c.folder, to: out)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("stale.txt").path))
        #expect((try FileManager.default.contentsOfDirectory(atPath: root.path)) == ["model"], "no temporary folder left")

        let before = try Data(contentsOf: out.appendingPathComponent("model.safetensors"))
        let noConfig = root.appendingPathComponent("no-config")
        try FileManager.default.createDirectory(at: noConfig, withIntermediateDirectories: true)
        #expect(throws: CheckpointError.self) { try EncoderWriter.save(encoder, labels: [], source: noConfig, to: out) }
        #expect(try Data(contentsOf: out.appendingPathComponent("model.safetensors")) == before)
    }
}

/// Names of the entries whose dtype, shape or bytes differ between two safetensors files (or that only one has).
func differingEntries(_ a: URL, _ b: URL) throws -> [String] {
    let fileA = try SafetensorsFile(url: a), fileB = try SafetensorsFile(url: b)
    var differing: [String] = []
    for name in Set(fileA.names).union(fileB.names).sorted() {
        guard let x = fileA.entries[name], let y = fileB.entries[name], x.dtype == y.dtype, x.shape == y.shape else {
            differing.append(name)
            continue
        }
        let same = x.dtype == .u8 ? try fileA.integers(name).values == fileB.integers(name).values
            : try fileA.tensor(name).array.map(\.bitPattern) == fileB.tensor(name).array.map(\.bitPattern)
        if !same { differing.append(name) }
    }
    return differing
}

/// config.json's quantization_config, as JSON text with sorted keys (for comparison).
func quantizationConfig(_ folder: URL) throws -> String {
    let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("config.json"))) as? [String: Any])
    let quantization = try #require(config["quantization_config"])
    return String(decoding: try JSONSerialization.data(withJSONObject: quantization, options: [.sortedKeys]), as: UTF8.self)
}
