import Foundation
import Testing
import FinchCheckpoint
import FinchModels
import FinchTensor
import TestSupport

/// The encoder forward pass against transformers (Tests/Reference/encoder_reference.py): every hidden
/// state at every position (padding included), pooler output, pooled vectors and logits.
@Suite struct EncoderParityTests {
    static let tinyCases = ["tiny-bert-h30", "tiny-bert-h21-pair", "tiny-bert-h64-5labels",
                            "tiny-roberta-h35", "tiny-xlm-roberta-h33", "tiny-distilbert-d36"]

    func batch(from reference: ReferenceTensors, family: EncoderFamily) throws -> EncoderBatch {
        let shape = reference.shape("input_ids")
        return EncoderBatch(batchSize: shape[0], sequenceLength: shape[1],
                            ids: try reference.int32s("input_ids"),
                            attentionMask: try reference.int32s("attention_mask"),
                            typeIds: family == .distilbert ? nil : try reference.int32s("token_type_ids"))
    }

    /// Compares every output the reference holds; returns the worst difference per output name.
    func compare(_ encoder: Encoder, _ batch: EncoderBatch, _ reference: ReferenceTensors, tolerance: Float) throws {
        let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: true)
        try encoder.forward(batch, activations: activations)
        for layer in 0...encoder.config.layerCount {
            let expected = try reference.tensor("hidden_states.\(layer)")
            let (difference, index) = maxAbsoluteDifference(activations.hiddenState(layer), expected)
            #expect(difference <= tolerance, "hidden_states.\(layer): max |Δ| \(difference) at flat index \(index)")
        }
        var outputs: [(String, Tensor?)] = [
            ("mean_pooled", encoder.pooled(.mean, batch: batch, activations: activations)),
            ("cls_pooled", encoder.pooled(.cls, batch: batch, activations: activations)),
            ("pooler_output", encoder.poolerOutput(batch: batch, activations: activations)),
            ("logits", try encoder.logits(batch: batch, activations: activations)),
        ]
        if reference.has("mean_pooled_normalized") {
            outputs.append(("mean_pooled_normalized", encoder.pooled(.mean, batch: batch, activations: activations, normalize: true)))
        }
        for (name, actual) in outputs where reference.has(name) {
            let expected = try reference.tensor(name)
            guard let actual else { Issue.record("\(name) is in the reference but Finch produced none"); continue }
            #expect(actual.shape == expected.shape, "\(name) shape")
            let (difference, index) = maxAbsoluteDifference(actual.data, expected)
            #expect(difference <= tolerance, "\(name): max |Δ| \(difference) at flat index \(index)")
        }
    }

    @Test(arguments: tinyCases)
    func tinyRandomModelsMatchTransformers(name: String) throws {
        let caseInfo = try #require(try referenceJSON("encoder/\(name)/case.json") as? [String: Any])
        let labels = try #require(caseInfo["num_labels"] as? Int)
        let folder = try TestPaths.referenceFile("encoder/\(name)/model")
        let encoder = try EncoderLoader.load(folder: folder, task: .classify(labels: labels, seed: 0))
        #expect((encoder.pooler != nil) == (caseInfo["has_pooler"] as? Bool ?? false))
        let reference = try ReferenceTensors("encoder/\(name)/expected.safetensors")
        try compare(encoder, try batch(from: reference, family: encoder.config.family), reference, tolerance: 1e-5)
    }

    @Test(arguments: ["all-MiniLM-L6-v2", "multilingual-e5-small"])
    func realModelsMatchTransformers(name: String) throws {
        let encoder = try EncoderLoader.load(folder: try TestPaths.model(name), task: .classify(labels: 3, seed: 0))
        let reference = try ReferenceTensors("encoder/real-\(name)/expected.safetensors")
        // The reference's freshly initialised head (and e5's fresh pooler) replace Finch's own.
        let head = try #require(encoder.head)
        head.output.weight = try reference.tensor("classifier.weight")
        head.output.bias = try reference.tensor("classifier.bias")
        if reference.has("pooler.dense.weight") {
            let pooler = try #require(encoder.pooler)
            pooler.weight = try reference.tensor("pooler.dense.weight")
            pooler.bias = try reference.tensor("pooler.dense.bias")
        }
        try compare(encoder, try batch(from: reference, family: .bert), reference, tolerance: 1e-4)
    }

    @Test func inferenceBuffersGiveTheSameLastHiddenState() throws {
        let name = "tiny-bert-h30"
        let encoder = try EncoderLoader.load(folder: try TestPaths.referenceFile("encoder/\(name)/model"), task: .embed)
        let reference = try ReferenceTensors("encoder/\(name)/expected.safetensors")
        let input = try batch(from: reference, family: .bert)
        let lean = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
        try encoder.forward(input, activations: lean)
        let (difference, _) = maxAbsoluteDifference(encoder.lastHiddenState(lean), try reference.tensor("last_hidden_state"))
        #expect(difference <= 1e-5)
        let full = EncoderActivations(config: encoder.config, keepsEveryLayer: true)
        try encoder.forward(input, activations: full)
        #expect(lean.byteCount < full.byteCount)
    }
}
