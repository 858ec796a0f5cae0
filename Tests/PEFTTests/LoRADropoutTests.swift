import Foundation
import Testing
@testable import FinchPEFT
import FinchModels
import FinchTensor
import TestSupport

/// LoRA's dropout on the adapter input: x_d = x ⊙ mask is drawn again in backward from the mask's key,
/// so its gradients are checked against central differences with every forward replaying the same masks.
@Suite struct LoRADropoutTests {
    @Test(arguments: [false, true])
    func gradientsWithDropoutMatchFiniteDifferences(dora: Bool) throws {
        let (encoder, batch) = try tinyClassifier()
        let configuration = LoRAConfiguration(rank: 4, alpha: 8, dropout: 0.3, targets: .allLinear, useDoRA: dora)
        let model = try LoRAModel(encoder: encoder, configuration: configuration, seed: 1)
        perturb(model)
        model.setTraining(true)
        let parameters = model.trainableParameters()
        let randoms = model.adapted.map(\.adapter.dropoutRandom)
        let step = ClassifierStep(config: encoder.config)
        let loss = CrossEntropy()
        let labels = [0, 1, 2, 1]
        func replay() { for ((_, adapter), random) in zip(model.adapted, randoms) { adapter.dropoutRandom = random } }
        func evaluate() throws -> Double {
            replay()
            return try loss.lossAndGradient(logits: try step.forward(encoder, batch), labels: labels).loss
        }
        replay()
        let (_, gradient) = try loss.lossAndGradient(logits: try step.forward(encoder, batch), labels: labels)
        step.backward(encoder, batch, logitsGradient: gradient)
        var checked = 0
        for p in parameters {
            // DoRA's weight norm is a constant in backward (as in PEFT): only its magnitude and the head
            // have exact derivatives there.
            if dora, !(p.name.hasSuffix("lora_magnitude_vector") || p.name.hasPrefix("classifier")) { continue }
            for i in Set([0, p.value.count / 2, p.value.count - 1]) {
                let saved = p.value[i]
                p.value[i] = saved + 2e-3
                let plus = try evaluate()
                p.value[i] = saved - 2e-3
                let minus = try evaluate()
                p.value[i] = saved
                let numeric = (plus - minus) / 4e-3
                #expect(abs(Double(p.gradient[i]) - numeric) <= 2e-3 + 2e-2 * abs(numeric), "\(p.name)[\(i)]: \(p.gradient[i]) vs \(numeric)")
                checked += 1
            }
        }
        #expect(checked >= (dora ? 20 : 70))
        // The masks dropped something: other masks give another loss, evaluation mode yet another.
        let replayed = try evaluate()
        #expect(try loss.lossAndGradient(logits: try step.forward(encoder, batch), labels: labels).loss != replayed)
        model.setTraining(false)
        replay()
        #expect(try loss.lossAndGradient(logits: try step.forward(encoder, batch), labels: labels).loss != replayed)
    }
}
