import Foundation
import Testing
@testable import FinchModels
import FinchCheckpoint
import FinchTensor
import TestSupport

/// SmolLM2-135M-Instruct read straight from its Q4_1 GGUF against transformers' own GGUF loading (the same
/// dequantized weights): un-permuted q/k rows, logits on two chat prompts, greedy generation.
@Suite(.serialized) struct SmolLM2Tests {
    static let file = "SmolLM2-135M-Instruct.Q4_1.gguf"

    static func load() throws -> DecoderModel {
        try DecoderLoader.load(gguf: try TestPaths.model("SmolLM2-135M-Instruct-GGUF").appendingPathComponent(file))
    }

    @Test func configAndWeightsAsTransformersHoldsThem() throws {
        let model = try Self.load()
        let c = model.config
        let sizes: [Int] = [c.layerCount, c.hiddenSize, c.headCount, c.keyValueHeadCount, c.vocabularySize]
        #expect(sizes == [30, 576, 9, 3, 49152])
        #expect(c.tiesEmbeddings && c.ropeTheta == 100000)
        let weights = try ReferenceTensors("llama/smollm2/weights.safetensors")
        let layer = model.layers[0]
        for (name, tensor) in [("model.layers.0.self_attn.q_proj.weight", layer.attention.query.weight),
                               ("model.layers.0.self_attn.k_proj.weight", layer.attention.key.weight),
                               ("model.layers.0.self_attn.v_proj.weight", layer.attention.value.weight),
                               ("model.layers.0.mlp.down_proj.weight", layer.down.weight), ("model.norm.weight", model.norm.weight)] {
            let expected: [Float] = try weights.tensor(name).array
            #expect(tensor.array == expected, "\(name) differs from transformers' dequantized weight")
        }
    }

    @Test func logitsAndGreedyGenerationMatchTransformers() throws {
        let model = try Self.load()
        let prompts = try ReferenceTensors("llama/smollm2/prompts.safetensors")
        let logits = try ReferenceTensors("llama/smollm2/logits.safetensors")
        let info = try #require(try referenceJSON("llama/smollm2/generate.json") as? [String: Any])
        let runs = try #require(info["runs"] as? [[String: Any]])
        for k in 0..<2 {
            let ids = try prompts.int32s("ids.\(k)")
            let batch = DecoderBatch(batchSize: 1, sequenceLength: ids.count, ids: ids, mask: .full(batch: 1, sequence: ids.count))
            let activations = DecoderActivations(keepsEveryLayer: false)
            try model.forward(batch, activations: activations)
            let ours = model.allLogits(activations)
            let worst = maxAbsoluteDifference(ours.data, try logits.tensor("logits.\(k)")).value
            #expect(worst < 1e-3, "prompt \(k): logits max |Δ| \(worst)")
            let expected = try #require(runs[k]["generated_ids"] as? [Int])
            let cache = KeyValueCache(model: model, capacity: ids.count + expected.count)
            let scratch = DecoderStepScratch()
            var next = try model.step(ids.map(Int.init), cache: cache, scratch: scratch)
            var generated: [Int] = []
            for _ in expected.indices {
                let token = next.indices.max { next[$0] < next[$1] || (next[$0] == next[$1] && $0 > $1) }!
                generated.append(token)
                next = try model.step([token], cache: cache, scratch: scratch)
            }
            #expect(generated == expected, "prompt \(k)")
        }
    }
}
