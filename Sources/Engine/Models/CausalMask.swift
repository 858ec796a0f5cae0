/// Which keys each token of a decoder batch attends to, and its rotary position. Rows are right-padded
/// [batch, seq]; with packing a row holds several examples (segments) that must not see each other.
/// For every token t the allowed keys form one contiguous range keyStart[t]…keyEnd[t] (inclusive) of its
/// row: causal (no later key), within its segment, and never a padding key. A padding query attends to
/// the row's last segment, as transformers' combined causal + padding mask gives.
public struct CausalMask: Sendable, Equatable {
    public let batch: Int
    public let sequence: Int
    /// Real tokens per row (the rest is padding).
    public let lengths: [Int]
    public let keyStart: [Int32]
    public let keyEnd: [Int32]
    /// Rotary position of every token: its index within its segment.
    public let positions: [Int32]

    /// A right-padded batch; `segmentStarts[b]` lists where row b's packed examples begin (nil or [0]: one
    /// example per row).
    public init(batch: Int, sequence: Int, lengths: [Int], segmentStarts: [[Int]]? = nil) {
        precondition(lengths.count == batch && lengths.allSatisfy { $0 >= 1 && $0 <= sequence }, "row lengths \(lengths) for [\(batch), \(sequence)]")
        self.batch = batch
        self.sequence = sequence
        self.lengths = lengths
        var start = [Int32](repeating: 0, count: batch * sequence)
        var end = [Int32](repeating: 0, count: batch * sequence)
        var positions = [Int32](repeating: 0, count: batch * sequence)
        for b in 0..<batch {
            let starts = segmentStarts?[b] ?? [0]
            var segment = 0
            for s in 0..<sequence {
                let t = b * sequence + s
                if s < lengths[b] {
                    while segment + 1 < starts.count && starts[segment + 1] <= s { segment += 1 }
                    start[t] = Int32(starts[segment])
                    end[t] = Int32(s)
                    positions[t] = Int32(s - starts[segment])
                } else {
                    start[t] = Int32(starts.last { $0 < lengths[b] } ?? 0)
                    end[t] = Int32(lengths[b] - 1)
                    positions[t] = Int32(s)
                }
            }
        }
        keyStart = start
        keyEnd = end
        self.positions = positions
    }

    /// Every row full length, one example each.
    public static func full(batch: Int, sequence: Int) -> CausalMask {
        CausalMask(batch: batch, sequence: sequence, lengths: [Int](repeating: sequence, count: batch))
    }
}
