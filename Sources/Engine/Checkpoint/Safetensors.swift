import Foundation
import FinchTensor

/// Element types a safetensors file may hold.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        }
    }

    var isFloatingPoint: Bool { [.f64, .f32, .f16, .bf16].contains(self) }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsEntry: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Byte range within the data section.
    public let begin: Int
    public let end: Int
}

/// A memory-mapped safetensors file (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length, a JSON header, then the raw data. The header is validated in full on open: dtypes,
/// shapes against byte ranges, ranges inside the file and not overlapping.
public final class SafetensorsFile: @unchecked Sendable {
    public let url: URL
    /// Entries by tensor name.
    public let entries: [String: SafetensorsEntry]
    /// The `__metadata__` strings.
    public let metadata: [String: String]
    private let mapped: Data
    private let dataOffset: Int

    /// Opens and validates a file; the data is memory-mapped, not read.
    public convenience init(url: URL) throws {
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

    /// Validates the bytes of a safetensors file already in memory; `url` names it in errors.
    public init(contents: Data, url: URL) throws {
        self.url = url
        // Offsets below count from the first byte: a slice of a larger Data is copied to start at 0.
        mapped = contents.startIndex == 0 ? contents : Data(contents)
        guard mapped.count >= 8 else {
            throw CheckpointError(url, "truncated: \(mapped.count) bytes, too short for the 8-byte header length")
        }
        let headerLength = mapped.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(mapped.count - 8), headerLength <= 100_000_000 else {
            throw CheckpointError(url, "header length \(headerLength) exceeds the file size \(mapped.count) (truncated or not a safetensors file)")
        }
        dataOffset = 8 + Int(headerLength)
        let headerBytes = mapped.subdata(in: 8..<dataOffset)
        let parsed: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
                throw CheckpointError(url, "header is not a JSON object")
            }
            parsed = object
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(url, "header is not valid JSON (\(error.localizedDescription))")
        }
        (entries, metadata) = try Self.validate(parsed, dataSize: mapped.count - dataOffset, url: url)
    }

    private static func validate(_ header: [String: Any], dataSize: Int, url: URL) throws
        -> ([String: SafetensorsEntry], [String: String])
    {
        var entries: [String: SafetensorsEntry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let dict = value as? [String: Any] else {
                    throw CheckpointError(url, "__metadata__ is not an object")
                }
                for (k, v) in dict {
                    guard let s = v as? String else { throw CheckpointError(url, "__metadata__.\(k) is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else {
                throw CheckpointError(url, "tensor \"\(name)\": entry is not an object")
            }
            guard let dtypeName = info["dtype"] as? String else {
                throw CheckpointError(url, "tensor \"\(name)\": missing \"dtype\"")
            }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw CheckpointError(url, "tensor \"\(name)\": unsupported dtype \(dtypeName) (supported: \(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shapeValues = info["shape"] as? [Any],
                  let shape = shapeValues.map({ ($0 as? NSNumber)?.intValue }) as? [Int],
                  shape.allSatisfy({ $0 >= 0 })
            else {
                throw CheckpointError(url, "tensor \"\(name)\": \"shape\" must be a list of non-negative integers")
            }
            guard let offsets = info["data_offsets"] as? [Any], offsets.count == 2,
                  let begin = (offsets[0] as? NSNumber)?.intValue, let end = (offsets[1] as? NSNumber)?.intValue,
                  begin >= 0, end >= begin
            else {
                throw CheckpointError(url, "tensor \"\(name)\": \"data_offsets\" must be [begin, end] with 0 ≤ begin ≤ end")
            }
            guard end <= dataSize else {
                throw CheckpointError(url, "tensor \"\(name)\": data ends at byte \(end) but the data section has \(dataSize) bytes (file truncated?)")
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, elements * dtype.size == end - begin else {
                throw CheckpointError(url, "tensor \"\(name)\": shape \(shape) of \(dtype.rawValue) needs \(overflow ? "too many" : String(elements * dtype.size)) bytes but data_offsets span \(end - begin)")
            }
            entries[name] = SafetensorsEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
        }
        let sorted = entries.values.sorted { $0.begin < $1.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.end {
            throw CheckpointError(url, "tensors \"\(a.name)\" and \"\(b.name)\" overlap in the data section")
        }
        return (entries, metadata)
    }

    /// Tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// A floating-point tensor as fp32. F32 data at an aligned offset is borrowed from the mapping
    /// without a copy; F16, BF16 and F64 are converted.
    public func tensor(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else {
            throw CheckpointError(url, "no tensor named \"\(name)\"")
        }
        guard entry.dtype.isFloatingPoint else {
            throw CheckpointError(url, "tensor \"\(name)\" is \(entry.dtype.rawValue), not a floating-point type")
        }
        let count = entry.shape.reduce(1, *)
        return mapped.withUnsafeBytes { raw -> Tensor in
            let base = raw.baseAddress! + dataOffset + entry.begin
            if entry.dtype == .f32, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
                let pointer = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Float.self))
                return Tensor(borrowing: pointer, shape: entry.shape, owner: self)
            }
            let result = Tensor(zeros: entry.shape)
            Self.convert(base, dtype: entry.dtype, count: count, into: result.data)
            return result
        }
    }

    /// An integer tensor (I64, I32, I16, I8, U8, BOOL) as Int values.
    public func integers(_ name: String) throws -> (values: [Int], shape: [Int]) {
        guard let entry = entries[name] else {
            throw CheckpointError(url, "no tensor named \"\(name)\"")
        }
        let count = entry.shape.reduce(1, *)
        let values: [Int] = try mapped.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataOffset + entry.begin
            switch entry.dtype {
            case .i64: return (0..<count).map { Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
            case .i32: return (0..<count).map { Int(Int32(littleEndian: base.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            case .i16: return (0..<count).map { Int(Int16(littleEndian: base.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self))) }
            case .i8: return (0..<count).map { Int(base.load(fromByteOffset: $0, as: Int8.self)) }
            case .u8, .bool: return (0..<count).map { Int(base.load(fromByteOffset: $0, as: UInt8.self)) }
            default: throw CheckpointError(url, "tensor \"\(name)\" is \(entry.dtype.rawValue), not an integer type")
            }
        }
        return (values, entry.shape)
    }

    static func convert(_ source: UnsafeRawPointer, dtype: SafetensorsDType, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
        case .f64:
            for i in 0..<count { out[i] = Float(Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))) }
        case .f16:
            for i in 0..<count { out[i] = Float(Float16(bitPattern: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))) }
        case .bf16:
            for i in 0..<count {
                let bits = UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16
                out[i] = Float(bitPattern: bits)
            }
        default:
            preconditionFailure("not a floating-point dtype")
        }
    }
}
