import Foundation
import Testing
@testable import FinchExperiment
import FinchData
import FinchOptim
import FinchPEFT
import FinchTokenizers
import TestSupport

/// The smallRun rows and model folder, split 16 / 8, with tiny training options.
private func realFixture() throws -> (URL, any Tokenizer, LabeledTexts, TrainingOptions) {
    let folder = try TestPaths.model("all-MiniLM-L6-v2")
    let table = try Table.read(TestPaths.data.appendingPathComponent("sst2/dev.tsv"))
    let data = try LabeledTexts(table: table, text: "content", label: "label").subset(Array(0..<24))
    var options = TrainingOptions()
    options.maxSteps = 2
    options.batchSize = 8
    options.maxLength = 32
    options.learningRate = 1e-3
    return (folder, try AutoTokenizer.load(from: folder), data, options)
}

/// A result whose every metric is `value` (loss: 1 − value).
private func scripted(_ value: Double) -> ValidationMetrics {
    ValidationMetrics(loss: 1 - value, accuracy: value, f1Macro: value, f1Weighted: value)
}

private let space: [String: [SweepValue]] = ["lr": [1e-3, 2e-3, 5e-3], "batch": [8, 16], "schedule": ["linear", "cosine"]]

/// The configurations a sweep runs, in run order (stub trials, every metric from `score`).
private func ranConfigurations(_ sweep: Sweep, score: (TrialConfiguration) -> Double = { _ in 0.5 }) throws -> [TrialConfiguration] {
    var ran: [TrialConfiguration] = []
    _ = try sweep.run { configuration in
        ran.append(configuration)
        return scripted(score(configuration))
    }
    return ran
}

@Suite struct SweepTests {
    @Test func gridIsTheSortedCartesianProduct() throws {
        let sweep = try Sweep(space: space)
        #expect(sweep.grid.count == 12 && sweep.trialCount == 12)
        #expect(sweep.grid.prefix(3).map(\.description) == [
            "batch=8 lr=0.001 schedule=linear", "batch=8 lr=0.001 schedule=cosine", "batch=8 lr=0.002 schedule=linear"])
        #expect(sweep.grid.last?.description == "batch=16 lr=0.005 schedule=cosine")
        #expect(Set(sweep.grid).count == 12)
        #expect(try ranConfigurations(sweep) == sweep.grid)
    }

    @Test func randomIsSeededAndWithoutReplacement() throws {
        let grid = Set(try Sweep(space: space).grid)
        let first = try ranConfigurations(Sweep(space: space, method: .random(trials: 5, seed: 7)))
        #expect(first.count == 5 && Set(first).count == 5)
        #expect(Set(first).isSubset(of: grid))
        #expect(try ranConfigurations(Sweep(space: space, method: .random(trials: 5, seed: 7))) == first)
        #expect(try ranConfigurations(Sweep(space: space, method: .random(trials: 5, seed: 8))) != first)
        let all = try ranConfigurations(Sweep(space: space, method: .random(trials: 50, seed: 7)))
        #expect(all.count == 12 && Set(all) == grid)
    }

    @Test func tpeIsDeterministicAndProposesOnlyUntriedGridPoints() throws {
        let wide: [String: [SweepValue]] = ["lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], "r": [2, 4, 8, 16], "dropout": [0, 0.1]]
        // Best at lr=1e-3, r=8, dropout=0.1; worse the further away.
        func score(_ c: TrialConfiguration) -> Double {
            guard case .number(let lr) = c["lr"]!, case .number(let r) = c["r"]!, case .number(let dropout) = c["dropout"]! else { return 0 }
            return 1 - abs(log10(lr) + 3) / 4 - abs(log2(r) - 3) / 8 - (dropout == 0.1 ? 0 : 0.1)
        }
        let sweep = try Sweep(space: wide, method: .tpe(trials: 12, seed: 5))
        let ran = try ranConfigurations(sweep, score: score)
        #expect(ran.count == 12 && Set(ran).count == 12)
        #expect(Set(ran).isSubset(of: Set(sweep.grid)))
        #expect(try ranConfigurations(Sweep(space: wide, method: .tpe(trials: 12, seed: 5)), score: score) == ran)
        // The first max(3, 12/4) = 3 trials are the random method's.
        let random = try ranConfigurations(Sweep(space: wide, method: .random(trials: 3, seed: 5)), score: score)
        #expect(Array(ran.prefix(3)) == random)
        #expect(try ranConfigurations(Sweep(space: wide, method: .tpe(trials: 12, seed: 6)), score: score) != ran)
    }

    @Test func resultsAreRankedByTheMetricAndTheCallbackCanStop() throws {
        let scores: [SweepValue: Double] = [1e-3: 0.6, 2e-3: 0.9, 5e-3: 0.6]
        let sweep = try Sweep(space: ["lr": [1e-3, 2e-3, 5e-3]])
        let result = try sweep.run { scripted(scores[$0["lr"]!]!) }
        #expect(result.trials.map(\.number) == [2, 1, 3])  // ties keep run order
        #expect(result.best?.configuration == ["lr": 2e-3] && result.best?.result.f1Macro == 0.9)
        #expect(!result.stopped && result.trials.allSatisfy { $0.seconds >= 0 })

        let byLoss = try Sweep(space: ["lr": [1e-3, 2e-3, 5e-3]], metric: .loss)
        let lossResult = try byLoss.run { ValidationMetrics(loss: scores[$0["lr"]!]!, accuracy: 0, f1Macro: 0, f1Weighted: 0) }
        #expect(lossResult.trials.map(\.number) == [1, 3, 2] && lossResult.best?.result.loss == 0.6)

        var heard = 0
        let stopped = try sweep.run({ scripted(scores[$0["lr"]!]!) }) { _ in
            heard += 1
            return heard == 2 ? .stop : .proceed
        }
        #expect(stopped.stopped && stopped.trials.count == 2 && stopped.best?.number == 2)
    }

    @Test func badSpacesAndFailingTrialsAreNamed() throws {
        #expect(throws: TrainingError("the search space is empty; give at least one option and its values")) { try Sweep(space: [:]) }
        #expect(throws: TrainingError("lr has no values to try")) { try Sweep(space: ["lr": []]) }
        #expect(throws: TrainingError("r lists 4 more than once")) { try Sweep(space: ["r": [4, 8, 4]]) }
        #expect(throws: TrainingError("a sweep needs at least 1 trial, got 0")) { try Sweep(space: ["r": [4]], method: .tpe(trials: 0, seed: 1)) }
        let sweep = try Sweep(space: ["batch": [8, 16]])
        #expect(throws: TrainingError("trial 2 (batch=16): boom")) {
            try sweep.run { if $0["batch"] == 16 { throw TrainingError("boom") }; return scripted(0.5) }
        }
    }

    @Test func trialValuesApplyByTheirNames() throws {
        var options = TrainingOptions(), lora: LoRAConfiguration?
        options.maxSteps = 9
        try ClassifierTrial.apply(["lr": 3e-4, "batch": 8, "epochs": 2, "warmup": 0.1, "weight_decay": 0, "schedule": "cosine",
                                   "seed": 7, "max_length": 64, "r": 4, "alpha": 8, "dropout": 0.1, "targets": "all-linear",
                                   "rslora": "true"], to: &options, lora: &lora)
        #expect(options.learningRate == 3e-4 && options.batchSize == 8 && options.epochs == 2 && options.maxSteps == nil)
        #expect(options.warmup == .ratio(0.1) && options.weightDecay == 0 && options.schedule == .cosine() && options.seed == 7)
        #expect(options.maxLength == 64)
        #expect(lora == LoRAConfiguration(rank: 4, alpha: 8, dropout: 0.1, targets: .allLinear, rankStabilized: true))
        try ClassifierTrial.apply(["epochs": 1, "max_steps": 2, "warmup": 5, "targets": "q_lin,v_lin"], to: &options, lora: &lora)
        #expect(options.maxSteps == 2 && options.warmup == .steps(5) && lora?.targets == .modules(["q_lin", "v_lin"]))

        #expect(throws: TrainingError("unknown sweep option \"learning_rate\"; the options are alpha, batch, dropout, epochs, lr, max_length, max_steps, r, rslora, schedule, seed, targets, warmup, weight_decay")) {
            try ClassifierTrial.apply(["learning_rate": 1e-3], to: &options, lora: &lora)
        }
        #expect(throws: TrainingError("batch must be a whole number, got 8.5")) { try ClassifierTrial.apply(["batch": 8.5], to: &options, lora: &lora) }
        #expect(throws: TrainingError("lr must be a number, got \"fast\"")) { try ClassifierTrial.apply(["lr": "fast"], to: &options, lora: &lora) }
        #expect(throws: TrainingError("schedule must be a word, got 3")) { try ClassifierTrial.apply(["schedule": 3], to: &options, lora: &lora) }
    }

    @Test func aRealSweepOfTwoTrials() throws {
        let (folder, tokenizer, data, options) = try realFixture()
        let trial = ClassifierTrial.make(modelFolder: folder, tokenizer: tokenizer, train: data.subset(Array(0..<16)),
                                         validation: data.subset(Array(16..<24)), baseOptions: options,
                                         baseLoRA: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0.1))
        let result = try Sweep(space: ["lr": [1e-3, 5e-3]], method: .random(trials: 2, seed: 1)).run(trial)
        #expect(result.trials.count == 2 && Set(result.trials.map(\.configuration)).count == 2)
        for t in result.trials {
            let r = t.result
            #expect((0...1).contains(r.accuracy) && (0...1).contains(r.f1Macro) && (0...1).contains(r.f1Weighted))
            #expect(r.loss.isFinite && r.loss > 0 && t.seconds > 0)
            #expect(abs(r.accuracy * 8 - (r.accuracy * 8).rounded()) < 1e-9)  // a whole number of the 8 rows
        }
        #expect(result.trials[0].result.f1Macro >= result.trials[1].result.f1Macro && result.best == result.trials[0])
    }
}

extension SweepTests {
    /// Nested so that `--filter SweepTests` runs these too.
    @Suite struct CrossValidationTests {
        /// 23 rows of 3 classes: 10 × a, 8 × b, 5 × c, interleaved.
        let data: LabeledTexts = {
            let labels = (0..<10).map { _ in 0 } + (0..<8).map { _ in 1 } + (0..<5).map { _ in 2 }
            let order = Array(0..<23).sorted { ($0 * 7) % 23 < ($1 * 7) % 23 }
            return LabeledTexts(texts: order.map { "row \($0)" }, labels: order.map { labels[$0] }, labelNames: ["a", "b", "c"])
        }()

        @Test func stratifiedFoldsPartitionTheRowsAndKeepProportions() throws {
            let folds = try CrossValidation(folds: 4, seed: 3).splits(data)
            #expect(folds.count == 4)
            #expect(folds.flatMap(\.validation).sorted() == Array(0..<23))
            for fold in folds {
                #expect(fold.train == Array(0..<23).filter { !fold.validation.contains($0) })
                #expect(fold.validation == fold.validation.sorted())
                for (label, total) in [(0, 10), (1, 8), (2, 5)] {
                    let count = fold.validation.filter { data.labels[$0] == label }.count
                    #expect(abs(Double(count) - Double(total) / 4) < 1, "class \(label): \(count) of \(total)")
                }
            }
            let sizes = folds.map(\.validation.count)
            #expect(sizes.max()! - sizes.min()! <= 1)
            #expect(try CrossValidation(folds: 4, seed: 3).splits(data) == folds)
            #expect(try CrossValidation(folds: 4, seed: 4).splits(data) != folds)
        }

        @Test func plainFoldsAreShuffledConsecutiveCuts() throws {
            let folds = try CrossValidation(folds: 5, splitting: .plain, seed: 3).splits(data)
            #expect(folds.map(\.validation.count) == [5, 5, 5, 4, 4])
            #expect(folds.flatMap(\.validation).sorted() == Array(0..<23))
            #expect(folds[0].validation != Array(0..<5))
            #expect(try CrossValidation(folds: 5, splitting: .plain, seed: 3).splits(data) == folds)
        }

        @Test func meanAndSampleStandardDeviation() throws {
            let accuracies = [0.6, 0.7, 0.9, 0.8]
            var seen: [(Int, Int)] = []
            let report = try CrossValidation(folds: 4).run(data, configuration: ["lr": 1e-3]) { configuration, train, validation in
                #expect(configuration == ["lr": 1e-3] && train.labelNames == ["a", "b", "c"])
                seen.append((train.count, validation.count))
                return ValidationMetrics(loss: 1, accuracy: accuracies[seen.count - 1], f1Macro: 0.5, f1Weighted: Double(seen.count))
            }
            #expect(seen.allSatisfy { $0.0 + $0.1 == 23 } && report.folds.map(\.fold) == [1, 2, 3, 4])
            let accuracy = report.summary(of: .accuracy)
            #expect(abs(accuracy.mean - 0.75) < 1e-12)
            #expect(abs(accuracy.standardDeviation - 0.12909944487358055) < 1e-12)  // statistics.stdev([.6, .7, .9, .8])
            #expect(report.summary(of: .f1Macro) == MetricSummary(mean: 0.5, standardDeviation: 0))
            #expect(abs(report.summary(of: .f1Weighted).standardDeviation - 1.2909944487358056) < 1e-12)  // stdev([1, 2, 3, 4])
            #expect(abs(report.mean.accuracy - 0.75) < 1e-12 && report.mean.loss == 1)
            #expect(report.description.hasSuffix("loss 1.0000 ± 0.0000  accuracy 0.7500 ± 0.1291  f1_macro 0.5000 ± 0.0000  f1_weighted 2.5000 ± 1.2910"))
        }

        @Test func impossibleSplitsAreNamed() throws {
            #expect(throws: TrainingError("k-fold cross-validation needs k ≥ 2 folds, got 1")) { try CrossValidation(folds: 1).splits(data) }
            #expect(throws: TrainingError("k = 24 folds but only 23 rows; every fold needs at least one row")) {
                try CrossValidation(folds: 24, splitting: .plain).splits(data)
            }
            #expect(throws: TrainingError("class \"c\" has only 5 rows, fewer than k = 6 folds; lower k or use plain k-fold")) {
                try CrossValidation(folds: 6).splits(data)
            }
            #expect(try CrossValidation(folds: 6, splitting: .plain).splits(data).count == 6)
            #expect(throws: TrainingError("fold 1 of 2: boom")) {
                try CrossValidation(folds: 2).run(data) { _, _, _ in throw TrainingError("boom") }
            }
        }

        @Test func aRealTwoFoldRun() throws {
            let (folder, tokenizer, data, options) = try realFixture()
            let trial = ClassifierTrial.make(modelFolder: folder, tokenizer: tokenizer, baseOptions: options,
                                             baseLoRA: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0.1))
            let report = try CrossValidation(folds: 2, seed: 1).run(data, configuration: ["lr": 1e-3], trial: trial)
            #expect(report.folds.allSatisfy { $0.trainRows + $0.validationRows == 24 } && report.folds.map(\.validationRows).reduce(0, +) == 24)
            for fold in report.folds {
                #expect((0...1).contains(fold.result.accuracy) && fold.result.loss.isFinite && fold.result.loss > 0)
            }
            let accuracy = report.summary(of: .accuracy)
            let values = report.folds.map(\.result.accuracy)
            #expect(abs(accuracy.mean - (values[0] + values[1]) / 2) < 1e-12)
            #expect(abs(accuracy.standardDeviation - abs(values[0] - values[1]) / 2.0.squareRoot()) < 1e-12)
        }
    }
}
