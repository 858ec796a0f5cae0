import Foundation
import Testing
@testable import FinchCheckpoint
import FinchTensor

/// A fresh temporary folder per test.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("finch-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Writes a safetensors file by hand: header JSON then raw bytes, so malformed files can be made.
func writeRaw(header: String, data: [UInt8], headerLength: UInt64? = nil, to url: URL) throws {
    var bytes = Data()
    let headerBytes = Data(header.utf8)
    withUnsafeBytes(of: (headerLength ?? UInt64(headerBytes.count)).littleEndian) { bytes.append(contentsOf: $0) }
    bytes.append(headerBytes)
    bytes.append(contentsOf: data)
    try bytes.write(to: url)
}

@Suite struct SafetensorsTests {
    @Test func roundTripsEveryWritableDType() throws {
        let folder = try temporaryFolder()
        let url = folder.appendingPathComponent("t.safetensors")
        let values: [Float] = [0, 1, -2.5, 3.140625, 1e-3, -65504]
        let t = Tensor(values, shape: [2, 3])
        try SafetensorsWriter.write([
            "a.f32": .float(t), "b.f16": .float(t, .f16), "c.bf16": .float(t, .bf16),
            "ids": .integers([3, -1, 250_001], shape: [3]),
        ], metadata: ["format": "pt"], to: url)
        let file = try SafetensorsFile(url: url)
        #expect(file.names == ["a.f32", "b.f16", "c.bf16", "ids"])
        #expect(file.metadata == ["format": "pt"])
        #expect(try file.tensor("a.f32").array == values)
        #expect(try file.tensor("a.f32").shape == [2, 3])
        #expect(try file.tensor("b.f16").array == values.map { Float(Float16($0)) })
        let bf16 = try file.tensor("c.bf16").array
        #expect(bf16[1] == 1 && bf16[2] == -2.5 && bf16[3] == 3.140625)
        #expect(abs(bf16[4] - 1e-3) < 1e-5)
        #expect(try file.integers("ids").values == [3, -1, 250_001])
        // No temporary file is left behind by the atomic writer.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["t.safetensors"])
    }

    @Test func alignedF32IsBorrowedNotCopied() throws {
        let url = try temporaryFolder().appendingPathComponent("t.safetensors")
        try SafetensorsWriter.write(["w": .float(Tensor([1, 2, 3, 4], shape: [4]))], to: url)
        let tensor = try SafetensorsFile(url: url).tensor("w")
        #expect(!tensor.isOwned)
        tensor.makeWritable()
        tensor[0] = 9
        #expect(tensor.isOwned && tensor.array == [9, 2, 3, 4])
    }

    @Test func bf16RoundsToNearestEven() {
        #expect(SafetensorsWriter.roundedBFloat16Bits(1) == 0x3F80)
        #expect(SafetensorsWriter.roundedBFloat16Bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80) // tie → even
        #expect(SafetensorsWriter.roundedBFloat16Bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82) // tie → even
        #expect(SafetensorsWriter.roundedBFloat16Bits(.nan) == 0x7FC0)
    }

    /// Each malformed file gives an error that names the file and says what is wrong.
    @Test(arguments: [
        ("", [UInt8](), UInt64?(nil), "too short"),
        (#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 4), nil, "data ends at byte 8 but the data section has 4 bytes"),
        (#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), nil, "shape [3] of F32 needs 12 bytes but data_offsets span 8"),
        (#"{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), nil, "unsupported dtype Q4"),
        (#"{"w":{"dtype":"F32","shape":[2]}}"#, [UInt8](repeating: 0, count: 8), nil, "\"data_offsets\" must be [begin, end]"),
        (#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), nil, "\"shape\" must be a list of non-negative integers"),
        (#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#, [UInt8](repeating: 0, count: 8), nil, "header is not valid JSON"),
        (#"[1,2]"#, [UInt8](), nil, "header is not a JSON object"),
        (#"{}"#, [UInt8](), UInt64(1 << 40), "exceeds the file size"),
        (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, [UInt8](repeating: 0, count: 8), nil, "overlap"),
    ] as [(String, [UInt8], UInt64?, String)])
    func malformedFilesAreRejectedClearly(header: String, data: [UInt8], headerLength: UInt64?, message: String) throws {
        let url = try temporaryFolder().appendingPathComponent("bad.safetensors")
        if header.isEmpty {
            try Data([1, 2, 3]).write(to: url)
        } else {
            try writeRaw(header: header, data: data, headerLength: headerLength, to: url)
        }
        let error = #expect(throws: CheckpointError.self) { try SafetensorsFile(url: url) }
        #expect(error?.path == url.path)
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
    }

    @Test func missingFileAndMissingTensorAreNamed() throws {
        let folder = try temporaryFolder()
        let missing = #expect(throws: CheckpointError.self) { try SafetensorsFile(url: folder.appendingPathComponent("nope.safetensors")) }
        #expect(missing?.problem == "file not found")
        let url = folder.appendingPathComponent("t.safetensors")
        try SafetensorsWriter.write(["w": .float(Tensor([1], shape: [1])), "i": .integers([1], shape: [1])], to: url)
        let file = try SafetensorsFile(url: url)
        #expect(throws: CheckpointError(url, "no tensor named \"x\"")) { try file.tensor("x") }
        #expect(throws: CheckpointError(url, "tensor \"i\" is I64, not a floating-point type")) { try file.tensor("i") }
    }

    @Test func failedAtomicWriteKeepsThePreviousFile() throws {
        let folder = try temporaryFolder()
        let url = folder.appendingPathComponent("t.safetensors")
        try SafetensorsWriter.write(["w": .float(Tensor([1, 2], shape: [2]))], to: url)
        // A destination that is a non-empty folder cannot be replaced by rename.
        let blocked = folder.appendingPathComponent("blocked")
        try FileManager.default.createDirectory(at: blocked.appendingPathComponent("inside"), withIntermediateDirectories: true)
        #expect(throws: CheckpointError.self) { try AtomicFile.write(Data([1]), to: blocked) }
        #expect(try SafetensorsFile(url: url).tensor("w").array == [1, 2])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["blocked", "t.safetensors"])
    }
}

@Suite struct WeightStoreTests {
    @Test func shardedCheckpointsResolveThroughTheIndex() throws {
        let folder = try temporaryFolder()
        try SafetensorsWriter.write(["a": .float(Tensor([1, 2], shape: [2]))], to: folder.appendingPathComponent("model-00001-of-00002.safetensors"))
        try SafetensorsWriter.write(["b": .float(Tensor([3], shape: [1]))], to: folder.appendingPathComponent("model-00002-of-00002.safetensors"))
        let index = #"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#
        try Data(index.utf8).write(to: folder.appendingPathComponent("model.safetensors.index.json"))
        let store = try WeightStore(folder: folder)
        #expect(store.names == ["a", "b"])
        #expect(try store.tensor("b").array == [3])
        #expect(throws: CheckpointError(folder.appendingPathComponent("model-00001-of-00002.safetensors").path,
                                        "weight \"a\" has shape [2] but the config implies [3]")) {
            try store.tensor("a", shape: [3])
        }
    }

    @Test func indexNamingAMissingTensorIsAnError() throws {
        let folder = try temporaryFolder()
        try SafetensorsWriter.write(["a": .float(Tensor([1], shape: [1]))], to: folder.appendingPathComponent("s.safetensors"))
        try Data(#"{"weight_map":{"a":"s.safetensors","zzz":"s.safetensors"}}"#.utf8).write(to: folder.appendingPathComponent("model.safetensors.index.json"))
        let error = #expect(throws: CheckpointError.self) { try WeightStore(folder: folder) }
        #expect(error?.problem == "index lists tensor \"zzz\" here but the shard has no such tensor")
    }

    @Test func folderWithoutWeightsIsNamed() throws {
        let folder = try temporaryFolder()
        #expect(throws: CheckpointError(folder, "no model.safetensors or model.safetensors.index.json in this folder")) {
            try WeightStore(folder: folder)
        }
        // A pickled checkpoint is named and refused, never unpickled (security: unpickling runs code).
        try Data("not read".utf8).write(to: folder.appendingPathComponent("pytorch_model.bin"))
        let error = try #require(throws: CheckpointError.self) { try WeightStore(folder: folder) }
        #expect(error.description.contains("has pytorch_model.bin but no model.safetensors: Finch never loads pickled PyTorch files"))
    }
}

@Suite struct AtomicFileTests {
    @Test func aDeviceIsWrittenInPlaceNotReplaced() throws {
        try AtomicFile.write(Data("discarded".utf8), to: URL(fileURLWithPath: "/dev/null"))
        var status = stat()
        #expect(stat("/dev/null", &status) == 0)
        #expect((status.st_mode & S_IFMT) == S_IFCHR, "/dev/null is still a character device")
    }

    @Test func aFolderIsAnError() throws {
        #expect(throws: CheckpointError.self) { try AtomicFile.write(Data(), to: FileManager.default.temporaryDirectory) }
    }
}
