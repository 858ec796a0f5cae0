/// Which keys each sequence of a padded batch may attend to, from a 0/1 attention mask [batch, seq].
/// Right-padded rows (the usual case) are recognised so attention only computes their valid prefix.
public struct AttentionMask: Sendable, Equatable {
    public let batch: Int
    public let sequence: Int
    /// mask[b * sequence + s] != 0 when token s of row b is real.
    public let values: [Int32]
    /// Per row: the length of the valid prefix when the row is `1…1 0…0`, else nil.
    public let prefixLengths: [Int?]

    public init(batch: Int, sequence: Int, values: [Int32]) {
        precondition(values.count == batch * sequence, "attention mask has \(values.count) entries for [\(batch), \(sequence)]")
        self.batch = batch
        self.sequence = sequence
        self.values = values
        self.prefixLengths = (0..<batch).map { b in
            let row = values[(b * sequence)..<((b + 1) * sequence)]
            let length = row.prefix { $0 != 0 }.count
            return row.dropFirst(length).allSatisfy { $0 == 0 } ? length : nil
        }
    }

    /// A mask that allows every key.
    public static func full(batch: Int, sequence: Int) -> AttentionMask {
        AttentionMask(batch: batch, sequence: sequence, values: [Int32](repeating: 1, count: batch * sequence))
    }
}
