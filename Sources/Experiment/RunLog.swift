import Foundation
import FinchCheckpoint
import FinchData
import FinchTensor

/// One recorded run: what was trained and how (every option as the language names it), on what
/// data, with which seed and versions, and what came out.
public struct RunRecord: Sendable, Codable, Equatable {
    public var id: Int
    /// "train", "eval", "sweep", "cv", …
    public var kind: String
    /// ISO 8601 start time (UTC).
    public var started: String
    public var seconds: Double
    public var model: String
    /// Option name → value, e.g. "method": "lora", "r": "16", "lr": "0.0002".
    public var configuration: [String: String]
    /// "rows · hash" of the training data.
    public var data: String
    public var seed: UInt64
    /// Component → version, e.g. "finch", "swift".
    public var versions: [String: String]
    /// Metric name → value, snake_case as the language prints them (accuracy, f1_macro, loss, …).
    public var metrics: [String: Double]
    public var losses: [Double]

    public init(id: Int = 0, kind: String, started: Date = Date(), seconds: Double, model: String,
                configuration: [String: String], data: String, seed: UInt64, metrics: [String: Double], losses: [Double] = []) {
        self.id = id
        self.kind = kind
        self.started = ISO8601DateFormatter().string(from: started)
        self.seconds = seconds
        self.model = model
        self.configuration = configuration
        self.data = data
        self.seed = seed
        self.versions = RunLog.versions
        self.metrics = metrics
        self.losses = losses
    }
}

/// The metrics session's record of every run, for comparing them side by side. Saved as JSON
/// (atomically) so a session's runs outlive it.
public final class RunLog: @unchecked Sendable {
    public private(set) var runs: [RunRecord] = []

    /// Versions recorded with every run: Finch's, the compiler's that built it, and the BLAS kernels'.
    public static let versions: [String: String] = ["finch": "0.1.0", "swift": compilerVersion, "openblas_core": Threads.coreName]

    private static var compilerVersion: String {
        #if compiler(>=6.4)
        "≥ 6.4"
        #elseif compiler(>=6.3)
        "6.3"
        #elseif compiler(>=6.2)
        "6.2"
        #else
        "< 6.2"
        #endif
    }

    public init() {}

    /// Adds a run (numbering it) and returns it as recorded.
    @discardableResult
    public func record(_ run: RunRecord) -> RunRecord {
        var numbered = run
        numbered.id = (runs.last?.id ?? 0) + 1
        runs.append(numbered)
        return numbered
    }

    public func removeAll() { runs.removeAll() }

    /// Records every trial of a sweep as a run of kind "sweep", with the trial's options over `base`.
    @discardableResult
    public func record(_ sweep: SweepResult, model: String, base: [String: String], data: String, seed: UInt64) -> [RunRecord] {
        sweep.trials.sorted { $0.number < $1.number }.map { trial in
            var configuration = base
            for (name, value) in trial.configuration.values { configuration[name] = value.description }
            return record(RunRecord(kind: "sweep", seconds: trial.seconds, model: model, configuration: configuration, data: data,
                                    seed: seed, metrics: trial.result.byName))
        }
    }

    /// The runs as a table: id, kind, model, the options whose values differ between runs (those that
    /// are the same everywhere say nothing), then the metrics any run has.
    public func table(metrics wanted: [String] = ["accuracy", "f1_macro", "loss"]) -> (columns: [String], rows: [[String]]) {
        let keys = Set(runs.flatMap { $0.configuration.keys }).sorted()
        let differing = keys.filter { key in Set(runs.map { $0.configuration[key] ?? "—" }).count > 1 }
        let metricNames = wanted.filter { name in runs.contains { $0.metrics[name] != nil } }
        let columns = ["run", "kind", "model"] + differing + metricNames
        let rows = runs.map { run in
            ["\(run.id)", run.kind, run.model] + differing.map { run.configuration[$0] ?? "—" }
                + metricNames.map { run.metrics[$0].map { String(format: "%.4f", $0) } ?? "—" }
        }
        return (columns, rows)
    }

    /// The table as aligned plain text.
    public func text() -> String {
        let (columns, rows) = table()
        guard !rows.isEmpty else { return "no runs yet" }
        let widths = columns.indices.map { c in ([columns[c]] + rows.map { $0[c] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        return ([line(columns)] + rows.map(line)).joined(separator: "\n")
    }

    /// Writes the runs as JSON to `url` (atomically; a failure names the path and leaves the previous file).
    public func save(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(runs), to: url)
    }

    public func load(from url: URL) throws {
        do {
            runs = try JSONDecoder().decode([RunRecord].self, from: Data(contentsOf: url))
        } catch {
            throw DataError(url.path, "not a Finch run log (\(error.localizedDescription))")
        }
    }
}

/// A prediction that went wrong, with how wrong.
public struct PredictionError: Sendable, Equatable {
    public let row: Int
    public let text: String
    public let label: String
    public let predicted: String
    /// Probability the model gave the true label.
    public let probabilityOfLabel: Float
    /// −log of that probability: the example's loss.
    public let loss: Double
}

/// The `n` examples with the highest loss (the model most confidently wrong first).
public func worstPredictions(_ data: LabeledTexts, _ predictions: ClassifierPredictions, count n: Int) -> [PredictionError] {
    let scored = data.labels.indices.map { row -> PredictionError in
        let p = predictions.probabilities[row][data.labels[row]]
        return PredictionError(row: row, text: data.texts[row], label: data.labelNames[data.labels[row]],
                               predicted: data.labelNames[predictions.labels[row]], probabilityOfLabel: p,
                               loss: -log(Double(max(p, .leastNormalMagnitude))))
    }
    return Array(scored.sorted { $0.loss != $1.loss ? $0.loss > $1.loss : $0.row < $1.row }.prefix(n))
}
