import Foundation
import Testing
@testable import FinchPEFT
import FinchModels
import FinchTensor
import TestSupport

/// DoRA against its definition: central differences of the loss for every kind of parameter it trains,
/// merge / unmerge, and files that load back.
@Suite struct DoRATests {
    func doraModel() throws -> (Encoder, EncoderBatch, LoRAModel) {
        let (encoder, batch) = try tinyClassifier()
        let model = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0, useDoRA: true), seed: 1)
        perturb(model)
        var random = SeededRandom(seed: 9)
        for (_, adapter) in model.adapted {
            let m = adapter.dora!.magnitude
            for i in 0..<m.count { m[i] *= 1 + random.normal(std: 0.1) }
        }
        return (encoder, batch, model)
    }

    @Test func freshDoRALeavesTheOutputUnchanged() throws {
        let (encoder, batch) = try tinyClassifier()
        let before = try logits(encoder, batch)
        _ = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0, useDoRA: true), seed: 1)
        #expect(zip(before, try logits(encoder, batch)).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        let (encoder, batch, model) = try doraModel()
        let parameters = model.trainableParameters()
        #expect(parameters.filter { $0.name.hasSuffix("lora_magnitude_vector") }.count == 4)
        let step = ClassifierStep(config: encoder.config)
        let loss = CrossEntropy()
        let labels = [0, 1, 2, 1]
        let (_, gradient) = try loss.lossAndGradient(logits: try step.forward(encoder, batch), labels: labels)
        step.backward(encoder, batch, logitsGradient: gradient)
        for p in parameters {
            for i in Set([0, p.value.count / 2, p.value.count - 1]) {
                let saved = p.value[i]
                p.value[i] = saved + 2e-3
                let plus = try loss.lossAndGradient(logits: try step.forward(encoder, batch), labels: labels).loss
                p.value[i] = saved - 2e-3
                let minus = try loss.lossAndGradient(logits: try step.forward(encoder, batch), labels: labels).loss
                p.value[i] = saved
                let numeric = (plus - minus) / 4e-3
                // The weight norm is a constant in DoRA's backward (as in PEFT), so A and B are checked
                // against torch instead; the magnitude and the head have exact derivatives here.
                guard p.name.hasSuffix("lora_magnitude_vector") || p.name.hasPrefix("classifier") else { continue }
                #expect(abs(Double(p.gradient[i]) - numeric) <= 2e-3 + 2e-2 * abs(numeric), "\(p.name)[\(i)]: \(p.gradient[i]) vs \(numeric)")
            }
        }
    }

    @Test func mergeAndUnmerge() throws {
        let (encoder, batch, model) = try doraModel()
        let original = model.adapted.map { $0.linear.weight.array }
        let adapted = try logits(encoder, batch)
        try model.merge()
        #expect(zip(adapted, try logits(encoder, batch)).allSatisfy { abs($0 - $1) < 1e-5 })
        try model.unmerge()
        for (weights, (linear, _)) in zip(original, model.adapted) {
            #expect(zip(weights, linear.weight.array).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(linear.name)")
        }
        #expect(zip(adapted, try logits(encoder, batch)).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func filesRoundTrip() throws {
        let (_, batch, model) = try doraModel()
        let expected = try logits(model.encoder, batch)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-dora-\(UUID().uuidString)")
        try AdapterFiles.save(model, to: folder, baseModel: "tiny")
        let (fresh, _) = try tinyClassifier(seed: 4)
        let loaded = try AdapterFiles.load(from: folder, into: fresh)
        #expect(loaded.configuration.useDoRA)
        #expect(try logits(fresh, batch) == expected)
    }
}
