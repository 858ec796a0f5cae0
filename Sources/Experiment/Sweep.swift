import Foundation
import FinchData
import FinchModels
import FinchOptim
import FinchPEFT
import FinchQuantization
import FinchTensor
import FinchTokenizers

/// One value a sweep tries for an option: a number or a word.
public enum SweepValue: Sendable, Hashable, CustomStringConvertible,
                        ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral {
    case number(Double)
    case word(String)

    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .word(value) }

    /// Whole numbers without a decimal point (`8`, not `8.0`), other numbers as Swift prints them, words as they are.
    public var description: String {
        switch self {
        case .number(let value) where value == value.rounded() && abs(value) < 1e15: String(Int64(value))
        case .number(let value): "\(value)"
        case .word(let word): word
        }
    }

    /// The number, or an error naming the option.
    func number(for name: String) throws -> Double {
        guard case .number(let value) = self else { throw TrainingError("\(name) must be a number, got \"\(self)\"") }
        return value
    }

    /// The number as an integer, or an error naming the option.
    func integer(for name: String) throws -> Int {
        let value = try number(for: name)
        guard value == value.rounded(), abs(value) < 1e15 else { throw TrainingError("\(name) must be a whole number, got \(self)") }
        return Int(value)
    }

    /// The word, or an error naming the option.
    func word(for name: String) throws -> String {
        guard case .word(let word) = self else { throw TrainingError("\(name) must be a word, got \(self)") }
        return word
    }

    /// `true`/`false` or `1`/`0`, or an error naming the option.
    func flag(for name: String) throws -> Bool {
        switch self {
        case .word("true"), .number(1): return true
        case .word("false"), .number(0): return false
        default: throw TrainingError("\(name) must be true or false, got \(self)")
        }
    }
}

/// The option values of one trial, by option name (`lr`, `batch`, `r`, …).
public struct TrialConfiguration: Sendable, Hashable, CustomStringConvertible, ExpressibleByDictionaryLiteral {
    public var values: [String: SweepValue]

    public init(_ values: [String: SweepValue]) { self.values = values }
    public init(dictionaryLiteral elements: (String, SweepValue)...) { values = Dictionary(uniqueKeysWithValues: elements) }

    public subscript(name: String) -> SweepValue? { values[name] }

    /// `name=value` pairs, names sorted, e.g. `batch=8 lr=0.001`.
    public var description: String {
        values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}


/// Runs one trial: builds a fresh model for the configuration, trains it and returns its validation metrics.
public typealias TrialRunner = (TrialConfiguration) throws -> ValidationMetrics

/// Runs one trial on the given training and validation rows (what cross-validation calls once per fold).
public typealias FoldTrialRunner = (_ configuration: TrialConfiguration, _ train: LabeledTexts, _ validation: LabeledTexts) throws -> ValidationMetrics

/// Ready-made trials: a fresh classifier from a model folder, LoRA or not, trained with `ClassifierTrainer`
/// and evaluated on the validation rows.
public enum ClassifierTrial {
    /// The option names a trial configuration may set, as the language spells them.
    public static let optionNames = ["alpha", "batch", "dropout", "epochs", "lr", "max_length", "max_steps", "r",
                                     "rslora", "schedule", "seed", "targets", "warmup", "weight_decay"]

    /// Applies a configuration's values, in name order, to the options and the LoRA setup.
    ///
    /// `lr`, `batch`, `epochs` (clears a base `max_steps`), `max_steps`, `warmup` (≥ 1 steps, else a ratio, as
    /// transformers' `warmup_steps`), `weight_decay`, `schedule` (a schedule name), `seed` and `max_length` set
    /// `TrainingOptions`; `r`, `alpha`, `dropout`, `targets` (`all-linear` or comma-separated module names) and
    /// `rslora` (true/false) set the LoRA setup, starting from `LoRAConfiguration()` when there is none.
    /// An unknown name is an error listing the valid ones.
    public static func apply(_ configuration: TrialConfiguration, to options: inout TrainingOptions,
                             lora: inout LoRAConfiguration?) throws {
        for (name, value) in configuration.values.sorted(by: { $0.key < $1.key }) {
            switch name {
            case "lr": options.learningRate = try value.number(for: name)
            case "batch": options.batchSize = try value.integer(for: name)
            case "epochs":
                options.epochs = try value.integer(for: name)
                options.maxSteps = nil
            case "max_steps": options.maxSteps = try value.integer(for: name)
            case "warmup": options.warmup = try LearningRateSchedule.Warmup(trainerValue: value.number(for: name))
            case "weight_decay": options.weightDecay = try value.number(for: name)
            case "schedule": options.schedule = try LearningRateSchedule.Kind(name: value.word(for: name))
            case "seed":
                let seed = try value.integer(for: name)
                guard seed >= 0 else { throw TrainingError("seed must be ≥ 0, got \(seed)") }
                options.seed = UInt64(seed)
            case "max_length": options.maxLength = try value.integer(for: name)
            case "r", "alpha", "dropout", "targets", "rslora":
                var setup = lora ?? LoRAConfiguration()
                switch name {
                case "r": setup.rank = try value.integer(for: name)
                case "alpha": setup.alpha = Float(try value.number(for: name))
                case "dropout": setup.dropout = Float(try value.number(for: name))
                case "targets":
                    let word = try value.word(for: name)
                    setup.targets = word == "all-linear" ? .allLinear : .modules(word.split(separator: ",").map(String.init))
                default: setup.rankStabilized = try value.flag(for: name)
                }
                lora = setup
            default:
                throw TrainingError("unknown sweep option \"\(name)\"; the options are \(optionNames.joined(separator: ", "))")
            }
        }
    }

    /// A trial on fixed training and validation rows; see `make(modelFolder:tokenizer:baseOptions:baseLoRA:withoutLoRA:)`.
    public static func make(modelFolder: URL, tokenizer: any Tokenizer, train: LabeledTexts, validation: LabeledTexts,
                            baseOptions: TrainingOptions = TrainingOptions(), baseLoRA: LoRAConfiguration? = nil,
                            baseQuantization: FourBitFormat? = nil, withoutLoRA: BaseTraining = .full,
                            precision: FrozenPrecision = .fp32, cancellation: CancellationToken? = nil) -> TrialRunner {
        let run = make(modelFolder: modelFolder, tokenizer: tokenizer, baseOptions: baseOptions, baseLoRA: baseLoRA,
                       baseQuantization: baseQuantization, withoutLoRA: withoutLoRA, precision: precision, cancellation: cancellation)
        return { configuration in try run(configuration, train, validation) }
    }

    /// A trial on whatever rows it is given: applies the configuration to `baseOptions` and `baseLoRA`
    /// (see `apply`), loads the model with a fresh head for the training labels (seeded by `seed`), attaches
    /// LoRA (same seed) when there is a LoRA setup, else trains the `withoutLoRA` parameters, then evaluates
    /// the final weights (the best ones when `eval_every` and keep-the-best are on) on the validation rows.
    /// The validation rows go to the trainer only when `evalEvery` is set, for early stopping and keep-the-best.
    /// With `baseQuantization` (QLoRA) the LoRA targets' base weights are held in 4 bits first.
    /// A cancelled `cancellation` stops the trial's training within a step and the trial throws "interrupted".
    /// Frozen weights compute in `precision`.
    public static func make(modelFolder: URL, tokenizer: any Tokenizer, baseOptions: TrainingOptions = TrainingOptions(),
                            baseLoRA: LoRAConfiguration? = nil, baseQuantization: FourBitFormat? = nil,
                            withoutLoRA: BaseTraining = .full, precision: FrozenPrecision = .fp32,
                            cancellation: CancellationToken? = nil) -> FoldTrialRunner {
        { configuration, train, validation in
            var options = baseOptions, lora = baseLoRA
            try apply(configuration, to: &options, lora: &lora)
            let encoder = try EncoderLoader.load(folder: modelFolder, task: .classify(labels: train.labelNames.count, seed: options.seed))
            try encoder.setFrozenPrecision(precision)
            if let lora, let baseQuantization { _ = try QLoRA.quantize(encoder, targets: lora.targets, format: baseQuantization) }
            let adapters = try lora.map { try LoRAModel(encoder: encoder, configuration: $0, seed: options.seed) }
            let trainer = try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer,
                                                parameters: adapters?.trainableParameters() ?? encoder.prepareTraining(withoutLoRA),
                                                adapters: adapters, options: options)
            trainer.cancellation = cancellation
            try trainer.train(train, validation: options.evalEvery == nil ? nil : validation)
            if cancellation?.isCancelled == true { throw TrainingError("interrupted") }
            let predictions = try predict(validation.texts, encoder: encoder, tokenizer: tokenizer, maxLength: options.maxLength)
            return ValidationMetrics(labels: validation.labels, predictions: predictions, labelNames: validation.labelNames)
        }
    }
}

/// A hyperparameter search over a discrete grid: every point, a seeded random sample, or a small TPE search.
public struct Sweep: Sendable {
    /// How the trials are chosen.
    public enum Method: Sendable, Equatable {
        /// Every grid point, in grid order.
        case grid
        /// `trials` distinct grid points (all of them when the grid is smaller), drawn with a seeded shuffle.
        case random(trials: Int, seed: UInt64)
        /// Tree-structured Parzen Estimator-style search over the grid: the first max(3, trials/4) trials are
        /// the random method's; each later one is the untried grid point with the largest l(x)/g(x), where l
        /// and g are products over the options of per-value frequencies among the best 25% of the trials so
        /// far (at least one) and among the rest, each smoothed by one pseudo-count per value
        /// ((count + 1) / (trials + values)). Ties go to the earlier grid point, so a seed fixes the search.
        case tpe(trials: Int, seed: UInt64)
    }

    /// The values to try per option name.
    public let space: [String: [SweepValue]]
    public let method: Method
    /// The metric that ranks trials (loss: lower is better; others: higher).
    public let metric: TrainingOptions.BestMetric
    /// Every grid point: the cartesian product with the option names sorted (the last varying fastest) and
    /// each option's values in the given order.
    public let grid: [TrialConfiguration]
    /// Per grid point, the index of each option's value (options in sorted name order).
    private let coordinates: [[Int]]

    /// Checks the space: at least one option, each with at least one value and no value twice, and at least one trial.
    public init(space: [String: [SweepValue]], method: Method = .grid, metric: TrainingOptions.BestMetric = .f1Macro) throws {
        guard !space.isEmpty else { throw TrainingError("the search space is empty; give at least one option and its values") }
        let names = space.keys.sorted()
        for name in names {
            let values = space[name]!
            guard !values.isEmpty else { throw TrainingError("\(name) has no values to try") }
            if let repeated = values.first(where: { value in values.filter { $0 == value }.count > 1 }) {
                throw TrainingError("\(name) lists \(repeated) more than once")
            }
        }
        switch method {
        case .grid: break
        case .random(let trials, _), .tpe(let trials, _):
            guard trials >= 1 else { throw TrainingError("a sweep needs at least 1 trial, got \(trials)") }
        }
        var coordinates: [[Int]] = [[]]
        for name in names {
            coordinates = coordinates.flatMap { point in space[name]!.indices.map { point + [$0] } }
        }
        self.space = space
        self.method = method
        self.metric = metric
        self.coordinates = coordinates
        grid = coordinates.map { point in
            TrialConfiguration(Dictionary(uniqueKeysWithValues: zip(names, point).map { ($0, space[$0]![$1]) }))
        }
    }

    /// How many trials the sweep runs when not stopped.
    public var trialCount: Int {
        switch method {
        case .grid: grid.count
        case .random(let trials, _), .tpe(let trials, _): min(trials, grid.count)
        }
    }

    /// Runs the trials one after another; `progress` hears each finished trial and may stop the sweep.
    /// A trial that throws ends the sweep with an error naming the trial and its configuration.
    public func run(_ trial: TrialRunner, progress: (SweepTrial) -> TrainingDecision = { _ in .proceed }) throws -> SweepResult {
        var order = Array(grid.indices)
        switch method {
        case .grid: break
        case .random(_, let seed), .tpe(_, let seed):
            var random = SeededRandom(seed: seed)
            random.shuffle(&order)
        }
        let startup: Int
        if case .tpe(let trials, _) = method { startup = max(3, trials / 4) } else { startup = trialCount }
        var done: [(point: Int, trial: SweepTrial)] = []
        var stopped = false
        while done.count < trialCount, !stopped {
            let tried = Set(done.map(\.point))
            let point = done.count < startup
                ? order.first { !tried.contains($0) }!
                : nextTPEPoint(after: done.map { ($0.point, $0.trial.result.value(of: metric)) }, tried: tried)
            let configuration = grid[point]
            let started = DispatchTime.now().uptimeNanoseconds
            let result: ValidationMetrics
            do {
                result = try trial(configuration)
            } catch {
                throw TrainingError("trial \(done.count + 1) (\(configuration)): \(error)")
            }
            let record = SweepTrial(number: done.count + 1, configuration: configuration, result: result,
                                    seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            done.append((point, record))
            stopped = progress(record) == .stop && done.count < trialCount
        }
        return SweepResult(metric: metric, trials: done.map(\.trial), stopped: stopped)
    }

    /// The untried grid point with the largest TPE score log l(x) − log g(x) (see `Method.tpe`).
    private func nextTPEPoint(after observed: [(point: Int, value: Double)], tried: Set<Int>) -> Int {
        let ranked = observed.enumerated().sorted { a, b in
            a.element.value == b.element.value ? a.offset < b.offset : metric.higherIsBetter == (a.element.value > b.element.value)
        }.map(\.element.point)
        let goodCount = max(1, Int((0.25 * Double(ranked.count)).rounded(.up)))
        let sizes = space.keys.sorted().map { space[$0]!.count }
        var good = sizes.map { [Double](repeating: 0, count: $0) }, bad = good
        for (rank, point) in ranked.enumerated() {
            for (dimension, value) in coordinates[point].enumerated() {
                if rank < goodCount { good[dimension][value] += 1 } else { bad[dimension][value] += 1 }
            }
        }
        let badCount = Double(ranked.count - goodCount)
        func score(_ point: Int) -> Double {
            coordinates[point].enumerated().reduce(0) { total, entry in
                let (dimension, value) = entry, k = Double(sizes[dimension])
                return total + log((good[dimension][value] + 1) / (Double(goodCount) + k))
                    - log((bad[dimension][value] + 1) / (badCount + k))
            }
        }
        var best: (point: Int, score: Double)?
        for point in grid.indices where !tried.contains(point) {
            let s = score(point)
            if best == nil || s > best!.score { best = (point, s) }
        }
        return best!.point
    }
}

/// One finished trial of a sweep.
public struct SweepTrial: Sendable, Equatable {
    /// 1-based, in the order the trials ran.
    public let number: Int
    public let configuration: TrialConfiguration
    public let result: ValidationMetrics
    public let seconds: Double
}

/// The trials of a sweep, best first.
public struct SweepResult: Sendable, CustomStringConvertible {
    /// The metric the trials are ranked by.
    public let metric: TrainingOptions.BestMetric
    /// Every finished trial, best first by `metric` (ties: the earlier trial first).
    public let trials: [SweepTrial]
    /// Whether the progress callback stopped the sweep before its last trial.
    public let stopped: Bool

    init(metric: TrainingOptions.BestMetric, trials: [SweepTrial], stopped: Bool) {
        self.metric = metric
        self.stopped = stopped
        self.trials = trials.sorted { a, b in
            let x = a.result.value(of: metric), y = b.result.value(of: metric)
            return x == y ? a.number < b.number : metric.higherIsBetter == (x > y)
        }
    }

    /// The best trial (nil when none finished).
    public var best: SweepTrial? { trials.first }

    /// One line per trial, best first: rank, metrics, seconds and configuration.
    public var description: String {
        trials.enumerated().map { rank, trial in
            let r = trial.result
            return String(format: "%2d. #%d  acc %.4f  f1_macro %.4f  f1_weighted %.4f  loss %.4f  %.1fs  ", rank + 1, trial.number,
                          r.accuracy, r.f1Macro, r.f1Weighted, r.loss, trial.seconds) + trial.configuration.description
        }.joined(separator: "\n")
    }
}
