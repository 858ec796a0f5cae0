import Foundation
import Testing
@testable import FinchModels
import FinchCheckpoint
import FinchTensor
import TestSupport

/// The Llama-family decoder against transformers' LlamaForCausalLM on seeded tiny configs (GQA with tied
/// embeddings, MHA untied with θ = 500000, MQA with attention biases): hidden states, logits, the
/// causal-LM loss, every parameter's gradient, and greedy generation through the KV cache.
@Suite struct DecoderParityTests {
    @Test(arguments: DecoderCase.names)
    func hiddenStatesLogitsAndLossMatchTransformers(name: String) throws {
        let c = try DecoderCase(name)
        let activations = DecoderActivations(keepsEveryLayer: true)
        try c.model.forward(c.batch, activations: activations)
        let layers = c.model.layers.count
        for i in 0..<layers {
            let d = DecoderCase.relativeDifference(activations.hiddenState(i), try c.outputs.tensor("hidden.\(i)"))
            #expect(d < 1e-5, "\(name) hidden.\(i): relative difference \(d)")
        }
        let final = DecoderCase.relativeDifference(activations.final, try c.outputs.tensor("hidden.\(layers)"))
        #expect(final < 1e-5, "\(name) final hidden: \(final)")
        let logits = c.model.allLogits(activations)
        let expected = try c.outputs.tensor("logits")
        let worst = maxAbsoluteDifference(logits.data, expected).value
        #expect(worst < 1e-4, "\(name) logits: max |Δ| \(worst)")
        let loss = c.model.languageModelLoss(c.batch, activations: activations, gradient: false)
        #expect(abs(loss.mean - Double(try c.outputs.tensor("loss")[0])) < 1e-5, "\(name) loss \(loss.mean)")
    }

    /// Inference buffers (two hidden states, one block's) give the same logits as training buffers.
    @Test func inferenceBuffersGiveTheSameLogits() throws {
        let c = try DecoderCase("tiny-gqa")
        let training = DecoderActivations(keepsEveryLayer: true), inference = DecoderActivations(keepsEveryLayer: false)
        try c.model.forward(c.batch, activations: training)
        try c.model.forward(c.batch, activations: inference)
        let a = c.model.allLogits(training), b = c.model.allLogits(inference)
        #expect(a.array == b.array)
    }

    @Test(arguments: DecoderCase.names)
    func fullFineTuningGradientsMatchAutograd(name: String) throws {
        let c = try DecoderCase(name)
        let parameters = c.model.prepareFullTraining()
        let expected = try ReferenceTensors("llama/\(name)/full_gradients.safetensors")
        let activations = DecoderActivations(keepsEveryLayer: true)
        try c.model.forward(c.batch, activations: activations)
        c.model.languageModelLoss(c.batch, activations: activations, gradient: true)
        c.model.backward(c.batch, activations: activations)
        #expect(Set(parameters.map(\.name)) == Set(expected.file.names), "\(name): trained parameters differ from transformers'")
        for p in parameters {
            let d = DecoderCase.relativeDifference(p.gradient.data, try expected.tensor(p.name))
            #expect(d < 1e-3, "\(name) gradient of \(p.name): relative difference \(d)")
        }
    }

    /// Greedy decoding through the KV cache, one token per step, equals transformers' generate.
    @Test(arguments: DecoderCase.names)
    func greedyGenerationMatchesTransformers(name: String) throws {
        let c = try DecoderCase(name)
        let info = try #require(try referenceJSON("llama/\(name)/generate.json") as? [String: Any])
        let runs = try #require(info["runs"] as? [[String: Any]])
        for run in runs {
            let prompt = try #require(run["prompt_ids"] as? [Int]), expected = try #require(run["generated_ids"] as? [Int])
            let cache = KeyValueCache(model: c.model, capacity: prompt.count + expected.count)
            let scratch = DecoderStepScratch()
            var logits = try c.model.step(prompt, cache: cache, scratch: scratch)
            var generated: [Int] = []
            for _ in 0..<expected.count {
                let next = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
                generated.append(next)
                logits = try c.model.step([next], cache: cache, scratch: scratch)
            }
            #expect(generated == expected, "\(name): prompt \(prompt)")
        }
    }

    /// The cached step's logits for a prompt equal the full forward's last-position logits.
    @Test func cachedStepMatchesFullForward() throws {
        let c = try DecoderCase("tiny-mha-untied")
        let ids = Array(c.batch.ids[0..<12]).map(Int.init)
        let cache = KeyValueCache(model: c.model, capacity: 12)
        let scratch = DecoderStepScratch()
        _ = try c.model.step(Array(ids[0..<7]), cache: cache, scratch: scratch)
        var last: [Float] = []
        for id in ids[7...] { last = try c.model.step([id], cache: cache, scratch: scratch) }
        let expected = try c.outputs.tensor("logits")
        let vocab = c.model.config.vocabularySize
        let worst = (0..<vocab).reduce(Float(0)) { max($0, abs(last[$1] - expected[11 * vocab + $1])) }
        #expect(worst < 1e-4, "max |Δ| \(worst)")
    }

    /// A packed row (two examples) gives each example the logits it has alone.
    @Test func packedExamplesDoNotSeeEachOther() throws {
        let c = try DecoderCase("tiny-gqa")
        let first = Array(c.batch.ids[0..<5]), second = Array(c.batch.ids[12..<19])
        let packed = DecoderBatch(batchSize: 1, sequenceLength: 12, ids: first + second,
                                  mask: CausalMask(batch: 1, sequence: 12, lengths: [12], segmentStarts: [[0, 5]]))
        let alone = DecoderBatch(batchSize: 1, sequenceLength: 7, ids: second, mask: .full(batch: 1, sequence: 7))
        let a = DecoderActivations(keepsEveryLayer: false), b = DecoderActivations(keepsEveryLayer: false)
        try c.model.forward(packed, activations: a)
        try c.model.forward(alone, activations: b)
        let packedLogits = c.model.allLogits(a), aloneLogits = c.model.allLogits(b)
        let vocab = c.model.config.vocabularySize
        let worst = (0..<(7 * vocab)).reduce(Float(0)) { max($0, abs(packedLogits[5 * vocab + $1] - aloneLogits[$1])) }
        #expect(worst < 1e-5, "max |Δ| \(worst)")
    }

    /// LlamaForSequenceClassification: logits of the last non-pad token, the loss and the score head's gradient.
    @Test func decoderAsClassifierMatchesTransformers() throws {
        let c = try DecoderCase("tiny-gqa", task: .classify(labels: 3, seed: 0), folder: "classifier/model")
        let reference = try ReferenceTensors("llama/tiny-gqa/classifier/outputs.safetensors")
        #expect(c.model.freshModules.isEmpty)
        let parameters = c.model.prepareFullTraining()
        let activations = DecoderActivations(keepsEveryLayer: true)
        try c.model.forward(c.batch, activations: activations)
        let logits = try c.model.classificationLogits(c.batch, activations: activations)
        #expect(maxAbsoluteDifference(logits.data, try reference.tensor("logits")).value < 1e-5)
        let labels = try reference.int32s("labels").map(Int.init)
        let (loss, gradient) = try CrossEntropy().lossAndGradient(logits: logits, labels: labels)
        #expect(abs(loss - Double(try reference.tensor("loss")[0])) < 1e-5)
        try c.model.classificationBackward(c.batch, activations: activations, logitsGradient: gradient)
        let score = try #require(parameters.first { $0.name == "score.weight" })
        #expect(DecoderCase.relativeDifference(score.gradient.data, try reference.tensor("grad.score.weight")) < 1e-4)
    }
}
