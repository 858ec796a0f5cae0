/// Final answers of GSM8K-style solutions, and whether a completion got the right one.
///
/// ``extractAnswer(_:)`` first looks for OpenAI's marker, exactly as `extract_answer` in
/// openai/grade-school-math does: the first match of `#### (\-?[0-9\.\,]+)`, commas removed ("#### 1,080" →
/// "1080"). Without a marker it falls back to the last number in the text, the last match of
/// `-?[0-9][0-9,]*(?:\.[0-9]+)?`, commas removed ("The answer is $1,234.56." → "1234.56"), which is what models
/// that do not write "####" usually end with. Answers are compared as strings, as OpenAI's `is_correct` does:
/// "72" and "72.0" differ, and the marker's pattern keeps a trailing period ("#### 72." → "72."). Only ASCII
/// digits count: Bengali digits such as "১২৩" are not numbers here.
public enum GSM8K {
    /// The final answer of a solution or completion, or nil when it has no number at all.
    public static func extractAnswer(_ text: String) -> String? {
        let s = Array(text.unicodeScalars)
        let marker = Array("#### ".unicodeScalars)
        let isAnswerCharacter = { (c: Unicode.Scalar) in c.isASCIIDigit || c == "." || c == "," }
        var i = 0
        while i + marker.count <= s.count {
            if s[i..<i + marker.count].elementsEqual(marker) {
                let start = i + marker.count
                let digits = start < s.count && s[start] == "-" ? start + 1 : start
                var end = digits
                while end < s.count && isAnswerCharacter(s[end]) { end += 1 }
                if end > digits { return withoutCommas(s[start..<end]) }
            }
            i += 1
        }
        var last: Range<Int>?
        i = 0
        while i < s.count {
            let digits = s[i] == "-" ? i + 1 : i
            guard digits < s.count && s[digits].isASCIIDigit else { i += 1; continue }
            var end = digits + 1
            while end < s.count && (s[end].isASCIIDigit || s[end] == ",") { end += 1 }
            if end + 1 < s.count && s[end] == "." && s[end + 1].isASCIIDigit {
                end += 2
                while end < s.count && s[end].isASCIIDigit { end += 1 }
            }
            last = i..<end
            i = end
        }
        return last.map { withoutCommas(s[$0]) }
    }

    /// Whether the completion's final answer equals the reference solution's (OpenAI's `is_correct`, with the
    /// last-number fallback for the completion). The reference must contain a number.
    public static func isCorrect(completion: String, reference: String) -> Bool {
        guard let expected = extractAnswer(reference) else {
            preconditionFailure("the reference solution has no answer: \(reference)")
        }
        return extractAnswer(completion) == expected
    }

    /// The fraction of completions whose final answer is right (NaN for none).
    public static func accuracy(completions: [String], references: [String]) -> Double {
        precondition(completions.count == references.count,
                     "\(completions.count) completions for \(references.count) references")
        let correct = zip(completions, references).filter { isCorrect(completion: $0, reference: $1) }.count
        return Double(correct) / Double(completions.count)
    }

    private static func withoutCommas(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        string(scalars.filter { $0 != "," })
    }
}
