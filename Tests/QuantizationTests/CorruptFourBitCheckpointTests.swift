import Foundation
import Testing
import FinchCheckpoint
import FinchModels
import FinchTensor
import TestSupport

/// Broken bitsandbytes 4-bit checkpoints: each is transformers' tiny 4-bit folder
/// (qlora_checkpoint_reference.py, tiny-bert-h21-nf4-dq) with one entry damaged, and each must fail to load
/// with an error naming the file, the entry and what is wrong with it.
@Suite struct CorruptFourBitCheckpointTests {
    static let weight = "bert.encoder.layer.0.attention.self.query.weight"
    static let state = weight + ".quant_state.bitsandbytes__nf4"

    /// A damage to the checkpoint and the fragments its error message must contain.
    struct Corruption: Sendable, CustomStringConvertible {
        let description: String
        let fragments: [String]
    }

    static let corruptions: [Corruption] = [
        Corruption(description: "truncated packed weight", fragments: ["\(weight): 220 packed bytes", "(441 values) needs 221"]),
        Corruption(description: "absmax dropped", fragments: ["\(weight).absmax is missing"]),
        Corruption(description: "absmax one block short", fragments: ["\(weight).absmax: 6 nested codes for 7 blocks of 64"]),
        Corruption(description: "quant_map of 15 values", fragments: ["\(weight).quant_map: 15 values; a 4-bit code map has 16"]),
        Corruption(description: "quant_map not nf4", fragments: ["\(weight).quant_map: value 0 is 0.0, not bitsandbytes' nf4 code -1.0"]),
        Corruption(description: "nested_absmax dropped", fragments: ["\(weight).nested_absmax is missing", "double-quantized"]),
        Corruption(description: "quant_state dropped", fragments: ["\(weight): no \(state)", "quant_state is missing"]),
        Corruption(description: "quant_state not JSON", fragments: ["\(state): the quant_state is not valid JSON", "{\"quant_type\": nf4"]),
        Corruption(description: "quant_state without blocksize", fragments: ["\(state): \"blocksize\" must be an integer"]),
        Corruption(description: "unknown quant type in the key", fragments: ["\(weight).quant_state.bitsandbytes__int4: unknown 4-bit quant type \"int4\""]),
        Corruption(description: "unknown quant type in the JSON", fragments: ["\(state): unknown quant_type \"nf5\""]),
        Corruption(description: "shape that is not the config's", fragments: ["\(state): shape [21, 20] but the model config implies [21, 21]"]),
        Corruption(description: "nested keys half there", fragments: ["\(state): double quantization needs nested_blocksize, nested_dtype, nested_offset"]),
        Corruption(description: "absmax stored as I64", fragments: ["\(weight).absmax is I64 [7]; expected U8"]),
    ]

    @Test(arguments: corruptions)
    func refusedWithAClearError(_ corruption: Corruption) throws {
        let source = try TestPaths.referenceFile("qlora_checkpoint/tiny-bert-h21-nf4-dq/model")
        let original = try SafetensorsFile(url: source.appendingPathComponent("model.safetensors"))
        var tensors: [String: SafetensorsWriter.Payload] = [:]
        for name in original.names {
            let entry = original.entries[name]!
            tensors[name] = entry.dtype == .u8
                ? .bytes(try original.integers(name).values.map { UInt8($0) }, shape: entry.shape)
                : .float(try original.tensor(name), entry.dtype)
        }
        try Self.damage(&tensors, corruption.description)

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-corrupt-\(getpid())-\(corruption.description.hashValue)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: folder.appendingPathComponent("config.json"))
        try SafetensorsWriter.write(tensors, to: folder.appendingPathComponent("model.safetensors"))

        let error = try #require(throws: CheckpointError.self) {
            try EncoderLoader.load(folder: folder, task: .classify(labels: 2, seed: 0))
        }
        #expect(error.path == folder.appendingPathComponent("model.safetensors").path, "the error names the file: \(error)")
        for fragment in corruption.fragments {
            #expect(error.problem.contains(fragment), "\(corruption): \(error.problem) lacks \"\(fragment)\"")
        }
    }

    static func damage(_ tensors: inout [String: SafetensorsWriter.Payload], _ name: String) throws {
        func json(_ edit: (inout String) -> Void) throws {
            guard case let .bytes(bytes, _)? = tensors[state] else { throw MissingFixture("\(state) is not U8") }
            var text = String(decoding: bytes, as: UTF8.self)
            edit(&text)
            tensors[state] = .bytes(Array(text.utf8), shape: [text.utf8.count])
        }
        switch name {
        case "truncated packed weight":
            guard case let .bytes(bytes, _)? = tensors[weight] else { throw MissingFixture("\(weight) is not U8") }
            tensors[weight] = .bytes(Array(bytes.dropLast()), shape: [bytes.count - 1, 1])
        case "absmax dropped": tensors[weight + ".absmax"] = nil
        case "absmax one block short":
            guard case let .bytes(codes, _)? = tensors[weight + ".absmax"] else { throw MissingFixture("absmax is not U8") }
            tensors[weight + ".absmax"] = .bytes(Array(codes.dropLast()), shape: [codes.count - 1])
        case "quant_map of 15 values":
            tensors[weight + ".quant_map"] = .float(Tensor([Float](repeating: 0, count: 15), shape: [15]))
        case "quant_map not nf4":
            tensors[weight + ".quant_map"] = .float(Tensor((0..<16).map { Float($0) / 15 }, shape: [16]))
        case "nested_absmax dropped": tensors[weight + ".nested_absmax"] = nil
        case "quant_state dropped": tensors[state] = nil
        case "quant_state not JSON": try json { $0 = $0.replacingOccurrences(of: "\"nf4\"", with: "nf4") }
        case "quant_state without blocksize": try json { $0 = $0.replacingOccurrences(of: "\"blocksize\": 64, ", with: "") }
        case "unknown quant type in the key":
            tensors[weight + ".quant_state.bitsandbytes__int4"] = tensors[state]
            tensors[state] = nil
        case "unknown quant type in the JSON": try json { $0 = $0.replacingOccurrences(of: "\"nf4\"", with: "\"nf5\"") }
        case "shape that is not the config's": try json { $0 = $0.replacingOccurrences(of: "[21, 21]", with: "[21, 20]") }
        case "nested keys half there": try json { $0 = $0.replacingOccurrences(of: "\"nested_blocksize\": 256, ", with: "") }
        case "absmax stored as I64":
            guard case let .bytes(codes, shape)? = tensors[weight + ".absmax"] else { throw MissingFixture("absmax is not U8") }
            tensors[weight + ".absmax"] = .integers(codes.map(Int.init), shape: shape)
        default: Issue.record("no damage named \(name)")
        }
    }
}
