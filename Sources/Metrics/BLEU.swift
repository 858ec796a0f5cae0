import Foundation

/// Corpus BLEU exactly as sacrebleu computes it with its defaults (`sacrebleu.corpus_bleu(hypotheses,
/// [references])`, checked against sacrebleu 2.6.0): the `13a` tokenizer (mteval-v13a), case kept, 1- to
/// 4-grams, `exp` smoothing and the brevity penalty, all over the whole corpus.
///
/// ```swift
/// let bleu = BLEU.corpus(hypotheses: ["the cat sat on the mat"], references: ["the cat sat on a mat"])
/// bleu.score        // 53.73…
/// print(bleu)       // BLEU = 53.73 83.3/60.0/50.0/33.3 (BP = 1.000 ratio = 1.000 hyp_len = 6 ref_len = 6)
/// ```
///
/// **Text is compared code point by code point**, as in Python: the precomposed "ড়" (U+09DC) and the
/// decomposed "ড়" (U+09A1 U+09BC), both common in real Bengali text, are different words to sacrebleu and
/// here. No Unicode normalization is applied; normalize both sides first if that is what you want.
///
/// **Non-Latin text.** 13a splits on whitespace and on ASCII punctuation only. Bengali words stay whole, and
/// the Bengali full stop "।" (U+0964) stays attached to the word before it ("রান।" is one token), exactly as
/// sacrebleu does.
///
/// Differences from sacrebleu where sacrebleu fails: an empty list of hypotheses gives a score of 0 (sacrebleu
/// raises `IndexError`).
public struct BLEU: Sendable, Equatable, CustomStringConvertible {
    /// BLEU on sacrebleu's 0–100 scale.
    public let score: Double
    /// Matching n-grams for n = 1…4, clipped by the reference counts (sacrebleu's `counts`).
    public let matches: [Int]
    /// Hypothesis n-grams for n = 1…4 (sacrebleu's `totals`).
    public let totals: [Int]
    /// The n-gram precisions in percent, after smoothing (sacrebleu's `precisions`).
    public let precisions: [Double]
    /// The brevity penalty, `exp(1 − r/c)` when the hypotheses are shorter than the references, else 1.
    public let brevityPenalty: Double
    /// Tokens in all hypotheses (sacrebleu's `sys_len`).
    public let hypothesisLength: Int
    /// Sum over segments of the reference length closest to the hypothesis length, the shorter on a tie
    /// (sacrebleu's `ref_len`).
    public let referenceLength: Int

    /// The largest n-gram order (sacrebleu's `MAX_NGRAM_ORDER`).
    public static let maxOrder = 4

    /// BLEU from the corpus statistics, as sacrebleu's `BLEU.compute_bleu` with `smooth_method="exp"`: when
    /// nothing matches, 0; an order with matches gives 100·matches/total; an order without matches gives
    /// 100/(2^k·total), k counting such orders; an order without any hypothesis n-gram ends the loop and leaves
    /// its precision and the higher ones at 0, which makes the score 0 (log 0 is floored to −9999999999).
    public init(matches: [Int], totals: [Int], hypothesisLength: Int, referenceLength: Int) {
        precondition(matches.count == Self.maxOrder && totals.count == Self.maxOrder, "BLEU needs 4 orders")
        self.matches = matches
        self.totals = totals
        self.hypothesisLength = hypothesisLength
        self.referenceLength = referenceLength
        var bp = 1.0
        if hypothesisLength < referenceLength {
            bp = hypothesisLength > 0 ? exp(1 - Double(referenceLength) / Double(hypothesisLength)) : 0
        }
        brevityPenalty = bp
        var precisions = [Double](repeating: 0, count: Self.maxOrder)
        guard matches.contains(where: { $0 != 0 }) else {
            self.precisions = precisions
            score = 0
            return
        }
        var smooth = 1.0
        for n in 0..<Self.maxOrder {
            if totals[n] == 0 { break }
            if matches[n] == 0 {
                smooth *= 2
                precisions[n] = 100 / (smooth * Double(totals[n]))
            } else {
                precisions[n] = 100 * Double(matches[n]) / Double(totals[n])
            }
        }
        self.precisions = precisions
        let logSum = precisions.reduce(0.0) { $0 + ($1 == 0 ? -9_999_999_999 : log($1)) }
        score = bp * exp(logSum / Double(Self.maxOrder))
    }

    /// Corpus BLEU with one reference per hypothesis.
    public static func corpus(hypotheses: [String], references: [String]) -> BLEU {
        corpus(hypotheses: hypotheses, referenceStreams: [references])
    }

    /// Corpus BLEU with several references per hypothesis, in sacrebleu's layout: `referenceStreams[k][i]` is
    /// the k-th reference of hypothesis i (every stream is as long as `hypotheses`). Reference n-gram counts
    /// are the maximum over the references of a segment.
    public static func corpus(hypotheses: [String], referenceStreams: [[String]]) -> BLEU {
        precondition(!referenceStreams.isEmpty, "BLEU needs at least one reference stream")
        for stream in referenceStreams {
            precondition(stream.count == hypotheses.count,
                         "\(stream.count) references for \(hypotheses.count) hypotheses")
        }
        var vocabulary: [Token: Int] = [:]
        func ids(_ text: String) -> [Int] {
            tokens(text).map { token in
                if let id = vocabulary[token] { return id }
                vocabulary[token] = vocabulary.count
                return vocabulary.count - 1
            }
        }
        var matches = [Int](repeating: 0, count: maxOrder), totals = matches
        var hypothesisLength = 0, referenceLength = 0
        for (i, hypothesis) in hypotheses.enumerated() {
            var referenceCounts: [[Int]: Int] = [:]
            var lengths: [Int] = []
            for stream in referenceStreams {
                let reference = ids(stream[i])
                lengths.append(reference.count)
                for (gram, count) in ngramCounts(reference) {
                    referenceCounts[gram] = max(referenceCounts[gram] ?? 0, count)
                }
            }
            let words = ids(hypothesis)
            hypothesisLength += words.count
            referenceLength += closestLength(to: words.count, among: lengths)
            for (gram, count) in ngramCounts(words) {
                totals[gram.count - 1] += count
                matches[gram.count - 1] += min(count, referenceCounts[gram] ?? 0)
            }
        }
        return BLEU(matches: matches, totals: totals, hypothesisLength: hypothesisLength,
                    referenceLength: referenceLength)
    }

    /// The text as sacrebleu's 13a tokenizer leaves it (after the `rstrip()` BLEU applies first): tokens
    /// separated by single spaces.
    public static func tokenize(_ text: String) -> String {
        tokens(text).map { string($0) }.joined(separator: " ")
    }

    /// `hyp_len / ref_len`, 0 when the references are empty (sacrebleu's `ratio`).
    public var ratio: Double {
        referenceLength == 0 ? 0 : Double(hypothesisLength) / Double(referenceLength)
    }

    /// sacrebleu's `str(score)`: `BLEU = 53.73 83.3/60.0/50.0/33.3 (BP = 1.000 ratio = 1.000 hyp_len = 6 ref_len = 6)`.
    public var description: String {
        let p = precisions.map { String(format: "%.1f", $0) }.joined(separator: "/")
        return String(format: "BLEU = %.2f ", score) + p
            + String(format: " (BP = %.3f ratio = %.3f ", brevityPenalty, ratio)
            + "hyp_len = \(hypothesisLength) ref_len = \(referenceLength))"
    }

    /// sacrebleu's `Tokenizer13a` applied to `line.rstrip()`: drop "<skipped>", join "-\n" line breaks, turn
    /// newlines into spaces, unescape `&quot; &amp; &lt; &gt;` (in that order, once each), then the four
    /// regular expressions of `TokenizerRegexp` with Python's left-to-right, non-overlapping substitution, and
    /// a split on Python whitespace.
    static func tokens(_ text: String) -> [Token] {
        var s = Array(text.unicodeScalars)
        while let last = s.last, last.isPythonWhitespace { s.removeLast() }
        s = replacing(s, "<skipped>", "")
        s = replacing(s, "-\n", "")
        s = replacing(s, "\n", " ")
        if s.contains("&") {
            for (entity, character) in [("&quot;", "\""), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")] {
                s = replacing(s, entity, character)
            }
        }
        // ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> " \1 "
        var spaced: [Unicode.Scalar] = []
        for c in [" "] + s + [" "] {  // f" {line} "
            switch c.value {
            case 0x7B...0x7E, 0x5B...0x60, 0x20...0x26, 0x28...0x2B, 0x3A...0x40, 0x2F: spaced += [" ", c, " "]
            default: spaced.append(c)
            }
        }
        let isPeriodOrComma = { (c: Unicode.Scalar) in c == "." || c == "," }
        // ([^0-9])([\.,]) -> "\1 \2 "
        spaced = substitutePairs(spaced, { !$0.isASCIIDigit && isPeriodOrComma($1) }) { [$0, " ", $1, " "] }
        // ([\.,])([^0-9]) -> " \1 \2"
        spaced = substitutePairs(spaced, { isPeriodOrComma($0) && !$1.isASCIIDigit }) { [" ", $0, " ", $1] }
        // ([0-9])(-) -> "\1 \2 "
        spaced = substitutePairs(spaced, { $0.isASCIIDigit && $1 == "-" }) { [$0, " ", $1, " "] }
        return pythonSplit(spaced)
    }

    /// The 1- to 4-grams of a segment and their counts.
    private static func ngramCounts(_ words: [Int]) -> [[Int]: Int] {
        var counts: [[Int]: Int] = [:]
        for n in 1...maxOrder where n <= words.count {
            for start in 0...(words.count - n) { counts[Array(words[start..<start + n]), default: 0] += 1 }
        }
        return counts
    }

    /// sacrebleu's `_get_closest_ref_len`: the reference length nearest to the hypothesis length, the shorter
    /// one on a tie.
    private static func closestLength(to length: Int, among lengths: [Int]) -> Int {
        lengths.min { (abs($0 - length), $0) < (abs($1 - length), $1) } ?? 0
    }
}

/// Python's `str.replace(old, new)`: every non-overlapping occurrence, left to right.
private func replacing(_ s: [Unicode.Scalar], _ old: String, _ new: String) -> [Unicode.Scalar] {
    let old = Array(old.unicodeScalars), new = Array(new.unicodeScalars)
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(s.count)
    var i = 0
    while i < s.count {
        if s.count - i >= old.count && s[i..<i + old.count].elementsEqual(old) {
            out += new
            i += old.count
        } else {
            out.append(s[i])
            i += 1
        }
    }
    return out
}

/// `re.sub` of a two-character pattern: scanning left to right, each position where `matches(s[i], s[i+1])`
/// holds is rewritten and the scan resumes after the pair (matches never overlap).
private func substitutePairs(_ s: [Unicode.Scalar], _ matches: (Unicode.Scalar, Unicode.Scalar) -> Bool,
                             _ rewrite: (Unicode.Scalar, Unicode.Scalar) -> [Unicode.Scalar]) -> [Unicode.Scalar] {
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(s.count + s.count / 4)
    var i = 0
    while i < s.count {
        if i + 1 < s.count && matches(s[i], s[i + 1]) {
            out += rewrite(s[i], s[i + 1])
            i += 2
        } else {
            out.append(s[i])
            i += 1
        }
    }
    return out
}
