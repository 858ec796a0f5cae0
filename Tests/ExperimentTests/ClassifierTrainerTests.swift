import Foundation
import Testing
@testable import FinchExperiment
import FinchMetrics
import FinchData
import FinchModels
import FinchPEFT
import FinchTensor
import FinchTokenizers
import TestSupport

/// A few real SST-2 rows and all-MiniLM-L6-v2 with a fresh 2-label head.
func smallRun(seed: UInt64 = 3) throws -> (Encoder, any Tokenizer, LabeledTexts) {
    let folder = try TestPaths.model("all-MiniLM-L6-v2")
    let table = try Table.read(TestPaths.data.appendingPathComponent("sst2/dev.tsv"))
    let data = try LabeledTexts(table: table, text: "content", label: "label").subset(Array(0..<24))
    return (try EncoderLoader.load(folder: folder, task: .classify(labels: 2, seed: seed)), try AutoTokenizer.load(from: folder), data)
}

@Suite struct ClassifierTrainerTests {
    func options(_ configure: (inout TrainingOptions) -> Void = { _ in }) -> TrainingOptions {
        var options = TrainingOptions()
        options.maxSteps = 3
        options.batchSize = 8
        options.maxLength = 32
        options.learningRate = 1e-3
        configure(&options)
        return options
    }

    @Test func sameSeedSameLosses() throws {
        func run() throws -> [Double] {
            let (encoder, tokenizer, data) = try smallRun()
            let lora = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0.1), seed: 1)
            let trainer = try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: lora.trainableParameters(),
                                                adapters: lora, options: options())
            return try trainer.train(data).losses
        }
        let first = try run()
        #expect(first.count == 3 && first.allSatisfy(\.isFinite))
        #expect(try run() == first)
    }

    @Test func nonFiniteLossStopsBeforeTheWeightsChange() throws {
        let (encoder, tokenizer, data) = try smallRun()
        let parameters = encoder.prepareTraining(.headOnly)
        let trainer = try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: parameters,
                                            options: options { $0.learningRate = 1e38; $0.clip = nil; $0.maxSteps = 5; $0.weightDecay = 0 })
        var afterStep: [Int: [Float]] = [:]
        var lastLoss = 0.0
        let error = #expect(throws: TrainingError.self) {
            try trainer.train(data) { event in
                if case let .step(report) = event {
                    afterStep[report.step] = parameters[0].value.array
                    lastLoss = report.loss
                }
                return .proceed
            }
        }
        let failedStep = afterStep.keys.max()! + 1
        #expect(error?.description.hasPrefix("step \(failedStep): the loss is ") == true)
        #expect(error?.description.contains(String(format: "the last finite loss was %.4f at step \(failedStep - 1)", lastLoss)) == true, "\(error?.description ?? "")")
        #expect(parameters[0].value.array == afterStep[failedStep - 1]!)
    }

    @Test func theCallbackCanStopARun() throws {
        let (encoder, tokenizer, data) = try smallRun()
        let trainer = try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: encoder.prepareTraining(.bitfit), options: options())
        let summary = try trainer.train(data) { event in
            if case let .step(report) = event, report.step == 2 { return .stop }
            return .proceed
        }
        #expect(summary.steps == 2 && summary.stoppedEarly)
    }

    @Test func badOptionsAndMismatchedLabelsAreNamed() throws {
        let (encoder, tokenizer, data) = try smallRun()
        #expect(throws: TrainingError("batch must be at least 1, got 0")) {
            try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: encoder.prepareTraining(.headOnly), options: options { $0.batchSize = 0 })
        }
        #expect(throws: TrainingError("max_length 600 is longer than the model's 512 positions")) {
            try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: encoder.prepareTraining(.headOnly), options: options { $0.maxLength = 600 }).train(data)
        }
        let three = LabeledTexts(texts: data.texts, labels: data.labels, labelNames: ["a", "b", "c"])
        #expect(throws: TrainingError("the model's head has 2 labels but the data has 3 (a, b, c)")) {
            try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: encoder.prepareTraining(.headOnly), options: options()).train(three)
        }
    }

    @Test func metricsFollowScikitLearn() {
        // sklearn: f1_score([0,0,1,1,2], [0,1,1,1,1], average=None) = [0.6667, 0.6667, 0.0]
        let metrics = ClassificationMetrics(labels: [0, 0, 1, 1, 2], predictions: [0, 1, 1, 1, 1], labelNames: ["a", "b", "c"])
        #expect(metrics.accuracy == 0.6)
        #expect(metrics.f1.map { ($0 * 1e4).rounded() / 1e4 } == [0.6667, 0.6667, 0])
        #expect(abs(metrics.f1Macro - 4.0 / 9) < 1e-12)
        #expect(abs(metrics.f1Weighted - (2 * 2.0 / 3 + 2 * 2.0 / 3) / 5) < 1e-12)
        #expect(metrics.confusion == [[1, 1, 0], [0, 2, 0], [0, 1, 0]])
    }
}
