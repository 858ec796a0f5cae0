/// Chance-corrected agreement between labels and predictions, as scikit-learn computes it.
extension ClassificationMetrics {
    /// The disagreement weights of Cohen's kappa (scikit-learn's `weights`).
    public enum KappaWeights: Sendable, Equatable, CaseIterable {
        /// Every disagreement counts 1 (`weights=None`).
        case unweighted
        /// A disagreement between classes i and j counts |i − j| (`weights="linear"`); for ordered classes.
        case linear
        /// A disagreement counts (i − j)² (`weights="quadratic"`).
        case quadratic
    }

    /// Cohen's kappa of the predictions against the labels: `sklearn.metrics.cohen_kappa_score(labels,
    /// predictions, labels=range(n), weights=...)`.
    ///
    /// Every declared class takes part, so a class absent from both labels and predictions still counts for the
    /// index distances of the linear and quadratic weights (scikit-learn's default `labels=None` would use the
    /// classes present only; the unweighted kappa is the same either way). NaN when it is undefined: no
    /// samples, or an expected disagreement of 0 (for example when labels and predictions use one class only);
    /// scikit-learn's `replace_undefined_by=np.nan`.
    public func cohenKappa(_ weights: KappaWeights = .unweighted) -> Double {
        let n = confusion.count
        let predicted = predictedCount.map(Double.init), actual = support.map(Double.init)
        let total = numpySum(predicted)
        guard total != 0 else { return .nan }
        var observed: [Double] = [], expected: [Double] = []
        observed.reserveCapacity(n * n)
        expected.reserveCapacity(n * n)
        for i in 0..<n {
            for j in 0..<n {
                let w: Double
                switch weights {
                case .unweighted: w = i == j ? 0 : 1
                case .linear: w = Double(abs(j - i))
                case .quadratic: w = Double((j - i) * (j - i))
                }
                observed.append(w * Double(confusion[i][j]))
                expected.append(w * (predicted[i] * actual[j] / total))
            }
        }
        let disagreement = numpySum(expected)
        guard disagreement != 0 else { return .nan }
        return 1 - numpySum(observed) / disagreement
    }

    /// Matthews correlation coefficient, multiclass (Gorodkin's R_K): `sklearn.metrics.matthews_corrcoef`. 0
    /// when it is undefined (labels or predictions use a single class, or there are no samples), as in
    /// scikit-learn.
    public var matthewsCorrelation: Double {
        let t = support.map(Double.init), p = predictedCount.map(Double.init)
        let correct = Double(truePositives.reduce(0, +)), n = Double(count)
        let dot = { (a: [Double], b: [Double]) in zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        let covariance = correct * n - dot(t, p)
        let product = (n * n - dot(p, p)) * (n * n - dot(t, t))
        return product == 0 ? 0 : covariance / product.squareRoot()
    }

    /// The mean recall over the classes that have samples: `sklearn.metrics.balanced_accuracy_score`. Classes
    /// without support are left out (scikit-learn warns "y_pred contains classes not in y_true"). NaN when no
    /// class has samples.
    public var balancedAccuracy: Double {
        let recalls = perClassRecallOfPresentClasses
        return numpySum(recalls) / Double(recalls.count)
    }

    /// Balanced accuracy rescaled so that chance is 0 and perfect is 1: `balanced_accuracy_score(...,
    /// adjusted=True)`, `(score − 1/k) / (1 − 1/k)` with k the classes that have samples. With one such class
    /// the division is by zero, giving −∞ or NaN as in scikit-learn.
    public var adjustedBalancedAccuracy: Double {
        let recalls = perClassRecallOfPresentClasses
        let chance = 1 / Double(recalls.count)
        return (numpySum(recalls) / Double(recalls.count) - chance) / (1 - chance)
    }

    private var perClassRecallOfPresentClasses: [Double] {
        zip(truePositives, support).filter { $0.1 > 0 }.map { Double($0.0) / Double($0.1) }
    }
}
