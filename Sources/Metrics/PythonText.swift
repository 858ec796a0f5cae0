// The pieces of Python and NumPy semantics the reference libraries rely on, so that Finch's metrics give the
// same numbers: Python strings are sequences of code points (compared and hashed code point by code point, with
// no canonical equivalence), `str.split()` splits on Python's whitespace, `str.lower()` applies the Final_Sigma
// rule, `re`'s `\w` is Python's `isalnum() or "_"`, and NumPy sums contiguous float64 arrays pairwise.

/// A token as Python sees it: its code points. Two tokens are equal only when their code points are, so the
/// precomposed Bengali "ড়" (U+09DC) and its decomposed spelling (U+09A1 U+09BC) are different tokens, as in
/// sacrebleu and the SQuAD script (a Swift `String` would compare them as equal).
typealias Token = [Unicode.Scalar]

extension Unicode.Scalar {
    /// Python's `str.isspace()` for one code point: the 29 code points whose bidirectional class is WS, B or S
    /// or whose category is Zs. U+200B (zero width space) and U+200C/U+200D (ZWNJ/ZWJ) are not whitespace.
    var isPythonWhitespace: Bool {
        switch value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F,
             0x3000:
            return true
        default:
            return false
        }
    }

    /// Python `re`'s `\w` on `str` patterns: `str.isalnum()` (a letter, category L*, or a character with a
    /// numeric value) or the underscore. Combining marks, such as Bengali vowel signs, are not word characters.
    var isPythonWordCharacter: Bool {
        if value == 0x5F { return true }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return true
        default:
            return properties.numericType != nil
        }
    }

    /// An ASCII digit, `[0-9]` in a Python regular expression.
    var isASCIIDigit: Bool { value >= 0x30 && value <= 0x39 }
}

/// Python's `str.split()` with no argument: runs of Python whitespace separate the tokens; there are no empty
/// tokens.
func pythonSplit<C: Collection>(_ scalars: C) -> [Token] where C.Element == Unicode.Scalar {
    var tokens: [Token] = []
    var current: Token = []
    for scalar in scalars {
        if scalar.isPythonWhitespace {
            if !current.isEmpty { tokens.append(current); current = [] }
        } else {
            current.append(scalar)
        }
    }
    if !current.isEmpty { tokens.append(current) }
    return tokens
}

/// Python's `str.lower()`: the full lowercase mapping of every code point, and the Final_Sigma rule of Python's
/// `handle_capital_sigma` for U+03A3 (it becomes "ς" after a cased letter, skipping case-ignorable ones, when no
/// cased letter follows; otherwise "σ"). Swift's `lowercased()` has no Final_Sigma rule.
func pythonLowercased(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(scalars.count)
    for (i, scalar) in scalars.enumerated() {
        if scalar.value < 0x80 {
            out.append(scalar.value >= 0x41 && scalar.value <= 0x5A ? Unicode.Scalar(scalar.value + 32)! : scalar)
        } else if scalar.value == 0x3A3 {
            out.append(isFinalSigma(scalars, at: i) ? "\u{3C2}" : "\u{3C3}")
        } else {
            out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        }
    }
    return out
}

private func isFinalSigma(_ scalars: [Unicode.Scalar], at i: Int) -> Bool {
    var j = i - 1
    while j >= 0 && scalars[j].properties.isCaseIgnorable { j -= 1 }
    guard j >= 0 && scalars[j].properties.isCased else { return false }
    j = i + 1
    while j < scalars.count && scalars[j].properties.isCaseIgnorable { j += 1 }
    return j == scalars.count || !scalars[j].properties.isCased
}

/// A string from code points (no normalization happens).
func string(_ scalars: some Sequence<Unicode.Scalar>) -> String {
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)
}

/// NumPy's sum of a contiguous float64 array (`pairwise_sum`): fewer than 8 values are added in order; up to
/// 128 values go into 8 interleaved partial sums combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the
/// remainder in order; longer arrays are split in two at a multiple of 8. Matching it keeps the averages
/// bit-identical to scikit-learn's, so a report rounds the same way on a tie.
func numpySum(_ values: ArraySlice<Double>) -> Double {
    let n = values.count, start = values.startIndex
    if n == 0 { return 0 }
    if n < 8 { return values.reduce(-0.0, +) }
    if n <= 128 {
        var r = Array(values[start..<start + 8])
        var i = 8
        while i < n - n % 8 {
            for j in 0..<8 { r[j] += values[start + i + j] }
            i += 8
        }
        var total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n { total += values[start + i]; i += 1 }
        return total
    }
    var half = n / 2
    half -= half % 8
    return numpySum(values[start..<start + half]) + numpySum(values[(start + half)...])
}

func numpySum(_ values: [Double]) -> Double { numpySum(values[...]) }
