/// ROUGE-1, ROUGE-2 and ROUGE-L as Google's rouge-score computes them (`rouge_scorer.RougeScorer(["rouge1",
/// "rouge2", "rougeL"], use_stemmer=False).score(target, prediction)`, checked against rouge-score 0.1.2).
///
/// ```swift
/// let s = ROUGE.score(target: "The cat sat on the mat.", prediction: "the cat is on the mat")
/// s.rouge1.fmeasure   // 0.8333…
/// s.rougeL.fmeasure
/// ```
///
/// **Tokenization** is rouge-score's default tokenizer: Python's `lower()`, every run of characters outside
/// `[a-z0-9]` becomes a space, and the remaining runs are the tokens. Only ASCII letters and digits survive:
/// **Bengali (and any other non-Latin) text produces no tokens at all**, so a Bengali pair scores 0 (or only
/// its ASCII words and digits count; Bengali digits "১২৩" are dropped too), and accents split words ("café"
/// → "caf"). Two non-ASCII letters lowercase to ASCII in Python and count: "İ" (→ "i") and the Kelvin sign
/// "K" (→ "k"). This is what rouge-score does; for Bengali, BLEU or the SQuAD token F1 are more meaningful.
public enum ROUGE {
    /// Precision, recall and F-measure of one ROUGE variant (rouge-score's `Score` tuple).
    public struct Score: Sendable, Equatable {
        public let precision: Double
        public let recall: Double
        /// `2·p·r / (p + r)`, 0 when p + r = 0.
        public let fmeasure: Double

        init(precision: Double, recall: Double) {
            self.precision = precision
            self.recall = recall
            fmeasure = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        }
    }

    /// The three scores of a pair.
    public struct Scores: Sendable, Equatable {
        public let rouge1: Score
        public let rouge2: Score
        public let rougeL: Score
    }

    /// Mean F-measures over a set of pairs.
    public struct MeanFMeasures: Sendable, Equatable {
        public let rouge1: Double
        public let rouge2: Double
        public let rougeL: Double
    }

    /// ROUGE-1, ROUGE-2 and ROUGE-L of `prediction` against `target` (the reference). The order matters:
    /// precision is over the prediction's tokens, recall over the target's.
    public static func score(target: String, prediction: String) -> Scores {
        let (t, p) = ids(tokenize(target), tokenize(prediction))
        return Scores(rouge1: ngram(1, t, p), rouge2: ngram(2, t, p), rougeL: longestCommonSubsequence(t, p))
    }

    /// ROUGE-N for any n ≥ 1 (rouge-score's `rougeN`): clipped n-gram overlap over the prediction's n-grams
    /// (precision) and over the target's (recall), each denominator at least 1.
    public static func ngram(_ n: Int, target: String, prediction: String) -> Score {
        precondition(n > 0, "rougeN requires positive n: \(n)")
        let (t, p) = ids(tokenize(target), tokenize(prediction))
        return ngram(n, t, p)
    }

    /// The arithmetic mean of each F-measure over the pairs (the usual corpus-level summary; rouge-score's
    /// `BootstrapAggregator` reports a bootstrap estimate of this mean instead). NaN for no pairs.
    public static func meanFMeasures(targets: [String], predictions: [String]) -> MeanFMeasures {
        precondition(targets.count == predictions.count, "\(targets.count) targets for \(predictions.count) predictions")
        let scores = zip(targets, predictions).map { score(target: $0, prediction: $1) }
        let mean = { (f: (Scores) -> Double) in numpySum(scores.map(f)) / Double(scores.count) }
        return MeanFMeasures(rouge1: mean { $0.rouge1.fmeasure }, rouge2: mean { $0.rouge2.fmeasure },
                             rougeL: mean { $0.rougeL.fmeasure })
    }

    /// rouge-score's default tokenizer without stemming (`tokenize.tokenize(text, None)`).
    public static func tokenize(_ text: String) -> [String] {
        var tokens: [String] = [], current = ""
        for c in pythonLowercased(Array(text.unicodeScalars)) {
            if (0x61...0x7A).contains(c.value) || c.isASCIIDigit {
                current.unicodeScalars.append(c)
            } else if !current.isEmpty {
                tokens.append(current)
                current = ""
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    private static func ids(_ target: [String], _ prediction: [String]) -> ([Int], [Int]) {
        var vocabulary: [String: Int] = [:]
        let id = { (token: String) in
            if let known = vocabulary[token] { return known }
            vocabulary[token] = vocabulary.count
            return vocabulary.count - 1
        }
        return (target.map(id), prediction.map(id))
    }

    private static func ngram(_ n: Int, _ target: [Int], _ prediction: [Int]) -> Score {
        func counts(_ tokens: [Int]) -> [ArraySlice<Int>: Int] {
            var counts: [ArraySlice<Int>: Int] = [:]
            if tokens.count >= n {
                for start in 0...(tokens.count - n) { counts[tokens[start..<start + n], default: 0] += 1 }
            }
            return counts
        }
        let t = counts(target), p = counts(prediction)
        let overlap = t.reduce(0) { $0 + min($1.value, p[$1.key] ?? 0) }
        let targetTotal = t.values.reduce(0, +), predictionTotal = p.values.reduce(0, +)
        return Score(precision: Double(overlap) / Double(max(predictionTotal, 1)),
                     recall: Double(overlap) / Double(max(targetTotal, 1)))
    }

    /// rouge-score's `_score_lcs`: the longest common subsequence over the prediction length (precision) and the
    /// target length (recall); 0 when either side has no tokens.
    private static func longestCommonSubsequence(_ target: [Int], _ prediction: [Int]) -> Score {
        guard !target.isEmpty && !prediction.isEmpty else { return Score(precision: 0, recall: 0) }
        var previous = [Int](repeating: 0, count: prediction.count + 1), row = previous
        for t in target {
            for (j, p) in prediction.enumerated() {
                row[j + 1] = t == p ? previous[j] + 1 : max(previous[j + 1], row[j])
            }
            swap(&previous, &row)
        }
        let length = Double(previous[prediction.count])
        return Score(precision: length / Double(prediction.count), recall: length / Double(target.count))
    }
}
