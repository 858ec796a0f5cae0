import Foundation
import FinchTensor

/// A memory-mapped GGUF file (llama.cpp's format, versions 2 and 3): its metadata (architecture, hyperparameters,
/// the embedded tokenizer) and its tensors, dequantized to fp32 on request. The header, every metadata value and
/// the whole tensor table are read and validated on open; tensor data is only read by `tensor(named:)`.
public final class GGUFFile: @unchecked Sendable {
    public let url: URL
    /// The format version: 2 or 3.
    public let version: Int
    /// Every metadata value by key (`general.architecture`, `llama.block_count`, `tokenizer.ggml.tokens`, …).
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// The tensor table, in file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment`, else 32: tensor data offsets are multiples of it.
    public let alignment: Int
    /// File offset of the data section.
    public let dataOffset: Int
    private let mapped: Data
    private let tensorIndex: [String: Int]

    /// Opens and validates a file; the data is memory-mapped, not read.
    public convenience init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CheckpointError(url, "file not found")
        }
        let mapped: Data
        do {
            mapped = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw CheckpointError(url, "cannot be read (\(error.localizedDescription))")
        }
        try self.init(contents: mapped, url: url)
    }

    /// Validates the bytes of a GGUF file already in memory; `url` names it in errors.
    public init(contents: Data, url: URL) throws {
        self.url = url
        // Offsets below count from the first byte: a slice of a larger Data is copied to start at 0.
        mapped = contents.startIndex == 0 ? contents : Data(contents)
        let layout = try mapped.withUnsafeBytes { try GGUFLayout(bytes: $0, url: url) }
        version = layout.version
        metadata = layout.metadata
        metadataKeys = layout.metadataKeys
        tensors = layout.tensors
        alignment = layout.alignment
        dataOffset = layout.dataOffset
        tensorIndex = Dictionary(uniqueKeysWithValues: layout.tensors.enumerated().map { ($1.name, $0) })
    }

    /// The table entry of a tensor.
    public func tensorInfo(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// A tensor as fp32, shape in PyTorch order (ne reversed). Quantized types are dequantized into owned storage;
    /// F32 data at a 4-byte aligned address is borrowed from the mapping without a copy.
    public func tensor(named name: String) throws -> Tensor {
        guard let info = tensorInfo(named: name) else {
            throw CheckpointError(url, "no tensor named \"\(name)\" (the file has \(tensors.count) tensors)")
        }
        guard let kernel = GGUFDequantize.kernel(for: info.type) else {
            throw CheckpointError(url, "tensor \"\(name)\" is \(info.type.name) (type id \(info.type.rawValue)), which Finch cannot dequantize (supported: \(GGUFTensorType.dequantizableNames))")
        }
        guard info.elementCount > 0 else { return Tensor(zeros: info.shape) }
        return try mapped.withUnsafeBytes { raw -> Tensor in
            guard let base = raw.baseAddress else { throw CheckpointError(url, "the file is empty") }
            let start = base + dataOffset + info.offset
            if info.type == .f32, Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
                let pointer = UnsafeMutablePointer(mutating: start.assumingMemoryBound(to: Float.self))
                return Tensor(borrowing: pointer, shape: info.shape, owner: self)
            }
            let result = Tensor(zeros: info.shape)
            kernel(start, info.elementCount / info.type.blockSize, result.data)
            return result
        }
    }

    /// A string metadata value.
    public func string(_ key: String) -> String? { metadata[key]?.string }
    /// An integer metadata value of any width.
    public func int(_ key: String) -> Int? { metadata[key]?.int }
    /// A numeric metadata value as a `Double`.
    public func double(_ key: String) -> Double? { metadata[key]?.double }
    /// A boolean metadata value.
    public func bool(_ key: String) -> Bool? { metadata[key]?.bool }
    /// An array-of-strings metadata value (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    public func strings(_ key: String) -> [String]? { metadata[key]?.strings }
    /// An array-of-integers metadata value (`tokenizer.ggml.token_type`).
    public func ints(_ key: String) -> [Int]? { metadata[key]?.ints }
    /// An array-of-numbers metadata value (`tokenizer.ggml.scores`).
    public func floats(_ key: String) -> [Float]? { metadata[key]?.floats }
}
