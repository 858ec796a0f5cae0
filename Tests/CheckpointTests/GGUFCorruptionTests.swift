import Foundation
import Testing
@testable import FinchCheckpoint
import FinchTensor

private func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
private func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
private func string(_ s: String) -> [UInt8] { u64(UInt64(s.utf8.count)) + Array(s.utf8) }

/// GGUF value type ids and ggml tensor type ids used below.
private let typeUInt32: UInt32 = 4, typeString: UInt32 = 8, typeArray: UInt32 = 9
private let tensorF32: UInt32 = 0, tensorQ8_0: UInt32 = 8

/// A metadata entry: key, value type, value bytes.
private func entry(_ key: String, _ type: UInt32, _ value: [UInt8]) -> [UInt8] { string(key) + u32(type) + value }

/// A tensor table entry: name, dimension count, ne[], type id, data offset.
private func tensorEntry(_ name: String, _ dims: [UInt64], _ type: UInt32, offset: UInt64) -> [UInt8] {
    string(name) + u32(UInt32(dims.count)) + dims.flatMap(u64) + u32(type) + u64(offset)
}

/// Writes GGUF files byte by byte, so each corruption can be made on purpose. `valid` is a small correct file:
/// two metadata strings/numbers, an array, an F32 tensor "w" (ne [4, 2]) and a Q8_0 tensor "q" (ne [32]).
struct GGUFBuilder: Sendable {
    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    var tensorCount: UInt64?
    var entryCount: UInt64?
    var entries: [[UInt8]]
    var tensors: [[UInt8]]
    var alignment = 32
    var data: [UInt8]

    static let valid = GGUFBuilder(
        entries: [
            entry("general.architecture", typeString, string("llama")),
            entry("test.count", typeUInt32, u32(7)),
            entry("test.list", typeArray, u32(typeUInt32) + u64(2) + u32(1) + u32(2)),
        ],
        tensors: [tensorEntry("w", [4, 2], tensorF32, offset: 0), tensorEntry("q", [32], tensorQ8_0, offset: 32)],
        data: (0..<8).flatMap { u32(Float($0).bitPattern) } + [0x00, 0x3C] + (-16..<16).map { UInt8(bitPattern: Int8($0)) })

    var bytes: [UInt8] {
        var out = magic + u32(version) + u64(tensorCount ?? UInt64(tensors.count)) + u64(entryCount ?? UInt64(entries.count))
        out += entries.joined()
        out += tensors.joined()
        while out.count % alignment != 0 { out.append(0) }
        return out + data
    }

    /// Where the data section starts.
    var dataOffset: Int { bytes.count - data.count }
}

/// Writes `bytes` to a fresh file and opens it: the file's path, and the error message (nil when it opened).
private func open(_ bytes: [UInt8]) throws -> (path: String, error: String?, file: GGUFFile?) {
    let url = try temporaryFolder().appendingPathComponent("model.gguf")
    try Data(bytes).write(to: url)
    do {
        return (url.path, nil, try GGUFFile(contentsOf: url))
    } catch let error as CheckpointError {
        return (url.path, error.description, nil)
    }
}

/// One damaged file: what is changed, and what the error message must say.
struct Corruption: Sendable, CustomTestStringConvertible {
    let label: String
    let expected: [String]
    let change: @Sendable (inout GGUFBuilder) -> Void
    var testDescription: String { label }

    static let all: [Corruption] = [
        .init(label: "flipped magic", expected: ["not a GGUF file", "47 47 4D 4C", "(\"GGML\")"]) { $0.magic = Array("GGML".utf8) },
        .init(label: "zip magic", expected: ["not a GGUF file", "50 4B 03 04", "(\"PK..\")"]) { $0.magic = [0x50, 0x4B, 3, 4] },
        .init(label: "version 99", expected: ["unsupported GGUF version 99", "versions 2 and 3"]) { $0.version = 99 },
        .init(label: "version 1", expected: ["GGUF version 1 is not supported"]) { $0.version = 1 },
        .init(label: "big-endian", expected: ["big-endian GGUF (version 3 byte-swapped)"]) { $0.version = UInt32(3).byteSwapped },
        .init(label: "unknown value type", expected: ["metadata \"bad.key\" has unknown value type 13 at byte"]) {
            $0.entries.append(entry("bad.key", 13, u32(0)))
        },
        .init(label: "unknown array element type", expected: ["metadata \"bad.array\" is an array of unknown value type 42"]) {
            $0.entries.append(entry("bad.array", typeArray, u32(42) + u64(1) + u32(0)))
        },
        .init(label: "string length 2^60", expected: ["the length of a STRING of \"bad.string\" at byte", "is 1152921504606846976, but the", "bytes left in the file"]) {
            $0.entries.append(entry("bad.string", typeString, u64(1 << 60) + Array("abc".utf8)))
        },
        .init(label: "key length 2^60", expected: ["the length of the key of metadata entry 0 at byte 24 is 1152921504606846976"]) {
            $0.entries[0] = u64(1 << 60) + $0.entries[0].dropFirst(8)
        },
        .init(label: "array count 2^62", expected: ["the element count of array \"bad.array\" at byte", "is 4611686018427387904", "items of at least 4 bytes"]) {
            $0.entries.append(entry("bad.array", typeArray, u32(typeUInt32) + u64(1 << 62) + u32(1)))
        },
        .init(label: "string array count 2^40", expected: ["the element count of array \"bad.strings\"", "is 1099511627776"]) {
            $0.entries.append(entry("bad.strings", typeArray, u32(typeString) + u64(1 << 40) + string("a")))
        },
        .init(label: "arrays nested 10 deep", expected: ["metadata \"deep\" nests arrays more than 8 deep"]) {
            let levels = (0..<9).flatMap { _ in u32(typeArray) + u64(1) }
            $0.entries.append(entry("deep", typeArray, levels + u32(typeUInt32) + u64(1) + u32(5)))
        },
        .init(label: "entry count 2^64-1", expected: ["the metadata entry count at byte 16 is 18446744073709551615"]) { $0.entryCount = .max },
        .init(label: "tensor count 2^40", expected: ["the tensor count at byte 8 is 1099511627776", "items of at least 32 bytes"]) { $0.tensorCount = 1 << 40 },
        .init(label: "duplicate key", expected: ["duplicate metadata key \"test.count\" (entry 3)"]) {
            $0.entries.append(entry("test.count", typeUInt32, u32(8)))
        },
        .init(label: "alignment 48", expected: ["general.alignment is", "48", "power of two"]) {
            $0.entries.append(entry("general.alignment", typeUInt32, u32(48)))
        },
        .init(label: "unknown tensor type 99", expected: ["tensor \"w\" has unknown type id 99 at byte", "not a ggml type"]) {
            $0.tensors[0] = tensorEntry("w", [4, 2], 99, offset: 0)
        },
        .init(label: "offset beyond the end", expected: ["tensor \"q\" (Q8_0, ne = [32]) has data at bytes 4096..<4130 of the data section, out of bounds", "holds 66 bytes"]) {
            $0.tensors[1] = tensorEntry("q", [32], tensorQ8_0, offset: 4096)
        },
        .init(label: "offset 2^64-32", expected: ["tensor \"q\"", "out of bounds"]) {
            $0.tensors[1] = tensorEntry("q", [32], tensorQ8_0, offset: .max - 31)
        },
        .init(label: "misaligned offset", expected: ["tensor \"q\" has misaligned data offset 40: not a multiple of the alignment 32"]) {
            $0.tensors[1] = tensorEntry("q", [32], tensorQ8_0, offset: 40)
        },
        .init(label: "row not whole blocks", expected: ["tensor \"q\" is Q8_0 with rows of 33 elements (ne = [33]), which do not divide into blocks of 32"]) {
            $0.tensors[1] = tensorEntry("q", [33], tensorQ8_0, offset: 32)
        },
        .init(label: "2-D rows not whole blocks", expected: ["tensor \"q\" is Q8_0 with rows of 16 elements (ne = [16, 2])"]) {
            $0.tensors[1] = tensorEntry("q", [16, 2], tensorQ8_0, offset: 32)
        },
        .init(label: "five dimensions", expected: ["tensor \"w\" has 5 dimensions; GGUF allows 1 to 4"]) {
            $0.tensors[0] = tensorEntry("w", [4, 2, 1, 1, 1], tensorF32, offset: 0)
        },
        .init(label: "dimension 2^64-1", expected: ["tensor \"w\" has dimension 1 of 18446744073709551615 elements"]) {
            $0.tensors[0] = tensorEntry("w", [4, .max], tensorF32, offset: 0)
        },
        .init(label: "element count overflow", expected: ["tensor \"w\" has dimensions [4294967296, 4294967296, 4294967296] whose element count overflows"]) {
            $0.tensors[0] = tensorEntry("w", [1 << 32, 1 << 32, 1 << 32], tensorF32, offset: 0)
        },
        .init(label: "duplicate tensor name", expected: ["duplicate tensor name \"w\" (tensor 1)"]) {
            $0.tensors[1] = tensorEntry("w", [32], tensorQ8_0, offset: 32)
        },
        .init(label: "overlapping tensors", expected: ["tensors \"w\" and \"q\" overlap in the data section"]) {
            $0.tensors[1] = tensorEntry("q", [32], tensorQ8_0, offset: 0)
        },
    ]
}

@Suite struct GGUFCorruptionTests {
    @Test func builderMakesAValidFile() throws {
        let opened = try open(GGUFBuilder.valid.bytes)
        let file = try #require(opened.file, "\(opened.error ?? "")")
        #expect(file.version == 3 && file.alignment == 32 && file.dataOffset == GGUFBuilder.valid.dataOffset)
        #expect(file.metadataKeys == ["general.architecture", "test.count", "test.list"])
        #expect(file.int("test.count") == 7 && file.ints("test.list") == [1, 2])
        let w = try file.tensor(named: "w")
        #expect(w.shape == [2, 4] && w.array == (0..<8).map(Float.init))
        #expect(try file.tensor(named: "q").array == (-16..<16).map(Float.init))
    }

    /// A custom `general.alignment` moves the data section and the offsets with it.
    @Test func customAlignmentIsHonoured() throws {
        var builder = GGUFBuilder.valid
        builder.alignment = 64
        builder.entries.append(entry("general.alignment", typeUInt32, u32(64)))
        builder.tensors[1] = tensorEntry("q", [32], tensorQ8_0, offset: 64)
        builder.data = Array(builder.data[0..<32]) + [UInt8](repeating: 0, count: 32) + builder.data[32...]
        let file = try #require(try open(builder.bytes).file)
        #expect(file.alignment == 64 && file.dataOffset % 64 == 0)
        #expect(try file.tensor(named: "q").array == (-16..<16).map(Float.init))
    }

    /// Each damaged file is refused with a message that names the file and the problem.
    @Test(arguments: Corruption.all)
    func damagedFileIsRefusedClearly(_ corruption: Corruption) throws {
        var builder = GGUFBuilder.valid
        corruption.change(&builder)
        let opened = try open(builder.bytes)
        let message = try #require(opened.error, "\(corruption.label): opened without an error")
        #expect(message.hasPrefix(opened.path + ": "), "\(message)")
        for part in corruption.expected {
            #expect(message.contains(part), "\(corruption.label): \"\(message)\" lacks \"\(part)\"")
        }
    }

    /// Every proper prefix of a valid file is refused, saying it is truncated: in the header and tables, what was
    /// being read and at which byte; in the data, which tensor is out of bounds.
    @Test func everyTruncationIsRefused() throws {
        let bytes = GGUFBuilder.valid.bytes
        let dataOffset = GGUFBuilder.valid.dataOffset
        for cut in 0..<bytes.count {
            let opened = try open(Array(bytes[0..<cut]))
            let message = try #require(opened.error, "cut at \(cut): opened without an error")
            #expect(message.hasPrefix(opened.path + ": ") && message.contains("truncated"), "cut at \(cut): \(message)")
            if cut >= dataOffset {
                #expect(message.contains("out of bounds"), "cut at \(cut): \(message)")
            }
        }
        let expected = [
            2: "truncated: reading the magic \"GGUF\" at byte 0 needs 4 bytes but the file has 2 bytes",
            6: "truncated: reading the version at byte 4 needs 4 bytes but the file has 6 bytes",
            12: "truncated: reading the tensor count at byte 8 needs 8 bytes but the file has 12 bytes",
            dataOffset + 40: "tensor \"q\" (Q8_0, ne = [32]) has data at bytes 32..<66 of the data section, out of bounds",
        ]
        for (cut, part) in expected {
            let message = try open(Array(bytes[0..<cut])).error ?? ""
            #expect(message.contains(part), "cut at \(cut): \(message)")
        }
    }

    @Test func missingAndUnsupportedTensorsAreNamed() throws {
        var builder = GGUFBuilder.valid
        builder.tensors.append(tensorEntry("iq", [256], 16, offset: 96))
        builder.data += [UInt8](repeating: 0, count: 96 - builder.data.count) + [UInt8](repeating: 0, count: 66)
        let opened = try open(builder.bytes)
        let file = try #require(opened.file, "\(opened.error ?? "")")
        #expect(file.tensorInfo(named: "iq")?.type == .iq2_XXS)
        #expect(throws: CheckpointError(opened.path, "tensor \"iq\" is IQ2_XXS (type id 16), which Finch cannot dequantize (supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, BF16)")) {
            try file.tensor(named: "iq")
        }
        #expect(throws: CheckpointError(opened.path, "no tensor named \"nope\" (the file has 3 tensors)")) {
            try file.tensor(named: "nope")
        }
        let absent = try temporaryFolder().appendingPathComponent("absent.gguf")
        #expect(throws: CheckpointError(absent, "file not found")) { try GGUFFile(contentsOf: absent) }
    }
}
