import Foundation
import Testing
import FinchCheckpoint
import FinchModels
import FinchTensor
import TestSupport

/// Bad model folders and bad inputs give errors naming the file and the problem, never a crash.
@Suite struct EncoderLoadingTests {
    /// A copy of a tiny reference model whose config.json or weights a test may spoil.
    func copyOfTinyModel() throws -> URL {
        let source = try TestPaths.referenceFile("encoder/tiny-bert-h30/model")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("finch-model-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: copy)
        return copy
    }

    func editConfig(_ folder: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let url = folder.appendingPathComponent("config.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }

    @Test func shapeDisagreeingWithConfigNamesTheWeight() throws {
        let folder = try copyOfTinyModel()
        try editConfig(folder) { $0["intermediate_size"] = 48 }
        let error = #expect(throws: CheckpointError.self) { try EncoderLoader.load(folder: folder, task: .embed) }
        #expect(error?.description == "\(folder.path)/model.safetensors: weight \"bert.encoder.layer.0.intermediate.dense.weight\" has shape [47, 30] but the config implies [48, 30]")
    }

    @Test func unknownModelTypeIsNamed() throws {
        let folder = try copyOfTinyModel()
        try editConfig(folder) { $0["model_type"] = "t5" }
        let error = #expect(throws: CheckpointError.self) { try EncoderLoader.load(folder: folder, task: .embed) }
        #expect(error?.problem.hasPrefix("model_type \"t5\" is not an encoder Finch reads") == true)
    }

    @Test func weightsOfAnotherFamilyAreNamed() throws {
        let folder = try copyOfTinyModel()
        try editConfig(folder) { $0["model_type"] = "distilbert"; $0["dim"] = 30; $0["n_heads"] = 5; $0["n_layers"] = 2; $0["hidden_dim"] = 47 }
        let error = #expect(throws: CheckpointError.self) { try EncoderLoader.load(folder: folder, task: .embed) }
        #expect(error?.problem.hasPrefix("no distilbert.embeddings.word_embeddings.weight: these weights do not look like a distilbert model") == true)
    }

    @Test func truncatedWeightsFileIsNamed() throws {
        let folder = try copyOfTinyModel()
        let url = folder.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: url)
        try data.prefix(data.count / 2).write(to: url)
        let error = #expect(throws: CheckpointError.self) { try EncoderLoader.load(folder: folder, task: .embed) }
        #expect(error?.path == url.path)
        #expect(error?.problem.contains("file truncated?") == true)
    }

    @Test func missingConfigIsNamed() throws {
        let folder = try copyOfTinyModel()
        try FileManager.default.removeItem(at: folder.appendingPathComponent("config.json"))
        #expect(throws: CheckpointError(folder.appendingPathComponent("config.json"), "missing: a model folder needs config.json (Hugging Face layout)")) {
            try EncoderLoader.load(folder: folder, task: .embed)
        }
    }

    @Test func outOfRangeInputsAreErrorsNotCrashes() throws {
        let encoder = try EncoderLoader.load(folder: try copyOfTinyModel(), task: .embed)
        let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
        let badId = EncoderBatch(batchSize: 1, sequenceLength: 2, ids: [2, 999], attentionMask: [1, 1])
        #expect(throws: ModelError("token id 999 at row 0, position 1 is outside the vocabulary of 120")) {
            try encoder.forward(badId, activations: activations)
        }
        let tooLong = EncoderBatch(batchSize: 1, sequenceLength: 65, ids: [Int32](repeating: 5, count: 65), attentionMask: [Int32](repeating: 1, count: 65))
        #expect(throws: ModelError("sequence of 65 tokens needs position 64, but the model has 64 position embeddings; truncate to max_length")) {
            try encoder.forward(tooLong, activations: activations)
        }
        #expect(throws: ModelError("the model has no classification head; load it with task=classify")) {
            try encoder.logits(batch: badId, activations: activations)
        }
    }

    @Test func freshHeadsAreSeeded() throws {
        let folder = try TestPaths.model("all-MiniLM-L6-v2")
        let a = try EncoderLoader.load(folder: folder, task: .classify(labels: 3, seed: 7))
        let b = try EncoderLoader.load(folder: folder, task: .classify(labels: 3, seed: 7))
        let c = try EncoderLoader.load(folder: folder, task: .classify(labels: 3, seed: 8))
        #expect(a.head!.output.weight.array == b.head!.output.weight.array)
        #expect(a.head!.output.weight.array != c.head!.output.weight.array)
        #expect(a.head!.output.bias!.array == [0, 0, 0])
    }
}
