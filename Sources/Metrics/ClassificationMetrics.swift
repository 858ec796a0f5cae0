/// Classification metrics with scikit-learn's definitions (checked against scikit-learn 1.9.1, see
/// `Tests/Reference/metrics_reference.py`): per-class precision, recall, F1 and support, their micro, macro and
/// support-weighted averages, accuracy and the confusion matrix. Agreement scores (Cohen's kappa, Matthews
/// correlation, balanced accuracy) and the `classification_report` text are in extensions.
///
/// The classes are `0..<labelNames.count`, all of them, whether or not they occur: every per-class array and
/// every average covers them all, as scikit-learn does when given `labels=range(n)`. A ratio whose denominator
/// is 0 (a class never predicted has no precision, a class without support has no recall) is reported as
/// ``zeroDivision`` says, like scikit-learn's `zero_division`.
///
/// ```swift
/// let metrics = ClassificationMetrics(labels: [0, 0, 1, 2], predictions: [0, 1, 1, 1],
///                                     labelNames: ["negative", "neutral", "positive"])
/// metrics.f1Macro            // 0.3888… (mean of 0.667, 0.5 and 0)
/// metrics.precision(.micro)  // 0.5 (= accuracy)
/// print(metrics.report(digits: 4))
/// ```
public struct ClassificationMetrics: Sendable, Equatable {
    /// What a precision, recall or F1 with a zero denominator is: scikit-learn's `zero_division` parameter.
    public enum ZeroDivision: Sendable, Equatable {
        /// scikit-learn's default, `"warn"`: 0. (scikit-learn also emits an `UndefinedMetricWarning`; here
        /// ``ClassificationMetrics/classesNeverPredicted`` and ``ClassificationMetrics/classesWithoutSupport``
        /// tell which classes are affected.)
        case warn
        /// `zero_division=0`: 0.
        case zero
        /// `zero_division=1`: 1.
        case one
        /// `zero_division=np.nan`: NaN, and the averages leave those classes out (NumPy's `nanmean`).
        case nan

        var value: Double {
            switch self {
            case .warn, .zero: 0
            case .one: 1
            case .nan: .nan
            }
        }
    }

    /// How per-class scores are combined into one (scikit-learn's `average`).
    public enum Average: Sendable, Equatable, CaseIterable {
        /// Global counts: total true positives over total predictions (precision) or over total support
        /// (recall). With every class included, micro precision = recall = F1 = accuracy.
        case micro
        /// The unweighted mean over the classes (over the non-NaN ones with ``ZeroDivision/nan``).
        case macro
        /// The mean weighted by support (over the non-NaN classes; if their support sums to 0, unweighted).
        case weighted
    }

    /// The class names; class `i` is `labelNames[i]`.
    public let labelNames: [String]
    /// `confusion[truth][prediction]`: how many samples of class `truth` were predicted as `prediction`.
    public let confusion: [[Int]]
    /// What ratios with a zero denominator are.
    public let zeroDivision: ZeroDivision

    /// Counts the confusion matrix of `labels` (the truth) against `predictions`, both class indices in
    /// `0..<labelNames.count`.
    public init(labels: [Int], predictions: [Int], labelNames: [String], zeroDivision: ZeroDivision = .warn) {
        precondition(labels.count == predictions.count, "\(labels.count) labels for \(predictions.count) predictions")
        let n = labelNames.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: n), count: n)
        for (truth, guess) in zip(labels, predictions) {
            precondition((0..<n).contains(truth) && (0..<n).contains(guess),
                         "class index \((0..<n).contains(truth) ? guess : truth) is outside 0..<\(n) (\(labelNames))")
            confusion[truth][guess] += 1
        }
        self.init(confusion: confusion, labelNames: labelNames, zeroDivision: zeroDivision)
    }

    /// Metrics of an already counted confusion matrix (`confusion[truth][prediction]`, square, one row per
    /// label name).
    public init(confusion: [[Int]], labelNames: [String], zeroDivision: ZeroDivision = .warn) {
        precondition(confusion.count == labelNames.count && confusion.allSatisfy { $0.count == labelNames.count },
                     "the confusion matrix must be \(labelNames.count)×\(labelNames.count)")
        self.labelNames = labelNames
        self.confusion = confusion
        self.zeroDivision = zeroDivision
    }

    /// The number of samples.
    public var count: Int { confusion.joined().reduce(0, +) }
    /// Samples per true class (the rows of the confusion matrix): scikit-learn's `support`.
    public var support: [Int] { confusion.map { $0.reduce(0, +) } }
    /// Predictions per class (the columns of the confusion matrix).
    public var predictedCount: [Int] { confusion.indices.map { c in confusion.reduce(0) { $0 + $1[c] } } }
    /// Correct predictions per class (the diagonal).
    public var truePositives: [Int] { confusion.indices.map { confusion[$0][$0] } }

    /// The fraction of samples predicted correctly; 0 when there are none (scikit-learn refuses empty input).
    public var accuracy: Double {
        count == 0 ? 0 : Double(truePositives.reduce(0, +)) / Double(count)
    }

    /// Per class: true positives over predictions of the class.
    public var precision: [Double] { zip(truePositives, predictedCount).map { divide(Double($0), $1) } }

    /// Per class: true positives over the support of the class.
    public var recall: [Double] { zip(truePositives, support).map { divide(Double($0), $1) } }

    /// Per class, as scikit-learn computes it: 2·tp / (support + predictions). This equals the harmonic mean of
    /// precision and recall when both are defined, and is 0 (not ``zeroDivision``) when only one of them is
    /// undefined; only a class that is neither present nor predicted gets ``zeroDivision``.
    public var f1: [Double] {
        zip(truePositives, zip(support, predictedCount)).map { divide(2 * Double($0), $1.0 + $1.1) }
    }

    /// Precision combined over the classes.
    public func precision(_ average: Average) -> Double {
        combine(precision, average, micro: divide(Double(truePositives.reduce(0, +)), predictedCount.reduce(0, +)))
    }

    /// Recall combined over the classes.
    public func recall(_ average: Average) -> Double {
        combine(recall, average, micro: divide(Double(truePositives.reduce(0, +)), count))
    }

    /// F1 combined over the classes. Macro F1 is the mean of the per-class F1 values (scikit-learn's
    /// definition), not the F1 of macro precision and macro recall.
    public func f1(_ average: Average) -> Double {
        combine(f1, average, micro: divide(2 * Double(truePositives.reduce(0, +)), 2 * count))
    }

    /// Unweighted mean of per-class F1 over every class: `f1(.macro)`.
    public var f1Macro: Double { f1(.macro) }

    /// Per-class F1 weighted by support: `f1(.weighted)`.
    public var f1Weighted: Double { f1(.weighted) }

    /// Classes that no prediction chose: their precision is undefined (scikit-learn warns about them).
    public var classesNeverPredicted: [Int] { predictedCount.indices.filter { predictedCount[$0] == 0 } }

    /// Classes with no true sample: their recall is undefined (scikit-learn warns about them).
    public var classesWithoutSupport: [Int] { support.indices.filter { support[$0] == 0 } }

    /// scikit-learn's `_prf_divide`: the ratio, or the `zero_division` value when the denominator is 0.
    private func divide(_ numerator: Double, _ denominator: Int) -> Double {
        denominator == 0 ? zeroDivision.value : numerator / Double(denominator)
    }

    /// scikit-learn's `_nanaverage` over the classes (NumPy's `nanmean`, or `average` with the support as
    /// weights after dropping NaN classes), with NumPy's summation order.
    private func combine(_ values: [Double], _ average: Average, micro: Double) -> Double {
        let kept = values.indices.filter { !values[$0].isNaN }
        switch average {
        case .micro:
            return micro
        case _ where kept.isEmpty:
            return .nan
        case .macro:
            return numpySum(values.map { $0.isNaN ? 0 : $0 }) / Double(kept.count)
        case .weighted:
            let support = self.support, weights = kept.map { Double(support[$0]) }
            let scale = numpySum(weights)
            if scale == 0 { return numpySum(kept.map { values[$0] }) / Double(kept.count) }
            return numpySum(zip(kept, weights).map { values[$0] * $1 }) / scale
        }
    }
}
