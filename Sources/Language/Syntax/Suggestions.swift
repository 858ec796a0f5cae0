/// "Did you mean ...?" for misspelt commands, option keys and values.
public enum Suggestions {
    /// The candidate `word` most likely stands for, or nil when none is close.
    ///
    /// Letter case is ignored. A candidate equal to `word` wins; then the candidate with the smallest
    /// Damerau-Levenshtein distance (adjacent swaps count as one edit), if that distance is at most
    /// max(1, word length / 3), ties going to the earlier candidate; failing that, the only candidate that
    /// starts with `word` ("trai" → "train").
    public static func closest(to word: String, among candidates: [String]) -> String? {
        let typed = Array(word.lowercased())
        guard !typed.isEmpty else { return nil }
        let lowered = candidates.map { Array($0.lowercased()) }
        let limit = max(1, typed.count / 3)
        var best: (candidate: String, distance: Int)?
        for (candidate, letters) in zip(candidates, lowered) {
            let distance = editDistance(typed, letters, giveUpAbove: best.map { $0.distance - 1 } ?? limit)
            if let distance, distance < best?.distance ?? limit + 1 { best = (candidate, distance) }
        }
        if let best { return best.candidate }
        let extensions = zip(candidates, lowered).filter { $0.1.starts(with: typed) }
        return extensions.count == 1 ? extensions[0].0 : nil
    }

    /// The optimal-string-alignment distance between `a` and `b` (insertions, deletions, substitutions and
    /// swaps of neighbours), or nil when it is certainly above `limit`.
    static func editDistance(_ a: [Character], _ b: [Character], giveUpAbove limit: Int) -> Int? {
        guard limit >= 0, abs(a.count - b.count) <= limit else { return nil }
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var beforePrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var row = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            row[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                row[j] = min(previous[j] + 1, row[j - 1] + 1, substitution)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    row[j] = min(row[j], beforePrevious[j - 2] + 1)
                }
            }
            if row.min()! > limit { return nil }
            (beforePrevious, previous, row) = (previous, row, beforePrevious)
        }
        return previous[b.count] <= limit ? previous[b.count] : nil
    }
}
