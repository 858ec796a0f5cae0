import Foundation
import Testing
@testable import FinchCheckpoint
import FinchTensor
import TestSupport

/// The SmolLM2 GGUF file the reader must support, and the fixtures `Tests/Reference/gguf_reference.py` writes.
private let smolLM2Path = "SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf"

private func smolLM2() throws -> GGUFFile {
    let folder = try TestPaths.model("SmolLM2-135M-Instruct-GGUF")
    return try GGUFFile(contentsOf: folder.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf"))
}

/// The first index where two float arrays differ in bits, or nil when they are bit-identical.
private func firstBitDifference(_ actual: [Float], _ expected: [Float]) -> Int? {
    guard actual.count == expected.count else { return min(actual.count, expected.count) }
    return actual.indices.first { actual[$0].bitPattern != expected[$0].bitPattern }
}

/// Whether a metadata value equals its JSON form from gguf_reference.py: `{"type", "value"}` for scalars,
/// `{"type": "ARRAY", "element_type", "count", "value"}` (or `"first"`: the first 5 items) for arrays.
private func matches(_ value: GGUFValue, _ json: [String: Any]) -> Bool {
    guard json["type"] as? String == value.type.name else { return false }
    if case .array(let elementType, let elements) = value {
        guard json["element_type"] as? String == elementType.name, json["count"] as? Int == elements.count,
              let items = (json["value"] ?? json["first"]) as? [Any], items.count <= elements.count
        else { return false }
        return zip(elements, items).allSatisfy { matchesItem($0, $1) }
    }
    return json["value"].map { matchesItem(value, $0) } ?? false
}

/// Compares one value with a bare JSON item (a nested array is a JSON list).
private func matchesItem(_ value: GGUFValue, _ item: Any) -> Bool {
    switch value {
    case .string(let s): return item as? String == s
    case .bool(let b): return item as? Bool == b
    // Through the decimal text: Foundation parses long decimals as NSDecimalNumber, whose doubleValue is inexact.
    case .float32(let f): return (item as? NSNumber).flatMap { Double($0.stringValue) } == Double(f)
    case .float64(let d): return (item as? NSNumber).flatMap { Double($0.stringValue) } == d
    case .array(_, let elements):
        guard let items = item as? [Any], items.count == elements.count else { return false }
        return zip(elements, items).allSatisfy { matchesItem($0, $1) }
    default:
        let text: String? = switch value {
        case .uint64(let v): String(v)
        case .int64(let v): String(v)
        default: value.int.map(String.init)
        }
        return (item as? NSNumber)?.stringValue == text
    }
}

@Suite struct GGUFReferenceTests {
    /// Every tensor of types.gguf dequantizes bit-identically (0 ulp) to gguf.quants.dequantize.
    @Test func everyTypeDequantizesBitExactly() throws {
        let file = try GGUFFile(contentsOf: try TestPaths.referenceFile("gguf/types.gguf"))
        let expected = try ReferenceTensors("gguf/types_expected.safetensors")
        #expect(file.version == 3 && file.alignment == 32)
        #expect(file.tensors.map(\.name).sorted() == expected.file.names)
        var typesSeen: Set<String> = []
        for info in file.tensors {
            // Names are "<type>.<shape case>", e.g. "q4_k.matrix".
            #expect(info.type.name == info.name.split(separator: ".")[0].uppercased(), "\(info.name)")
            typesSeen.insert(info.type.name)
            let tensor = try file.tensor(named: info.name)
            let reference = try expected.tensor(info.name)
            #expect(tensor.shape == reference.shape, "\(info.name)")
            let difference = firstBitDifference(tensor.array, reference.array)
            #expect(difference == nil, "\(info.name) (\(info.type.name)) differs at element \(difference ?? -1)")
        }
        #expect(typesSeen == ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"])
        // F32 at an aligned offset is borrowed from the mapping; quantized types are owned.
        #expect(try !file.tensor(named: "f32.matrix").isOwned)
        #expect(try file.tensor(named: "q4_k.matrix").isOwned)
        #expect(file.tensorInfo(named: "q6_k.matrix")?.dimensions == [256, 3])
        #expect(file.tensorInfo(named: "q6_k.matrix")?.shape == [3, 256])
        #expect(file.tensorInfo(named: "q4_0.cube")?.byteCount == 4 * 18)
    }

    @Test func metadataOfEveryValueTypeMatches() throws {
        let file = try GGUFFile(contentsOf: try TestPaths.referenceFile("gguf/types.gguf"))
        let json = try #require(try referenceJSON("gguf/types_metadata.json") as? [String: [String: Any]])
        #expect(Set(file.metadataKeys) == Set(json.keys))
        #expect(file.metadataKeys.count == json.count)
        for (key, entry) in json {
            let value = try #require(file.metadata[key], "missing \(key)")
            #expect(matches(value, entry), "\(key): \(value) vs \(entry)")
        }
        #expect(Set(file.metadata.values.map(\.type.name)) == Set(GGUFValueType.allCases.map(\.name)))
        // Convenience accessors.
        #expect(file.string("general.architecture") == "finch-test")
        #expect(file.int("test.int64") == Int.min)
        #expect(file.int("test.uint64") == nil)
        #expect(file.double("test.uint64") == Double(UInt64.max))
        #expect(file.double("test.float32") == Double(Float(3.14159)))
        #expect(file.bool("test.bool.true") == true && file.bool("test.bool.false") == false)
        #expect(file.string("test.string.empty") == "")
        #expect(file.strings("test.array.strings") == ["alpha", "", "βeta", "<|im_start|>"])
        #expect(file.ints("test.array.uint8") == [0, 7, 255])
        #expect(file.ints("test.array.uint64") == nil)
        #expect(file.floats("test.array.float32") == [0.5, -1.25, Float(1e-3)])
        #expect(file.metadata["test.array.nested.int32"]?.array?.map(\.ints) == [[1, 2], [3], [-4, 5, 6]])
        #expect(file.strings("test.array.int32") == nil && file.string("test.int32") == nil)
    }

    @Test func smolLM2MetadataAndTensorTableMatch() throws {
        let file = try smolLM2()
        let json = try #require(try referenceJSON("gguf/smollm2_metadata.json") as? [String: Any])
        let metadata = try #require(json["metadata"] as? [String: [String: Any]])
        #expect(file.version == 3)
        #expect(Set(file.metadataKeys) == Set(metadata.keys))
        for (key, entry) in metadata {
            let value = try #require(file.metadata[key], "missing \(key)")
            #expect(matches(value, entry), "\(key)")
        }
        let tensors = try #require(json["tensors"] as? [[String: Any]])
        #expect(file.tensors.count == json["tensor_count"] as? Int)
        #expect(file.tensors.map(\.name) == tensors.map { $0["name"] as? String ?? "" })
        #expect(file.tensors.map(\.type.name) == tensors.map { $0["type"] as? String ?? "" })
        #expect(file.tensors.map(\.shape) == tensors.map { $0["shape"] as? [Int] ?? [] })
        // The embedded tokenizer and hyperparameters through the typed accessors.
        #expect(file.string("general.architecture") == "llama")
        #expect(file.int("llama.block_count") == 30 && file.int("llama.embedding_length") == 576)
        #expect(file.strings("tokenizer.ggml.tokens")?.count == 49152)
        #expect(file.strings("tokenizer.ggml.merges")?.count == 48900)
        #expect(file.ints("tokenizer.ggml.token_type")?.count == 49152)
        #expect(file.double("llama.rope.freq_base") == 100_000)
    }

    /// The real file's tensors dequantize bit-identically to gguf.quants.dequantize (Q8_0, Q4_1, F32).
    @Test func smolLM2TensorsMatchGGUFPy() throws {
        let file = try smolLM2()
        let expected = try ReferenceTensors("gguf/smollm2_tensors.safetensors")
        for name in ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight", "output_norm.weight"] {
            let tensor = try file.tensor(named: name), reference = try expected.tensor(name)
            #expect(tensor.shape == reference.shape, "\(name)")
            #expect(firstBitDifference(tensor.array, reference.array) == nil, "\(name)")
        }
        let embedding = try file.tensor(named: "token_embd.weight")
        let rows = try expected.tensor("token_embd.weight[:64]")
        #expect(embedding.shape == [49152, 576] && rows.shape == [64, 576])
        #expect(firstBitDifference(Array(embedding.array.prefix(rows.count)), rows.array) == nil)
    }

    /// Every tensor of the real file dequantizes to finite values with the right counts; prints the timings.
    @Test func wholeSmolLM2FileDequantizes() throws {
        let clock = ContinuousClock()
        var file: GGUFFile?
        let openTime = try clock.measure { file = try smolLM2() }
        let gguf = try #require(file)
        var elements = 0, nonFinite = 0, dequantizeTime = Duration.zero
        for info in gguf.tensors {
            var tensor: Tensor?
            dequantizeTime += try clock.measure { tensor = try gguf.tensor(named: info.name) }
            let values = try #require(tensor)
            #expect(values.count == info.elementCount && values.shape == info.shape, "\(info.name)")
            elements += values.count
            for i in 0..<values.count where !values[i].isFinite { nonFinite += 1 }
        }
        #expect(gguf.tensors.count == 272)
        #expect(elements == 134_515_008)
        #expect(nonFinite == 0)
        let counts = Dictionary(grouping: gguf.tensors, by: \.type.name).mapValues(\.count)
        #expect(counts == ["Q4_1": 210, "F32": 61, "Q8_0": 1])
        print("GGUF \(smolLM2Path): open \(openTime), dequantize all \(gguf.tensors.count) tensors (\(elements) values) \(dequantizeTime)")
    }
}
