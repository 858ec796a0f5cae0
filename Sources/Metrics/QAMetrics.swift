/// Exact match and token F1 as the official SQuAD v1.1 evaluation script (`evaluate-v1.1.py`) computes them,
/// code point for code point (checked against the script's functions, see `Tests/Reference/metrics_reference.py`).
///
/// Both compare *normalized* answers (``normalize(_:)``): lowercased, ASCII punctuation removed, the words
/// "a", "an" and "the" removed, whitespace collapsed. With several ground truths a prediction gets its best
/// score over them (`metric_max_over_ground_truths`).
///
/// ```swift
/// QAMetrics.exactMatch(prediction: "The Eiffel Tower!", groundTruths: ["Eiffel Tower"])   // true
/// QAMetrics.f1(prediction: "Denver Broncos team", groundTruth: "the Denver Broncos")      // 0.8
/// ```
///
/// **Non-English text**, as the script treats it: only the 32 ASCII punctuation characters of Python's
/// `string.punctuation` are removed, so the Bengali full stop "।", "«", "»" and "—" stay (and "।" attached to
/// a word makes it a different token); the articles are English only; Python's `lower()` is applied (with its
/// Greek final-sigma rule: "ΟΔΟΣ" → "οδος"); words are split on Python's whitespace (the no-break space
/// U+00A0 and U+2003 included, ZWNJ/ZWJ not). Strings are compared code point by code point, without Unicode
/// normalization: the precomposed and decomposed spellings of "ড়" do not match.
///
/// **Empty answers** follow v1.1, not v2.0: an empty prediction exactly matches an empty ground truth, but
/// its F1 is 0 (no common token).
public enum QAMetrics {
    /// Exact match and F1 of a set of predictions, in percent (the script's `compute_score` output).
    public struct Summary: Sendable, Equatable {
        /// 100 × the fraction of predictions that exactly match one of their ground truths.
        public let exactMatch: Double
        /// 100 × the mean over predictions of the best token F1.
        public let f1: Double
    }

    /// The script's `normalize_answer`: `white_space_fix(remove_articles(remove_punc(lower(s))))`.
    public static func normalize(_ text: String) -> String {
        normalizedTokens(text).map { string($0) }.joined(separator: " ")
    }

    /// Whether the normalized prediction equals the normalized ground truth (`exact_match_score`).
    public static func exactMatch(prediction: String, groundTruth: String) -> Bool {
        normalizedTokens(prediction) == normalizedTokens(groundTruth)
    }

    /// Whether the prediction exactly matches any of the ground truths.
    public static func exactMatch(prediction: String, groundTruths: [String]) -> Bool {
        precondition(!groundTruths.isEmpty, "a question needs at least one ground truth")
        return groundTruths.contains { exactMatch(prediction: prediction, groundTruth: $0) }
    }

    /// Token F1 of the normalized answers (`f1_score`): common tokens counted with multiplicity; 0 when there
    /// is none.
    public static func f1(prediction: String, groundTruth: String) -> Double {
        let p = normalizedTokens(prediction), g = normalizedTokens(groundTruth)
        var counts: [Token: Int] = [:]
        for token in g { counts[token, default: 0] += 1 }
        var same = 0
        for token in p {
            if let left = counts[token], left > 0 {
                same += 1
                counts[token] = left - 1
            }
        }
        if same == 0 { return 0 }
        let precision = 1.0 * Double(same) / Double(p.count), recall = 1.0 * Double(same) / Double(g.count)
        return (2 * precision * recall) / (precision + recall)
    }

    /// The best token F1 over the ground truths.
    public static func f1(prediction: String, groundTruths: [String]) -> Double {
        precondition(!groundTruths.isEmpty, "a question needs at least one ground truth")
        return groundTruths.map { f1(prediction: prediction, groundTruth: $0) }.max()!
    }

    /// Exact match and F1 over a set of questions, in percent, as `compute_score` aggregates them
    /// (`groundTruths[i]` are the accepted answers for `predictions[i]`). NaN for no questions.
    public static func evaluate(predictions: [String], groundTruths: [[String]]) -> Summary {
        precondition(predictions.count == groundTruths.count,
                     "\(predictions.count) predictions for \(groundTruths.count) questions")
        var exact = 0, f1Sum = 0.0
        for (prediction, truths) in zip(predictions, groundTruths) {
            if exactMatch(prediction: prediction, groundTruths: truths) { exact += 1 }
            f1Sum += f1(prediction: prediction, groundTruths: truths)
        }
        let total = Double(predictions.count)
        return Summary(exactMatch: 100.0 * Double(exact) / total, f1: 100.0 * f1Sum / total)
    }

    /// The tokens of the normalized answer (`normalize_answer(s).split()`).
    static func normalizedTokens(_ text: String) -> [Token] {
        let lowered = pythonLowercased(Array(text.unicodeScalars))
        let unpunctuated = lowered.filter { !isASCIIPunctuation($0) }
        // re.sub(r"\b(a|an|the)\b", " ", text): a match is exactly a maximal run of word characters.
        var withoutArticles: [Unicode.Scalar] = []
        var i = 0
        while i < unpunctuated.count {
            guard unpunctuated[i].isPythonWordCharacter else {
                withoutArticles.append(unpunctuated[i])
                i += 1
                continue
            }
            var end = i
            while end < unpunctuated.count && unpunctuated[end].isPythonWordCharacter { end += 1 }
            let word = unpunctuated[i..<end]
            if ["a", "an", "the"].contains(where: { word.elementsEqual($0.unicodeScalars) }) {
                withoutArticles.append(" ")
            } else {
                withoutArticles += word
            }
            i = end
        }
        return pythonSplit(withoutArticles)
    }
}

/// Python's `string.punctuation`: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
private func isASCIIPunctuation(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: true
    default: false
    }
}
