import Foundation
import Testing
@testable import FinchPEFT
import FinchCheckpoint
import FinchModels
import FinchOptim
import FinchTensor
import TestSupport

/// LoRA, rsLoRA and DoRA on the Llama-family decoder against PEFT on LlamaForCausalLM: adapters PEFT
/// saved load into Finch with the same logits, loss and gradients; Finch's saved adapters are PEFT's
/// files; three AdamW steps follow torch's losses.
@Suite struct DecoderLoRATests {
    static let variants = ["lora", "lora-rslora", "lora-dora"]

    @Test(arguments: DecoderCase.names, variants)
    func adaptedLogitsLossAndGradientsMatchPEFT(name: String, variant: String) throws {
        let c = try DecoderCase(name)
        let lora = try DecoderLoRA.load(from: try TestPaths.referenceFile("llama/\(name)/\(variant)/adapter"), into: c.model)
        let parameters = lora.trainableParameters()
        let reference = try ReferenceTensors("llama/\(name)/\(variant)/logits.safetensors")
        let gradients = try ReferenceTensors("llama/\(name)/\(variant)/gradients.safetensors")
        let activations = DecoderActivations(keepsEveryLayer: true)
        try c.model.forward(c.batch, activations: activations)
        let logits = c.model.allLogits(activations)
        let worst = maxAbsoluteDifference(logits.data, try reference.tensor("logits")).value
        #expect(worst < 1e-4, "\(name) \(variant) logits: max |Δ| \(worst)")
        let loss = c.model.languageModelLoss(c.batch, activations: activations, gradient: true)
        #expect(abs(loss.mean - Double(try reference.tensor("loss")[0])) < 1e-5)
        c.model.backward(c.batch, activations: activations)
        #expect(Set(parameters.map { "base_model.model." + $0.name }) == Set(gradients.file.names))
        for p in parameters {
            let d = DecoderCase.relativeDifference(p.gradient.data, try gradients.tensor("base_model.model." + p.name))
            #expect(d < 1e-3, "\(name) \(variant) gradient of \(p.name): relative difference \(d)")
        }
    }

    /// Saving writes the same tensors under the same keys as PEFT's folder, and a CAUSAL_LM config.
    @Test(arguments: variants)
    func savedAdapterHasPEFTsKeysAndValues(variant: String) throws {
        let c = try DecoderCase("tiny-gqa")
        let folder = try TestPaths.referenceFile("llama/tiny-gqa/\(variant)/adapter")
        let lora = try DecoderLoRA.load(from: folder, into: c.model)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("finch-decoder-lora-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try lora.save(to: out, baseModel: "tiny-gqa")
        let ours = try SafetensorsFile(url: out.appendingPathComponent("adapter_model.safetensors"))
        let theirs = try SafetensorsFile(url: folder.appendingPathComponent("adapter_model.safetensors"))
        #expect(ours.names == theirs.names)
        for key in theirs.names { #expect(try ours.tensor(key).array == theirs.tensor(key).array, "\(key)") }
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("adapter_config.json"))) as? [String: Any])
        #expect(config["task_type"] as? String == "CAUSAL_LM")
        #expect(config["use_dora"] as? Bool == (variant == "lora-dora"))
        #expect(config["use_rslora"] as? Bool == (variant == "lora-rslora"))
    }

    /// Three AdamW steps (lr 1e-2, no decay) on the same batch: losses and final adapters as torch's.
    @Test func threeAdamWStepsFollowTorch() throws {
        let c = try DecoderCase("tiny-gqa")
        let lora = try DecoderLoRA.load(from: try TestPaths.referenceFile("llama/tiny-gqa/lora/adapter"), into: c.model)
        let parameters = lora.trainableParameters()
        let info = try #require(try referenceJSON("llama/tiny-gqa/training.json") as? [String: Any])
        let expectedLosses = try #require(info["loss_before_step"] as? [Double])
        let optimizer = try AdamW(parameters: parameters, weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        let activations = DecoderActivations(keepsEveryLayer: true)
        for expected in expectedLosses {
            for p in parameters { p.zeroGradient() }
            try c.model.forward(c.batch, activations: activations)
            let loss = c.model.languageModelLoss(c.batch, activations: activations, gradient: true)
            #expect(abs(loss.mean - expected) < 1e-4, "loss \(loss.mean) vs \(expected)")
            c.model.backward(c.batch, activations: activations)
            optimizer.step(learningRate: 0.01)
        }
        let final = try ReferenceTensors("llama/tiny-gqa/training_final.safetensors")
        for p in parameters {
            let worst = maxAbsoluteDifference(p.value.data, try final.tensor("base_model.model." + p.name)).value
            #expect(worst < 1e-4, "\(p.name): max |Δ| \(worst)")
        }
    }

    @Test func targetsThatMatchNothingAreRefusedWithTheLayerNames() throws {
        let c = try DecoderCase("tiny-gqa")
        let error = #expect(throws: PEFTError.self) {
            try DecoderLoRA(model: c.model, configuration: LoRAConfiguration(targets: .modules(["query"])), seed: 0)
        }
        #expect(error?.description.contains("q_proj") == true)
    }
}
