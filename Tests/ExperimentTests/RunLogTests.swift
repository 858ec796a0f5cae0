import Foundation
import Testing
@testable import FinchExperiment
import FinchData

@Suite struct RunLogTests {
    func run(_ r: String, lr: String, f1: Double) -> RunRecord {
        RunRecord(kind: "train", seconds: 1, model: "minilm", configuration: ["method": "lora", "r": r, "lr": lr, "batch": "16"],
                  data: "24 rows · abc", seed: 42, metrics: ["f1_macro": f1, "accuracy": f1 + 0.1])
    }

    @Test func tableShowsOnlyTheOptionsThatDiffer() throws {
        let log = RunLog()
        log.record(run("8", lr: "0.0002", f1: 0.5))
        log.record(run("16", lr: "0.0002", f1: 0.61234))
        let (columns, rows) = log.table()
        #expect(columns == ["run", "kind", "model", "r", "accuracy", "f1_macro"])
        #expect(rows == [["1", "train", "minilm", "8", "0.6000", "0.5000"], ["2", "train", "minilm", "16", "0.7123", "0.6123"]])
        #expect(log.text() == """
            run  kind   model   r   accuracy  f1_macro
            1    train  minilm  8   0.6000    0.5000  
            2    train  minilm  16  0.7123    0.6123  
            """)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("finch-runs-\(UUID().uuidString).json")
        try log.save(to: url)
        let loaded = RunLog()
        try loaded.load(from: url)
        #expect(loaded.runs == log.runs)
    }

    @Test func worstPredictionsComeMostConfidentlyWrongFirst() {
        let data = LabeledTexts(texts: ["a", "b", "c"], labels: [0, 1, 1], labelNames: ["neg", "pos"])
        let predictions = ClassifierPredictions(labels: [0, 0, 1], probabilities: [[0.9, 0.1], [0.8, 0.2], [0.4, 0.6]])
        let worst = worstPredictions(data, predictions, count: 2)
        #expect(worst.map(\.row) == [1, 2])
        #expect(worst[0].predicted == "neg" && worst[0].label == "pos" && abs(worst[0].loss + log(0.2)) < 1e-6)
    }
}

@Suite struct SweepRunRecordTests {
    @Test func everyTrialBecomesARunInTrialOrder() {
        let trials = [
            SweepTrial(number: 1, configuration: ["lr": 0.001, "r": 8], result: ValidationMetrics(loss: 0.6, accuracy: 0.7, f1Macro: 0.65, f1Weighted: 0.66), seconds: 2),
            SweepTrial(number: 2, configuration: ["lr": 0.002, "r": 8], result: ValidationMetrics(loss: 0.5, accuracy: 0.8, f1Macro: 0.75, f1Weighted: 0.76), seconds: 3),
        ]
        let log = RunLog()
        let runs = log.record(SweepResult(metric: .f1Macro, trials: trials, stopped: false), model: "minilm",
                              base: ["method": "lora", "lr": "0.0002"], data: "24 rows · abc", seed: 42)
        #expect(runs.map(\.id) == [1, 2])
        #expect(runs.map { $0.configuration["lr"] } == ["0.001", "0.002"])
        #expect(runs[1].configuration["method"] == "lora" && runs[1].metrics["f1_macro"] == 0.75 && runs[1].kind == "sweep")
        #expect(log.table().columns == ["run", "kind", "model", "lr", "accuracy", "f1_macro", "loss"])
    }
}
