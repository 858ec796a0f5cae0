import CKernels

/// A dropout mask given by a key rather than stored: element i is dropped (0) when a keyed hash of i,
/// read as a 24-bit uniform u / 2²⁴, falls below `rate`, and kept as 1 / (1 − rate) otherwise. Any part
/// of it can be drawn again, in any order and on any thread, so backward recomputes it instead of
/// keeping a float per element, and a run gives the same numbers whatever the thread count.
///
/// The hash is two rounds of MurmurHash3's 32-bit finalizer keyed by the two halves of the key
/// (`finch_dropout` in CKernels, vectorized there).
public struct DropoutMask: Sendable, Equatable {
    public let rate: Float
    /// The value a kept element is multiplied by: 1 / (1 − rate).
    public let keep: Float
    private let key: UInt64
    /// Dropped when the 24-bit hash is below this (u < rate · 2²⁴ exactly, for integer u).
    private let threshold: UInt32

    /// A fresh mask at `rate`, keyed by one draw from `random`.
    public init(rate: Float, random: inout SeededRandom) {
        self.init(rate: rate, key: random.next())
    }

    /// A rate outside [0, 1] (a config.json may hold one) is clamped to it; at 1 every element is dropped,
    /// as torch's dropout does with p = 1.
    public init(rate: Float, key: UInt64) {
        let rate = rate.isNaN ? 0 : min(max(rate, 0), 1)
        self.rate = rate
        keep = rate < 1 ? 1 / (1 - rate) : 0
        self.key = key
        threshold = UInt32((Double(rate) * 16_777_216).rounded(.up))
    }

    /// Elements below this count run on one thread.
    private static let parallelThreshold = 1 << 16

    /// mask[0..<count] ← the mask's values at offset..<offset + count.
    public func fill(_ mask: UnsafeMutablePointer<Float>, offset: Int = 0, count: Int) {
        apply(nil, into: mask, offset: offset, count: count, accumulate: false)
    }

    /// x[0..<count] ← x ⊙ mask at offset..<offset + count.
    public func apply(_ x: UnsafeMutablePointer<Float>, offset: Int = 0, count: Int) {
        apply(UnsafePointer(x), into: x, offset: offset, count: count, accumulate: false)
    }

    /// y[0..<count] ← x ⊙ mask at offset..<offset + count.
    public func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, offset: Int = 0, count: Int) {
        apply(x, into: y, offset: offset, count: count, accumulate: false)
    }

    /// y[0..<count] += x ⊙ mask at offset..<offset + count.
    public func accumulate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, offset: Int = 0, count: Int) {
        apply(x, into: y, offset: offset, count: count, accumulate: true)
    }

    /// The one loop behind every operation: y = [y +] (x ?? 1) ⊙ mask, split across threads when large.
    func apply(_ x: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, offset: Int, count: Int,
               accumulate: Bool, threads: Int = Threads.count) {
        precondition(offset >= 0 && offset + count <= Int(UInt32.max), "dropout mask index past 2³²")
        guard count >= Self.parallelThreshold, threads > 1 else {
            run(x, into: y, offset: offset, count: count, accumulate: accumulate)
            return
        }
        let buffers = Shared((x, y))
        // Chunks of whole 16-element groups, so every thread's loop stays aligned to vectors.
        Parallel.forEachChunk(count / 16, threads: threads) { groups in
            let (x, y) = buffers.value
            let start = groups.lowerBound * 16
            let end = groups.upperBound == count / 16 ? count : groups.upperBound * 16
            self.run(x.map { $0 + start }, into: y + start, offset: offset + start, count: end - start, accumulate: accumulate)
        }
    }

    private func run(_ x: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, offset: Int, count: Int,
                     accumulate: Bool) {
        finch_dropout(x, y, UInt32(offset), count, key, threshold, keep, accumulate ? 1 : 0)
    }
}
