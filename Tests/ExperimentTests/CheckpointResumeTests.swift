import Foundation
import Testing
@testable import FinchExperiment
import FinchCheckpoint
import FinchData
import FinchModels
import FinchPEFT
import FinchTensor
import FinchTokenizers
import TestSupport

/// Checkpoints and exact resume: a run stopped after 20 steps, saved, loaded into a fresh trainer and
/// resumed for 20 more ends with the same weights and losses, bit for bit, as 40 steps straight.
@Suite struct CheckpointResumeTests {
    func makeTrainer(rank: Int = 4, _ configure: (inout TrainingOptions) -> Void = { _ in }) throws -> (ClassifierTrainer, LabeledTexts, LabeledTexts) {
        let (encoder, tokenizer, data) = try smallRun()
        let lora = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: rank, alpha: 2 * Float(rank), dropout: 0.1), seed: 1)
        var options = TrainingOptions()
        options.maxSteps = 40
        options.batchSize = 4
        options.maxLength = 32
        options.learningRate = 2e-3
        options.warmup = .steps(2)
        configure(&options)
        let trainer = try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: lora.trainableParameters(),
                                            adapters: lora, options: options)
        return (trainer, data.subset(Array(0..<16)), data.subset(Array(16..<24)))
    }

    func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("finch-run-\(UUID().uuidString)")
    }

    @Test func resumeContinuesBitIdentically() throws {
        let (straight, data, _) = try makeTrainer()
        let straightSummary = try straight.train(data)

        let folder = temporaryFolder()
        let (first, _, _) = try makeTrainer { $0.saveEvery = 20 }
        first.checkpointFolder = folder
        try first.train(data) { event in
            if case let .step(report) = event, report.step == 20 { return .stop }
            return .proceed
        }
        let checkpoint = try #require(ClassifierTrainer.checkpoints(in: folder).last)
        #expect(checkpoint.step == 20)
        let config = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: checkpoint.url.appendingPathComponent("config.json")))
        #expect(config["method"] == "lora" && config["r"] == "4" && config["max_steps"] == "40" && config["lr"] == "0.002")
        let (resumed, _, _) = try makeTrainer()
        try resumed.restore(from: checkpoint.url)
        let resumedSummary = try resumed.train(data)
        #expect(resumedSummary.losses == straightSummary.losses)
        for (a, b) in zip(straight.parameters, resumed.parameters) { #expect(a.value.array == b.value.array, "\(a.name)") }
        #expect(FileManager.default.fileExists(atPath: checkpoint.url.appendingPathComponent("adapter/adapter_model.safetensors").path))
    }

    /// The same with optim=adamw8bit, 4 + 4 steps against 8 straight. With r=16 the LoRA matrices (16 × 384)
    /// keep 8-bit moments, so the checkpoint carries U8 codes and absmax, which must come back exactly.
    @Test func resumeWithEightBitAdamWContinuesBitIdentically() throws {
        func eightBit(_ options: inout TrainingOptions) { options.optimizer = .adamw8bit; options.maxSteps = 8 }
        let (straight, data, _) = try makeTrainer(rank: 16, eightBit)
        let straightSummary = try straight.train(data)

        let folder = temporaryFolder()
        let (first, _, _) = try makeTrainer(rank: 16) { eightBit(&$0); $0.saveEvery = 4 }
        first.checkpointFolder = folder
        try first.train(data) { event in
            if case let .step(report) = event, report.step == 4 { return .stop }
            return .proceed
        }
        let checkpoint = try #require(ClassifierTrainer.checkpoints(in: folder).last)
        #expect(checkpoint.step == 4)
        let optimizerFile = try SafetensorsFile(url: checkpoint.url.appendingPathComponent("optimizer.safetensors"))
        let codes = optimizerFile.entries.values.filter { $0.dtype == .u8 }
        #expect(!codes.isEmpty && codes.allSatisfy { $0.shape == [16 * 384] })
        #expect(optimizerFile.metadata["optim"] == "adamw8bit")
        #expect(try ClassifierTrainer.options(inCheckpoint: checkpoint.url).optimizer == .adamw8bit)

        let (resumed, _, _) = try makeTrainer(rank: 16, eightBit)
        try resumed.restore(from: checkpoint.url)
        let resumedSummary = try resumed.train(data)
        #expect(resumedSummary.losses == straightSummary.losses)
        for (a, b) in zip(straight.parameters, resumed.parameters) { #expect(a.value.array == b.value.array, "\(a.name)") }

        // A run with plain AdamW cannot take the 8-bit state, and says which optimizer wrote it.
        let (plain, _, _) = try makeTrainer(rank: 16) { $0.maxSteps = 8 }
        let error = #expect(throws: TrainingError.self) { try plain.restore(from: checkpoint.url) }
        #expect(error?.description.contains("written by optim=adamw8bit; this run uses optim=adamw") == true)
    }

    @Test func anInterruptedWriteLeavesThePreviousCheckpoint() throws {
        let folder = temporaryFolder()
        let (trainer, data, _) = try makeTrainer { $0.saveEvery = 4; $0.maxSteps = 4 }
        trainer.checkpointFolder = folder
        try trainer.train(data)
        // What a process killed mid-write leaves: a temporary folder with part of a checkpoint.
        let partial = folder.appendingPathComponent(".checkpoint-8.tmp-12345")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        try Data("{\"step\":".utf8).write(to: partial.appendingPathComponent("trainer_state.json"))
        #expect(ClassifierTrainer.checkpoints(in: folder).map(\.step) == [4])
        let (fresh, _, _) = try makeTrainer { $0.maxSteps = 4 }
        try fresh.restore(from: folder.appendingPathComponent("checkpoint-4"))
        #expect(fresh.state.step == 4)
        #expect(throws: TrainingError.self) { try fresh.restore(from: partial) }
    }

    @Test func keepsTheNewestAndTheBest() throws {
        let folder = temporaryFolder()
        let (trainer, data, validation) = try makeTrainer { $0.saveEvery = 1; $0.evalEvery = 1; $0.maxSteps = 5; $0.keep = 2 }
        trainer.checkpointFolder = folder
        try trainer.train(data, validation: validation)
        let steps = ClassifierTrainer.checkpoints(in: folder).map(\.step)
        let best = try #require(trainer.state.bestStep)
        #expect(Set(steps) == Set([4, 5, best]))
    }

    @Test func earlyStoppingWithPatience() throws {
        // A learning rate of zero changes nothing, so no evaluation improves on the first.
        let (trainer, data, validation) = try makeTrainer { $0.learningRate = 1e-12; $0.evalEvery = 2; $0.patience = 2; $0.best = .loss }
        let summary = try trainer.train(data, validation: validation)
        #expect(summary.steps == 6)
        #expect(summary.stopReason == "early stopping: no better loss for 2 evaluations")
        #expect(trainer.state.evaluations.map(\.step) == [2, 4, 6])
    }

    @Test func resumingOnOtherDataIsRefused() throws {
        let folder = temporaryFolder()
        let (trainer, data, other) = try makeTrainer { $0.saveEvery = 2; $0.maxSteps = 2 }
        trainer.checkpointFolder = folder
        try trainer.train(data)
        let (resumed, _, _) = try makeTrainer()
        try resumed.restore(from: folder.appendingPathComponent("checkpoint-2"))
        let error = #expect(throws: TrainingError.self) { try resumed.train(other) }
        #expect(error?.description.hasPrefix("the checkpoint was trained on other data (16 rows") == true)
    }
}

@Suite struct LearningRateFinderTests {
    @Test func leavesTheSessionUntouchedAndSuggestsARate() throws {
        let (encoder, tokenizer, data) = try smallRun()
        let lora = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0.1), seed: 1)
        let parameters = lora.trainableParameters()
        let before = parameters.map(\.value.array)
        let randoms = lora.adapted.map(\.adapter.dropoutRandom)
        var finder = LearningRateFinder()
        finder.steps = 30
        finder.batchSize = 8
        finder.maxLength = 32
        finder.start = 1e-5
        finder.end = 10
        let result = try finder.run(encoder: encoder, tokenizer: tokenizer, parameters: parameters, adapters: lora, data: data)
        #expect(parameters.map(\.value.array) == before)
        #expect(lora.adapted.map(\.adapter.dropoutRandom) == randoms)
        #expect(result.points.count >= 10)
        #expect(result.points.map(\.learningRate) == result.points.map(\.learningRate).sorted())
        // The curve falls, then rises (or diverges) at the large rates.
        let smoothed = result.points.map(\.smoothedLoss)
        #expect(smoothed.min()! < smoothed.first! && smoothed.last! > smoothed.min()!)
        let suggestion = try #require(result.suggestion)
        #expect(suggestion > 1e-5 && suggestion < 10)
    }
}

@Suite struct TrainerControlTests {
    @Test func cancellingStopsAtAStepBoundaryWithTheLastStepsWeights() throws {
        let (encoder, tokenizer, data) = try smallRun()
        let parameters = encoder.prepareTraining(.headOnly)
        var options = TrainingOptions()
        options.maxSteps = 6
        options.batchSize = 4
        options.maxLength = 32
        options.groupByLength = true
        let trainer = try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: parameters, options: options)
        let token = CancellationToken()
        trainer.cancellation = token
        var afterStep3: [Float] = []
        var remaining: [Double] = []
        let summary = try trainer.train(data) { event in
            if case let .step(report) = event {
                remaining.append(report.secondsRemaining)
                if report.step == 3 { afterStep3 = parameters[0].value.array; token.cancel() }
            }
            return .proceed
        }
        #expect(summary.steps == 3 && summary.stopReason == "interrupted")
        #expect(parameters[0].value.array == afterStep3)
        #expect(remaining.count == 3 && remaining.last! > 0)
    }

    @Test func lengthGroupingSortsEachGroupLongestFirst() throws {
        let (encoder, tokenizer, data) = try smallRun()
        let encoded = try TokenizedTexts(texts: data.texts, tokenizer: tokenizer, maxLength: 64, config: encoder.config)
        let grouped = encoded.groupedByLength(Array(0..<data.count), batchSize: 4)
        #expect(Set(grouped) == Set(0..<data.count))
        let lengths = grouped.map { encoded.ids[$0].count }
        #expect(lengths == lengths.sorted(by: >))
    }
}
