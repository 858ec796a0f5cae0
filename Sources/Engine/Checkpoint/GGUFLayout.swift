import Foundation

/// What a GGUF file's header, metadata and tensor table say (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md),
/// parsed and validated against the file's size: the 4-byte magic "GGUF", a uint32 version, uint64 tensor and
/// metadata counts, the key/value pairs, one entry per tensor (name, dimension count, ne[], type id, data offset),
/// then padding to `general.alignment` (default 32) and the data section.
struct GGUFLayout {
    var version = 0
    var metadata: [String: GGUFValue] = [:]
    /// Metadata keys in file order.
    var metadataKeys: [String] = []
    var tensors: [GGUFTensorInfo] = []
    var alignment = Self.defaultAlignment
    /// File offset of the data section: the end of the tensor table rounded up to `alignment`.
    var dataOffset = 0

    static let defaultAlignment = 32
    /// ggml's GGML_MAX_DIMS.
    static let maximumDimensions = 4
    /// Deeper arrays of arrays are refused (each level is a recursive call).
    static let maximumNesting = 8
    /// Smallest possible metadata entry: empty key (8-byte length), type (4), a one-byte value.
    static let minimumEntrySize = 13
    /// Smallest possible tensor entry: empty name (8), dimension count (4), one dimension (8), type (4), offset (8).
    static let minimumTensorEntrySize = 32

    private let url: URL

    init(bytes: UnsafeRawBufferPointer, url: URL) throws {
        self.url = url
        var reader = GGUFByteReader(bytes: bytes, url: url)
        try readVersion(&reader)
        let tensorCount = try reader.readCount("the tensor count", itemSize: Self.minimumTensorEntrySize)
        let entryCount = try reader.readCount("the metadata entry count", itemSize: Self.minimumEntrySize)
        for index in 0..<entryCount {
            try readEntry(index, &reader)
        }
        if let value = metadata["general.alignment"] {
            guard let alignment = value.int, alignment > 0, alignment & (alignment - 1) == 0 else {
                throw CheckpointError(url, "general.alignment is \(value.int.map(String.init) ?? "a \(value.type.name)"); it must be a power of two")
            }
            self.alignment = alignment
        }
        var entries: [TensorEntry] = []
        var names: Set<String> = []
        for index in 0..<tensorCount {
            let entry = try readTensorEntry(index, &reader)
            guard names.insert(entry.name).inserted else {
                throw CheckpointError(url, "duplicate tensor name \"\(entry.name)\" (tensor \(index))")
            }
            entries.append(entry)
        }
        let (end, overflow) = reader.offset.addingReportingOverflow(alignment - 1)
        dataOffset = overflow ? Int.max : end / alignment * alignment
        guard entries.isEmpty || dataOffset <= bytes.count else {
            throw CheckpointError(url, "the data section would start at byte \(dataOffset) (the tensor table's end, \(reader.offset), rounded up to the alignment \(alignment)) but the file has \(bytes.count) bytes (file truncated?)")
        }
        let dataSize = bytes.count - dataOffset
        tensors = try entries.map { try validate($0, dataSize: dataSize) }
        try checkOverlaps()
    }

    private mutating func readVersion(_ reader: inout GGUFByteReader) throws {
        try reader.require(4, for: "the magic \"GGUF\"")
        let magic = Array(reader.bytes[0..<4])
        guard magic == Array("GGUF".utf8) else {
            let hex = magic.map { String(format: "%02X", $0) }.joined(separator: " ")
            let text = String(magic.map { (0x20..<0x7F).contains($0) ? Character(UnicodeScalar($0)) : "." })
            throw CheckpointError(url, "not a GGUF file: it starts with the bytes \(hex) (\"\(text)\"), not the magic \"GGUF\"")
        }
        _ = try reader.read(UInt32.self, "the magic")
        let version = try reader.read(UInt32.self, "the version")
        switch version {
        case 2, 3:
            self.version = Int(version)
        case 1:
            throw CheckpointError(url, "GGUF version 1 is not supported (Finch reads versions 2 and 3); convert the model again with a recent llama.cpp")
        case _ where (1...3).contains(version.byteSwapped):
            throw CheckpointError(url, "big-endian GGUF (version \(version.byteSwapped) byte-swapped) is not supported; Finch reads little-endian files")
        default:
            throw CheckpointError(url, "unsupported GGUF version \(version) (Finch reads versions 2 and 3)")
        }
    }

    // MARK: Metadata

    private mutating func readEntry(_ index: Int, _ reader: inout GGUFByteReader) throws {
        let key = try reader.readString("the key of metadata entry \(index)")
        guard metadata[key] == nil else {
            throw CheckpointError(url, "duplicate metadata key \"\(key)\" (entry \(index))")
        }
        let at = reader.offset
        let typeID = try reader.read(UInt32.self, "the value type of \"\(key)\"")
        guard let type = GGUFValueType(rawValue: typeID) else {
            throw CheckpointError(url, "metadata \"\(key)\" has unknown value type \(typeID) at byte \(at) (known: 0 to 12)")
        }
        metadata[key] = try readValue(type, of: key, depth: 0, &reader)
        metadataKeys.append(key)
    }

    private func readValue(_ type: GGUFValueType, of key: String, depth: Int, _ reader: inout GGUFByteReader) throws -> GGUFValue {
        let what = { "a \(type.name) of \"\(key)\"" }
        switch type {
        case .uint8: return .uint8(try reader.read(UInt8.self, what()))
        case .int8: return .int8(try reader.read(Int8.self, what()))
        case .uint16: return .uint16(try reader.read(UInt16.self, what()))
        case .int16: return .int16(try reader.read(Int16.self, what()))
        case .uint32: return .uint32(try reader.read(UInt32.self, what()))
        case .int32: return .int32(try reader.read(Int32.self, what()))
        case .uint64: return .uint64(try reader.read(UInt64.self, what()))
        case .int64: return .int64(try reader.read(Int64.self, what()))
        case .float32: return .float32(Float(bitPattern: try reader.read(UInt32.self, what())))
        case .float64: return .float64(Double(bitPattern: try reader.read(UInt64.self, what())))
        case .bool: return .bool(try reader.read(UInt8.self, what()) != 0)
        case .string: return .string(try reader.readString(what()))
        case .array:
            guard depth < Self.maximumNesting else {
                throw CheckpointError(url, "metadata \"\(key)\" nests arrays more than \(Self.maximumNesting) deep")
            }
            let at = reader.offset
            let typeID = try reader.read(UInt32.self, "the element type of array \"\(key)\"")
            guard let elementType = GGUFValueType(rawValue: typeID) else {
                throw CheckpointError(url, "metadata \"\(key)\" is an array of unknown value type \(typeID) at byte \(at) (known: 0 to 12)")
            }
            let count = try reader.readCount("the element count of array \"\(key)\"", itemSize: elementType.minimumSize)
            var elements: [GGUFValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count {
                elements.append(try readValue(elementType, of: key, depth: depth + 1, &reader))
            }
            return .array(elementType: elementType, elements)
        }
    }

    // MARK: Tensor table

    /// A tensor entry as read, before its data range is checked.
    private struct TensorEntry {
        let name: String
        let type: GGUFTensorType
        let dimensions: [Int]
        let offset: UInt64
    }

    private func readTensorEntry(_ index: Int, _ reader: inout GGUFByteReader) throws -> TensorEntry {
        let name = try reader.readString("the name of tensor \(index)")
        let dimensionCount = try reader.read(UInt32.self, "the dimension count of tensor \"\(name)\"")
        guard (1...UInt32(Self.maximumDimensions)).contains(dimensionCount) else {
            throw CheckpointError(url, "tensor \"\(name)\" has \(dimensionCount) dimensions; GGUF allows 1 to \(Self.maximumDimensions)")
        }
        let dimensions = try (0..<Int(dimensionCount)).map { axis in
            let ne = try reader.read(UInt64.self, "dimension \(axis) of tensor \"\(name)\"")
            guard let size = Int(exactly: ne) else {
                throw CheckpointError(url, "tensor \"\(name)\" has dimension \(axis) of \(ne) elements, more than a signed 64-bit count")
            }
            return size
        }
        let at = reader.offset
        let typeID = try reader.read(UInt32.self, "the type of tensor \"\(name)\"")
        guard let type = GGUFTensorType(rawValue: typeID) else {
            throw CheckpointError(url, "tensor \"\(name)\" has unknown type id \(typeID) at byte \(at) (not a ggml type)")
        }
        let offset = try reader.read(UInt64.self, "the data offset of tensor \"\(name)\"")
        return TensorEntry(name: name, type: type, dimensions: dimensions, offset: offset)
    }

    /// Checks that a tensor's rows are whole blocks and that its data is aligned and inside the data section.
    private func validate(_ entry: TensorEntry, dataSize: Int) throws -> GGUFTensorInfo {
        let name = entry.name, type = entry.type
        let (elements, overflow) = entry.dimensions.reduce((1, false)) { acc, size in
            let (product, o) = acc.0.multipliedReportingOverflow(by: size)
            return (product, acc.1 || o)
        }
        guard !overflow else {
            throw CheckpointError(url, "tensor \"\(name)\" has dimensions \(entry.dimensions) whose element count overflows")
        }
        guard entry.dimensions[0] % type.blockSize == 0 else {
            throw CheckpointError(url, "tensor \"\(name)\" is \(type.name) with rows of \(entry.dimensions[0]) elements (ne = \(entry.dimensions)), which do not divide into blocks of \(type.blockSize)")
        }
        let (byteCount, byteOverflow) = (elements / type.blockSize).multipliedReportingOverflow(by: type.bytesPerBlock)
        guard entry.offset % UInt64(alignment) == 0 else {
            throw CheckpointError(url, "tensor \"\(name)\" has misaligned data offset \(entry.offset): not a multiple of the alignment \(alignment)")
        }
        guard !byteOverflow, entry.offset <= UInt64(dataSize), byteCount <= dataSize - Int(entry.offset) else {
            let (end, endOverflow) = entry.offset.addingReportingOverflow(UInt64(byteCount))
            let range = byteOverflow || endOverflow ? "from \(entry.offset) on" : "at bytes \(entry.offset)..<\(end)"
            throw CheckpointError(url, "tensor \"\(name)\" (\(type.name), ne = \(entry.dimensions)) has data \(range) of the data section, out of bounds: the data section starts at byte \(dataOffset) and holds \(dataSize) bytes (file truncated?)")
        }
        return GGUFTensorInfo(name: name, type: type, dimensions: entry.dimensions, offset: Int(entry.offset),
                              elementCount: elements, byteCount: byteCount)
    }

    private func checkOverlaps() throws {
        let sorted = tensors.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.offset < a.offset + a.byteCount {
            throw CheckpointError(url, "tensors \"\(a.name)\" and \"\(b.name)\" overlap in the data section")
        }
    }
}
