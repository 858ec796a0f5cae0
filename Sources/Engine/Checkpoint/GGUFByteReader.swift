import Foundation

/// Reads a GGUF file's little-endian fields in order, checking every read against the end of the file, so a
/// truncated or corrupt file gives an error naming what was being read and where, never a crash.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    let url: URL
    /// The byte the next read starts at.
    private(set) var offset = 0

    init(bytes: UnsafeRawBufferPointer, url: URL) {
        self.bytes = bytes
        self.url = url
    }

    /// Bytes left after `offset`.
    var remaining: Int { bytes.count - offset }

    /// Whether `count` more bytes are there; throws a "truncated" error naming `what` otherwise.
    func require(_ count: Int, for what: @autoclosure () -> String) throws {
        guard count <= remaining else {
            throw CheckpointError(url, "truncated: reading \(what()) at byte \(offset) needs \(count) bytes but the file has \(bytes.count) bytes")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try require(MemoryLayout<T>.size, for: what())
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return value
    }

    /// A 64-bit length or count, checked to need no more than the bytes left in the file when each of its items
    /// takes at least `itemSize` bytes, so no absurd count leads to a giant allocation.
    mutating func readCount(_ what: @autoclosure () -> String, itemSize: Int) throws -> Int {
        let at = offset
        let count = try read(UInt64.self, what())
        let most = remaining / itemSize
        guard count <= UInt64(most) else {
            let items = itemSize == 1 ? "bytes" : "items of at least \(itemSize) bytes"
            throw CheckpointError(url, "\(what()) at byte \(at) is \(count), but the \(remaining) bytes left in the file hold at most \(most) \(items) (corrupt or truncated file)")
        }
        return Int(count)
    }

    /// A GGUF string: a 64-bit byte length, then UTF-8 bytes (invalid sequences become U+FFFD).
    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let length = try readCount("the length of \(what())", itemSize: 1)
        let start = offset
        offset += length
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
    }
}
