import Foundation
import FinchData
import FinchTensor

/// k-fold cross-validation: splits the rows into k folds and runs one trial per fold, training on the other
/// k − 1 folds and validating on the held-out one.
public struct CrossValidation: Sendable, Equatable {
    /// How rows are dealt into folds. Both shuffle with `seed` first.
    public enum Splitting: Sendable, Equatable {
        /// Like scikit-learn's StratifiedKFold(shuffle=True): each class's rows, shuffled, are dealt round-robin
        /// over the folds (continuing where the previous class stopped), so each fold holds ⌊n_c/k⌋ or ⌈n_c/k⌉
        /// rows of every class c and fold sizes differ by at most one.
        case stratified
        /// Like KFold(shuffle=True): the shuffled rows cut into k consecutive folds, the first n mod k one row larger.
        case plain
    }

    public let folds: Int
    public let splitting: Splitting
    public let seed: UInt64

    public init(folds: Int, splitting: Splitting = .stratified, seed: UInt64 = 42) {
        self.folds = folds
        self.splitting = splitting
        self.seed = seed
    }

    /// The row indices of every fold, each ascending. Errors: fewer than 2 folds, more folds than rows, and
    /// (stratified) a class with rows but fewer than k of them.
    public func splits(_ data: LabeledTexts) throws -> [Fold] {
        guard folds >= 2 else { throw TrainingError("k-fold cross-validation needs k ≥ 2 folds, got \(folds)") }
        guard folds <= data.count else {
            throw TrainingError("k = \(folds) folds but only \(data.count) rows; every fold needs at least one row")
        }
        var random = SeededRandom(seed: seed)
        var assignment = [Int](repeating: 0, count: data.count)
        switch splitting {
        case .stratified:
            var dealt = 0
            for label in Set(data.labels).sorted() {
                var rows = data.labels.indices.filter { data.labels[$0] == label }
                guard rows.count >= folds else {
                    let name = data.labelNames.indices.contains(label) ? data.labelNames[label] : "\(label)"
                    throw TrainingError("class \"\(name)\" has only \(rows.count) row\(rows.count == 1 ? "" : "s"), fewer than k = \(folds) folds; lower k or use plain k-fold")
                }
                random.shuffle(&rows)
                for row in rows {
                    assignment[row] = dealt % folds
                    dealt += 1
                }
            }
        case .plain:
            var rows = Array(data.labels.indices)
            random.shuffle(&rows)
            let base = data.count / folds, extra = data.count % folds
            var start = 0
            for fold in 0..<folds {
                let size = base + (fold < extra ? 1 : 0)
                for row in rows[start..<start + size] { assignment[row] = fold }
                start += size
            }
        }
        return (0..<folds).map { fold in
            Fold(train: assignment.indices.filter { assignment[$0] != fold },
                 validation: assignment.indices.filter { assignment[$0] == fold })
        }
    }

    /// Runs `trial` with `configuration` once per fold, in fold order; `progress` hears each finished fold.
    /// A fold that throws ends the run with an error naming the fold.
    public func run(_ data: LabeledTexts, configuration: TrialConfiguration = [:], trial: FoldTrialRunner,
                    progress: (FoldResult) -> Void = { _ in }) throws -> CrossValidationReport {
        var results: [FoldResult] = []
        for (index, fold) in try splits(data).enumerated() {
            let started = DispatchTime.now().uptimeNanoseconds
            let result: ValidationMetrics
            do {
                result = try trial(configuration, data.subset(fold.train), data.subset(fold.validation))
            } catch {
                throw TrainingError("fold \(index + 1) of \(folds): \(error)")
            }
            let finished = FoldResult(fold: index + 1, trainRows: fold.train.count, validationRows: fold.validation.count,
                                      result: result, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            results.append(finished)
            progress(finished)
        }
        return CrossValidationReport(folds: results)
    }
}

/// The rows of one fold: trained on, and held out for validation.
public struct Fold: Sendable, Equatable {
    public let train: [Int]
    public let validation: [Int]
}

/// One fold's trial.
public struct FoldResult: Sendable, Equatable {
    /// 1-based.
    public let fold: Int
    public let trainRows: Int
    public let validationRows: Int
    public let result: ValidationMetrics
    public let seconds: Double
}

/// A metric across folds.
public struct MetricSummary: Sendable, Equatable, CustomStringConvertible {
    public let mean: Double
    /// The sample standard deviation (ddof = 1, as pandas and `statistics.stdev`).
    public let standardDeviation: Double

    /// `mean ± std` with four decimals.
    public var description: String { String(format: "%.4f ± %.4f", mean, standardDeviation) }
}

/// Per-fold metrics and their mean and sample standard deviation.
public struct CrossValidationReport: Sendable, Equatable, CustomStringConvertible {
    /// Every fold, in order (at least two).
    public let folds: [FoldResult]

    /// The mean and sample standard deviation of a metric over the folds.
    public func summary(of metric: TrainingOptions.BestMetric) -> MetricSummary {
        let values = folds.map { $0.result.value(of: metric) }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
        return MetricSummary(mean: mean, standardDeviation: variance.squareRoot())
    }

    /// The mean of every metric, as a trial result (so a sweep can rank configurations by cross-validation).
    public var mean: ValidationMetrics {
        ValidationMetrics(loss: summary(of: .loss).mean, accuracy: summary(of: .accuracy).mean,
                    f1Macro: summary(of: .f1Macro).mean, f1Weighted: summary(of: .f1Weighted).mean)
    }

    /// One line per fold, then `mean ± std` per metric.
    public var description: String {
        let lines = folds.map { f in
            String(format: "fold %d  %d/%d rows  acc %.4f  f1_macro %.4f  f1_weighted %.4f  loss %.4f  %.1fs", f.fold, f.trainRows,
                   f.validationRows, f.result.accuracy, f.result.f1Macro, f.result.f1Weighted, f.result.loss, f.seconds)
        }
        let summaries = TrainingOptions.BestMetric.allCases.map { "\($0.rawValue) \(summary(of: $0))" }
        return (lines + [summaries.joined(separator: "  ")]).joined(separator: "\n")
    }
}
