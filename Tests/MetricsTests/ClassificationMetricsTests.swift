import Testing
import FinchMetrics

/// ClassificationMetrics against scikit-learn (metrics/classification.json).
@Suite struct ClassificationMetricsTests {
    static let zeroDivisions: [(String, ClassificationMetrics.ZeroDivision)] =
        [("warn", .warn), ("zero", .zero), ("one", .one), ("nan", .nan)]
    static let averages: [(String, ClassificationMetrics.Average)] =
        [("micro", .micro), ("macro", .macro), ("weighted", .weighted)]
    static let kappaWeights: [(String, ClassificationMetrics.KappaWeights)] =
        [("none", .unweighted), ("linear", .linear), ("quadratic", .quadratic)]

    @Test func matchesScikitLearn() throws {
        let cases = try metricsReference("classification")["cases"].array
        #expect(cases.count >= 15)
        var deviation = Deviation()
        var reports = 0
        for c in cases {
            let name = c["name"].string ?? "?"
            let labels = c["labels"].ints, predictions = c["predictions"].ints, names = c["label_names"].strings
            let metrics = ClassificationMetrics(labels: labels, predictions: predictions, labelNames: names)
            #expect(metrics.confusion == c["confusion"].array.map(\.ints), "\(name) confusion")
            #expect(metrics.count == labels.count)
            deviation.check(metrics.accuracy, c["accuracy"].double, "\(name) accuracy")
            deviation.check(metrics.balancedAccuracy, c["balanced_accuracy"].double, "\(name) balanced accuracy")
            deviation.check(metrics.adjustedBalancedAccuracy, c["balanced_accuracy_adjusted"].double,
                            "\(name) adjusted balanced accuracy")
            deviation.check(metrics.matthewsCorrelation, c["matthews"].double, "\(name) MCC")
            for (key, weights) in Self.kappaWeights {
                deviation.check(metrics.cohenKappa(weights), c["kappa"][key].double, "\(name) kappa \(key)")
            }
            for (key, zeroDivision) in Self.zeroDivisions {
                let expected = c["zero_division"][key]
                let m = ClassificationMetrics(labels: labels, predictions: predictions, labelNames: names,
                                              zeroDivision: zeroDivision)
                let label = "\(name) zero_division=\(key)"
                #expect(m.support == expected["support"].ints, "\(label) support")
                deviation.check(m.precision, expected["precision"].doubles, "\(label) precision")
                deviation.check(m.recall, expected["recall"].doubles, "\(label) recall")
                deviation.check(m.f1, expected["f1"].doubles, "\(label) f1")
                for (averageKey, average) in Self.averages {
                    let a = expected["averages"][averageKey]
                    deviation.check(m.precision(average), a["precision"].double, "\(label) \(averageKey) precision")
                    deviation.check(m.recall(average), a["recall"].double, "\(label) \(averageKey) recall")
                    deviation.check(m.f1(average), a["f1"].double, "\(label) \(averageKey) f1")
                }
                for digits in [2, 4] {
                    #expect(m.report(digits: digits) == expected["report\(digits)"].string,
                            "\(label) report digits=\(digits)")
                    reports += 1
                }
            }
        }
        print(deviation.summary("classification vs scikit-learn") + "; \(reports) reports identical")
    }

    @Test func keepsItsEarlierAPI() {
        let metrics = ClassificationMetrics(labels: [0, 0, 1, 1, 2], predictions: [0, 1, 1, 1, 1], labelNames: ["a", "b", "c"])
        #expect(metrics.accuracy == 0.6)
        #expect(abs(metrics.f1Macro - 4.0 / 9) < 1e-12)
        #expect(metrics.f1Macro == metrics.f1(.macro) && metrics.f1Weighted == metrics.f1(.weighted))
        #expect(metrics.classesNeverPredicted == [2] && metrics.classesWithoutSupport == [])
        #expect(metrics.zeroDivision == .warn)
        #expect(metrics == ClassificationMetrics(confusion: [[1, 1, 0], [0, 2, 0], [0, 1, 0]], labelNames: ["a", "b", "c"]))
    }

    /// scikit-learn refuses empty input; Finch returns these values instead of stopping a training run.
    @Test func emptyInput() {
        let metrics = ClassificationMetrics(labels: [], predictions: [], labelNames: ["a", "b"])
        #expect(metrics.count == 0 && metrics.accuracy == 0)
        #expect(metrics.precision == [0, 0] && metrics.recall == [0, 0] && metrics.f1 == [0, 0])
        #expect(metrics.f1(.micro) == 0 && metrics.f1(.macro) == 0 && metrics.f1(.weighted) == 0)
        #expect(metrics.cohenKappa().isNaN && metrics.balancedAccuracy.isNaN && metrics.matthewsCorrelation == 0)
        let nan = ClassificationMetrics(labels: [], predictions: [], labelNames: ["a", "b"], zeroDivision: .nan)
        #expect(nan.f1(.macro).isNaN && nan.f1(.weighted).isNaN && nan.f1(.micro).isNaN)
        #expect(metrics.report().hasSuffix("    accuracy                           0.00       0.0\n"
                                           + "   macro avg       0.00      0.00      0.00       0.0\n"
                                           + "weighted avg       0.00      0.00      0.00       0.0\n"))
    }
}
