import Foundation
import FinchTensor

/// Writes safetensors files atomically: the whole file goes to a temporary name in the same folder,
/// is flushed to disk, then renamed over the destination, so a reader never sees half a file.
public enum SafetensorsWriter {
    /// A tensor to write: fp32 data stored as `dtype` (F32, F16 or BF16), integer values as I64, or raw
    /// bytes as U8 (packed 4-bit weights, 8-bit optimizer codes, bitsandbytes' JSON quant_state).
    public enum Payload {
        case float(Tensor, SafetensorsDType = .f32)
        case integers([Int], shape: [Int])
        case bytes([UInt8], shape: [Int])
    }

    /// Writes `tensors` (sorted by name) with optional string metadata to `url`.
    public static func write(_ tensors: [String: Payload], metadata: [String: String] = [:], to url: URL) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var layout: [(String, Payload, Int)] = []
        for name in tensors.keys.sorted() {
            let payload = tensors[name]!
            let (dtype, shape, size) = describe(payload)
            guard [.f32, .f16, .bf16, .i64, .u8].contains(dtype) else {
                throw CheckpointError(url, "tensor \"\(name)\": cannot write dtype \(dtype.rawValue)")
            }
            header[name] = ["dtype": dtype.rawValue, "shape": shape, "data_offsets": [offset, offset + size]] as [String: Any]
            layout.append((name, payload, offset))
            offset += size
        }
        var headerData = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while headerData.count % 8 != 0 { headerData.append(0x20) }
        var file = Data(capacity: 8 + headerData.count + offset)
        withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(headerData)
        for (_, payload, _) in layout { append(payload, to: &file) }
        try AtomicFile.write(file, to: url)
    }

    private static func describe(_ payload: Payload) -> (SafetensorsDType, [Int], Int) {
        switch payload {
        case let .float(tensor, dtype): return (dtype, tensor.shape, tensor.count * dtype.size)
        case let .integers(values, shape): return (.i64, shape, values.count * 8)
        case let .bytes(values, shape): return (.u8, shape, values.count)
        }
    }

    private static func append(_ payload: Payload, to file: inout Data) {
        switch payload {
        case let .float(tensor, .f16):
            let values = (0..<tensor.count).map { Float16(tensor[$0]).bitPattern.littleEndian }
            values.withUnsafeBytes { file.append(contentsOf: $0) }
        case let .float(tensor, .bf16):
            let values = (0..<tensor.count).map { UInt16(roundedBFloat16Bits(tensor[$0])).littleEndian }
            values.withUnsafeBytes { file.append(contentsOf: $0) }
        case let .float(tensor, _):
            file.append(UnsafeBufferPointer(start: tensor.data, count: tensor.count))
        case let .integers(values, _):
            values.map { Int64($0).littleEndian }.withUnsafeBytes { file.append(contentsOf: $0) }
        case let .bytes(values, _):
            file.append(contentsOf: values)
        }
    }

    /// fp32 → bf16 with round-to-nearest-even, as torch converts (NaN stays NaN).
    static func roundedBFloat16Bits(_ value: Float) -> UInt16 {
        if value.isNaN { return 0x7FC0 }
        let bits = value.bitPattern
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}

/// Atomic file replacement: temporary file in the destination's folder, fsync, rename.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        // A device or pipe (/dev/null, /dev/stdout) is written in place: renaming a file over it would
        // replace the device for every other program.
        var status = stat()
        if stat(url.path, &status) == 0, (status.st_mode & S_IFMT) != S_IFREG {
            guard (status.st_mode & S_IFMT) != S_IFDIR else { throw CheckpointError(url, "is a folder, not a file") }
            guard let handle = FileHandle(forWritingAtPath: url.path) else {
                throw CheckpointError(url, "cannot write (\(String(cString: strerror(errno))))")
            }
            defer { try? handle.close() }
            do { try handle.write(contentsOf: data) } catch { throw CheckpointError(url, "write failed (\(error.localizedDescription))") }
            return
        }
        let folder = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(folder, "cannot create folder (\(error.localizedDescription))")
        }
        let prefix = ".\(url.lastPathComponent)"
        StaleTemporaries.remove(in: folder, prefix: prefix)
        let temporary = folder.appendingPathComponent("\(prefix).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw CheckpointError(url, "cannot write (\(String(cString: strerror(errno))))")
        }
        var failure: String?
        data.withUnsafeBytes { raw in
            var written = 0
            var target = raw.count / 2  // the first half, then the rest: the fault points sit in between
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, target - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                written += n
                if written == target, target < raw.count {
                    FaultInjection.reached(.filePartial, destination: url)
                    target = raw.count
                }
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil { FaultInjection.reached(.fileBeforeRename, destination: url) }
        if let failure {
            unlink(temporary.path)
            throw CheckpointError(url, "write failed (\(failure)); the previous file, if any, is unchanged")
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw CheckpointError(url, "cannot move the finished file into place (\(reason))")
        }
    }
}
