import Foundation

extension ClassificationMetrics {
    /// The text of `sklearn.metrics.classification_report(labels, predictions, labels=range(n),
    /// target_names=labelNames, digits=digits, zero_division=...)`, character for character:
    ///
    /// ```
    ///               precision    recall  f1-score   support
    ///
    ///     negative       0.92      0.67      0.77       270
    ///      neutral       0.26      0.62      0.36        32
    ///     positive       0.46      0.65      0.54        69
    ///
    ///     accuracy                           0.66       371
    ///    macro avg       0.55      0.65      0.56       371
    /// weighted avg       0.78      0.66      0.70       371
    /// ```
    ///
    /// The first column is as wide as the longest label name, "weighted avg" or `digits`, whichever is
    /// widest; like Python, widths count Unicode code points (a Bengali name such as "নিরপেক্ষ" is 8 wide).
    /// Numbers are rounded half to even on their binary value, as Python's `format` does; NaN prints "nan".
    /// The accuracy row is the micro-averaged F1, which is the accuracy since every class is included.
    ///
    /// One scikit-learn quirk is kept: when no prediction is correct, scikit-learn counts the support in
    /// floating point (`multilabel_confusion_matrix` starts from `np.zeros`), so the support column reads
    /// "2.0" instead of "2".
    public func report(digits: Int = 2) -> String {
        let headers = ["precision", "recall", "f1-score", "support"]
        let width = max(labelNames.map { $0.unicodeScalars.count }.max() ?? 0, "weighted avg".count, digits)
        let floatSupport = truePositives.allSatisfy { $0 == 0 }
        let number = { (n: Int) in floatSupport ? "\(n).0" : String(n) }
        let total = number(count)
        func row(_ name: String, _ values: [Double], support: String) -> String {
            pad(name, width) + " " + values.map { " " + pad(fixed($0, digits), 9) }.joined()
                + " " + pad(support, 9) + "\n"
        }
        var text = pad("", width) + " " + headers.map { " " + pad($0, 9) }.joined() + "\n\n"
        let (p, r, f, support) = (precision, recall, f1, support)
        for (c, name) in labelNames.enumerated() {
            text += row(name, [p[c], r[c], f[c]], support: number(support[c]))
        }
        text += "\n"
        let blank = " " + pad("", 9)  // Python formats "" for the precision and recall columns
        text += pad("accuracy", width) + " " + blank + blank + " " + pad(fixed(f1(.micro), digits), 9)
            + " " + pad(total, 9) + "\n"
        text += row("macro avg", [precision(.macro), recall(.macro), f1(.macro)], support: total)
        text += row("weighted avg", [precision(.weighted), recall(.weighted), f1(.weighted)], support: total)
        return text
    }
}

/// Right-aligns `text` in `width` code points (Python's `{:>width}`); longer text is left as it is.
private func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.unicodeScalars.count)) + text
}

/// Python's `format(value, ".{digits}f")`: correctly rounded fixed notation; "nan", "inf" and "-inf".
private func fixed(_ value: Double, _ digits: Int) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    return String(format: "%.\(digits)f", value)
}
