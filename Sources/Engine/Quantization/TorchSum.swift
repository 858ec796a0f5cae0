/// The float32 sum of a contiguous vector in the order PyTorch's CPU kernel adds it (aten's
/// `cascade_sum`: 8-lane vectors, four interleaved rows, four cascade levels), so that a mean Finch
/// computes is the float torch computes, bit for bit. Double quantization needs it: its offset is
/// `absmax.mean()`, and every nested code depends on it.
///
/// Torch splits sums of more than 32,768 elements across threads when it runs more than one; this is
/// the single-thread order, which torch also uses below that size whatever its thread count.
public enum TorchSum {
    typealias Lanes = SIMD8<Float>

    /// torch.sum(x) for float32 x[count].
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        // Fewer values than one vector: aten's scalar row_sum (four interleaved accumulators, the rest
        // added to the first, then the four combined), not the vector kernel.
        if count < Lanes.scalarCount {
            var partial: [Float] = [0, 0, 0, 0]
            let grouped = count / 4 * 4
            for k in 0..<grouped { partial[k] += x[k] }
            for k in grouped..<count { partial[0] += x[k] }
            return ((partial[0] + partial[1]) + partial[2]) + partial[3]
        }
        let vectors = count / Lanes.scalarCount
        let partial = rowSum(x, vectors: vectors)
        var total: Float = 0
        for k in (vectors * Lanes.scalarCount)..<count { total += x[k] }
        for k in 0..<Lanes.scalarCount { total += partial[k] }
        return total
    }

    /// torch.mean(x): the sum divided by the count in float32.
    public static func mean(_ x: UnsafePointer<Float>, count: Int) -> Float {
        sum(x, count: count) / Float(count)
    }

    /// Vector k of x.
    @inline(__always)
    static func load(_ x: UnsafePointer<Float>, _ k: Int) -> Lanes {
        UnsafeRawPointer(x + k * Lanes.scalarCount).loadUnaligned(as: Lanes.self)
    }

    /// aten's row_sum over `vectors` vectors: the vectors taken four at a time (ilp), summed by
    /// `multiRowSum`, the leftover vectors added to the first accumulator, then the four combined.
    static func rowSum(_ x: UnsafePointer<Float>, vectors: Int) -> Lanes {
        let groups = vectors / 4
        var partial = multiRowSum(x, groups: groups)
        for k in (groups * 4)..<vectors { partial[0] += load(x, k) }
        for k in 1..<4 { partial[0] += partial[k] }
        return partial[0]
    }

    /// aten's multi_row_sum with 4 rows and 4 levels: level 0 accumulates 2^p groups, then cascades
    /// into the higher levels (p = max(4, ⌈log₂ groups⌉ / 4)), which bounds the rounding error.
    static func multiRowSum(_ x: UnsafePointer<Float>, groups: Int) -> [Lanes] {
        let levels = 4
        let levelPower = max(4, ceilLog2(groups) / levels)
        let levelStep = 1 << levelPower, levelMask = levelStep - 1
        var acc = [[Lanes]](repeating: [Lanes](repeating: .zero, count: 4), count: levels)
        var i = 0
        while i + levelStep <= groups {
            for _ in 0..<levelStep {
                for k in 0..<4 { acc[0][k] += load(x, 4 * i + k) }
                i += 1
            }
            for j in 1..<levels {
                for k in 0..<4 {
                    acc[j][k] += acc[j - 1][k]
                    acc[j - 1][k] = .zero
                }
                if i & (levelMask << (j * levelPower)) != 0 { break }
            }
        }
        while i < groups {
            for k in 0..<4 { acc[0][k] += load(x, 4 * i + k) }
            i += 1
        }
        for j in 1..<levels { for k in 0..<4 { acc[0][k] += acc[j][k] } }
        return acc[0]
    }

    static func ceilLog2(_ n: Int) -> Int {
        n <= 1 ? 0 : Int.bitWidth - (n - 1).leadingZeroBitCount
    }
}
