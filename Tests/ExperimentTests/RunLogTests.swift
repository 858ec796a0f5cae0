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
