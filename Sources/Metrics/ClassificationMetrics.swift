/// Classification metrics with scikit-learn's definitions: per-class precision, recall and F1 (0 where
/// a denominator is 0, sklearn's zero_division=0), their macro and support-weighted averages, accuracy.
public struct ClassificationMetrics: Sendable, Equatable {
    public let labelNames: [String]
    /// confusion[true][predicted]
    public let confusion: [[Int]]

    public init(labels: [Int], predictions: [Int], labelNames: [String]) {
        precondition(labels.count == predictions.count, "\(labels.count) labels for \(predictions.count) predictions")
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: labelNames.count), count: labelNames.count)
        for (truth, guess) in zip(labels, predictions) { confusion[truth][guess] += 1 }
        self.labelNames = labelNames
        self.confusion = confusion
    }

    public var count: Int { confusion.joined().reduce(0, +) }
    public var support: [Int] { confusion.map { $0.reduce(0, +) } }

    public var accuracy: Double {
        count == 0 ? 0 : Double(confusion.indices.map { confusion[$0][$0] }.reduce(0, +)) / Double(count)
    }

    public var precision: [Double] {
        confusion.indices.map { c in
            let predicted = confusion.map { $0[c] }.reduce(0, +)
            return predicted == 0 ? 0 : Double(confusion[c][c]) / Double(predicted)
        }
    }

    public var recall: [Double] {
        confusion.indices.map { c in support[c] == 0 ? 0 : Double(confusion[c][c]) / Double(support[c]) }
    }

    public var f1: [Double] {
        zip(precision, recall).map { p, r in p + r == 0 ? 0 : 2 * p * r / (p + r) }
    }

    /// Unweighted mean of per-class F1 over every class.
    public var f1Macro: Double { f1.isEmpty ? 0 : f1.reduce(0, +) / Double(f1.count) }

    /// Per-class F1 weighted by support.
    public var f1Weighted: Double {
        count == 0 ? 0 : zip(f1, support).map { $0 * Double($1) }.reduce(0, +) / Double(count)
    }
}
