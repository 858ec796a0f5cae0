import Dispatch
import Foundation

/// Reusable scratch buffers (packed activations, per-thread attention tiles), so hot loops do not map
/// and fault in fresh pages on every call.
public enum ScratchPool {
    /// One buffer; hand it back with `give`.
    public struct Buffer: @unchecked Sendable {
        public let raw: UnsafeMutableRawPointer
        let byteCount: Int
        public var words: UnsafeMutablePointer<UInt32> { raw.assumingMemoryBound(to: UInt32.self) }
        public var halfWords: UnsafeMutablePointer<UInt16> { raw.assumingMemoryBound(to: UInt16.self) }
        public var floats: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }
    }

    nonisolated(unsafe) private static var free: [Buffer] = []
    private static let lock = NSLock()

    /// A buffer of at least `byteCount` bytes (the largest free one, grown when too small), 64-byte aligned.
    public static func take(bytes byteCount: Int) -> Buffer {
        lock.withLock {
            if let index = free.indices.max(by: { free[$0].byteCount < free[$1].byteCount }) {
                let buffer = free.remove(at: index)
                if buffer.byteCount >= byteCount { return buffer }
                buffer.raw.deallocate()
            }
            return Buffer(raw: .allocate(byteCount: max(byteCount, 64), alignment: 64), byteCount: max(byteCount, 64))
        }
    }

    /// A buffer of at least `count` floats.
    public static func take(floats count: Int) -> Buffer { take(bytes: count * MemoryLayout<Float>.stride) }

    public static func give(_ buffer: Buffer) {
        lock.withLock { free.append(buffer) }
    }

    /// Frees every buffer not in use (after a run, so the next one does not inherit the last one's sizes).
    public static func drain() {
        lock.withLock {
            for buffer in free { buffer.raw.deallocate() }
            free.removeAll()
        }
    }
}

/// Splits `count` independent items into one contiguous chunk per thread (`Threads.count`, fewer when
/// there are fewer items) and runs `body` on each chunk concurrently; one chunk runs on the caller.
public enum Parallel {
    public static func forEachChunk(_ count: Int, threads requested: Int = Threads.count,
                                    _ body: @Sendable (Range<Int>) -> Void) {
        let threads = max(1, min(requested, count))
        guard threads > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            body(count * t / threads..<count * (t + 1) / threads)
        }
    }
}

/// A value handed to worker threads that write disjoint parts of it (pointers into shared buffers).
public struct Shared<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
