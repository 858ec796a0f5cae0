import Foundation
import Testing
@testable import FinchPEFT
import FinchCheckpoint
import FinchModels
import FinchTensor
import TestSupport

/// A tiny reference classifier and its reference batch.
func tinyClassifier(_ name: String = "tiny-bert-h30", seed: UInt64 = 0) throws -> (Encoder, EncoderBatch) {
    let info = try #require(try referenceJSON("encoder/\(name)/case.json") as? [String: Any])
    let encoder = try EncoderLoader.load(folder: try TestPaths.referenceFile("encoder/\(name)/model"),
                                         task: .classify(labels: info["num_labels"] as! Int, seed: seed))
    let reference = try ReferenceTensors("encoder/\(name)/expected.safetensors")
    let shape = reference.shape("input_ids")
    let batch = EncoderBatch(batchSize: shape[0], sequenceLength: shape[1], ids: try reference.int32s("input_ids"),
                             attentionMask: try reference.int32s("attention_mask"),
                             typeIds: encoder.config.family == .distilbert ? nil : try reference.int32s("token_type_ids"))
    return (encoder, batch)
}

func logits(_ encoder: Encoder, _ batch: EncoderBatch) throws -> [Float] {
    let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
    try encoder.forward(batch, activations: activations)
    return try encoder.logits(batch: batch, activations: activations).array
}

/// Gives every lora_B seeded non-zero values, so the adapters change the output.
func perturb(_ model: LoRAModel, seed: UInt64 = 5) {
    var random = SeededRandom(seed: seed)
    for (_, adapter) in model.adapted { random.fillNormal(adapter.b, std: 0.1) }
}

@Suite struct LoRAModelTests {
    @Test func freshAdaptersLeaveTheOutputUnchanged() throws {
        let (encoder, batch) = try tinyClassifier()
        let before = try logits(encoder, batch)
        let model = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0), seed: 1)
        #expect(try logits(encoder, batch) == before)
        #expect(model.adapted.map(\.linear.name) == [
            "bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.0.attention.self.value",
            "bert.encoder.layer.1.attention.self.query", "bert.encoder.layer.1.attention.self.value"])
        let bound = 1 / Float(30).squareRoot()
        #expect(model.adapted.allSatisfy { $0.adapter.a.array.allSatisfy { abs($0) <= bound } && $0.adapter.b.array.allSatisfy { $0 == 0 } })
    }

    @Test func mergeThenUnmergeRestoresTheBaseWeights() throws {
        let (encoder, batch) = try tinyClassifier()
        let model = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0, targets: .allLinear), seed: 1)
        perturb(model)
        let original = model.adapted.map { $0.linear.weight.array }
        let adapted = try logits(encoder, batch)
        try model.merge()
        let merged = try logits(encoder, batch)
        #expect(zip(adapted, merged).allSatisfy { abs($0 - $1) < 1e-5 })
        try model.unmerge()
        for (weights, (linear, _)) in zip(original, model.adapted) {
            #expect(zip(weights, linear.weight.array).allSatisfy { abs($0 - $1) <= 1e-6 }, "\(linear.name)")
        }
        #expect(throws: PEFTError("the adapters are not merged")) { try model.unmerge() }
        try model.detach()
        #expect(model.adapted.allSatisfy { $0.linear.adapter == nil })
    }

    @Test func mergeRefusesNonFiniteWeights() throws {
        let (encoder, _) = try tinyClassifier()
        let model = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 2, alpha: 4, dropout: 0), seed: 1)
        model.adapted[1].adapter.b[0] = .infinity
        let before = model.adapted[0].linear.weight.array
        #expect(throws: PEFTError("merging the adapter into bert.encoder.layer.0.attention.self.value gives non-finite weights; nothing was merged")) {
            try model.merge()
        }
        #expect(model.adapted[0].linear.weight.array == before && !model.isMerged)
    }

    @Test func allLinearTargetsEveryBlockLinearAndThePoolerButNotTheHead() throws {
        let (encoder, _) = try tinyClassifier()
        let model = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 4, alpha: 8, targets: .allLinear), seed: 1)
        #expect(model.adapted.count == 2 * 6 + 1)
        #expect(model.adapted.contains { $0.linear.name == "bert.pooler.dense" })
        #expect(!model.adapted.contains { $0.linear.name.hasPrefix("classifier") })
    }

    @Test func targetsThatMatchNothingAreNamed() throws {
        let (encoder, _) = try tinyClassifier()
        #expect(throws: PEFTError("targets [\"q_proj\"] match no linear layer of this model; its layer names end in: dense, key, query, value")) {
            try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(targets: .modules(["q_proj"])), seed: 1)
        }
    }

    /// print_trainable_parameters for r=4 on query,value of the tiny model: 4 adapters of (4·30 + 30·4)
    /// plus the head classifier (3·30 + 3), which PEFT counts twice in the total (original and copy).
    @Test func parameterCountsFollowPEFT() throws {
        let (encoder, _) = try tinyClassifier()
        let total = encoder.baseParameterCount
        let model = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0), seed: 1)
        let counts = model.parameterCounts()
        #expect(counts.trainable == 4 * 240 + 93)
        #expect(counts.total == total + 4 * 240 + 93)
        #expect(model.trainableParameters().reduce(0) { $0 + $1.value.count } == counts.trainable)
    }

    @Test(arguments: [LoRABias.none, .all, .loraOnly])
    func savedAdaptersLoadBackIdentically(bias: LoRABias) throws {
        let (encoder, batch) = try tinyClassifier()
        let config = LoRAConfiguration(rank: 4, alpha: 8, dropout: 0, targets: .modules(["query", "value"]), rankStabilized: true, bias: bias)
        let model = try LoRAModel(encoder: encoder, configuration: config, seed: 1)
        perturb(model)
        for p in model.trainableParameters() where p.name.hasSuffix(".bias") { p.value[0] += 0.5 }
        let expected = try logits(encoder, batch)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-adapter-\(UUID().uuidString)")
        try AdapterFiles.save(model, to: folder, baseModel: "tiny")
        let (fresh, _) = try tinyClassifier(seed: 99)
        let loaded = try AdapterFiles.load(from: folder, into: fresh)
        #expect(loaded.configuration == config)
        #expect(try logits(fresh, batch) == expected)
    }

    @Test func aSavedBiasForALayerWithoutOneIsNamed() throws {
        let (encoder, _) = try tinyClassifier()
        let model = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 2, alpha: 4, dropout: 0, bias: .all), seed: 1)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-adapter-\(UUID().uuidString)")
        try AdapterFiles.save(model, to: folder, baseModel: "tiny")
        let (other, _) = try tinyClassifier()
        other.layers[0].attention.key.bias = nil
        let weights = folder.appendingPathComponent("adapter_model.safetensors")
        let error = #expect(throws: PEFTError.self) { try AdapterFiles.load(from: folder, into: other) }
        #expect(error?.description == "\(weights.path): tensor \"base_model.model.bert.encoder.layer.0.attention.self.key.bias\" is a bias, but bert.encoder.layer.0.attention.self.key has none")
    }

    @Test func badAdapterFoldersAreNamed() throws {
        let (encoder, _) = try tinyClassifier()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-adapter-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let config = folder.appendingPathComponent("adapter_config.json")
        #expect(throws: PEFTError("\(config.path): missing (an adapter folder needs adapter_config.json and adapter_model.safetensors)")) {
            try AdapterFiles.load(from: folder, into: encoder)
        }
        try Data(#"{"peft_type":"LORA","r":0,"target_modules":["query"]}"#.utf8).write(to: config)
        #expect(throws: PEFTError("\(config.path): key \"r\" must be a positive integer")) { try AdapterFiles.load(from: folder, into: encoder) }
        try Data(#"{"peft_type":"IA3","r":4}"#.utf8).write(to: config)
        #expect(throws: PEFTError("\(config.path): key \"peft_type\" is \"IA3\"; Finch loads LORA adapters")) { try AdapterFiles.load(from: folder, into: encoder) }
        try Data(#"{"peft_type":"LORA","r":4,"target_modules":["query"]}"#.utf8).write(to: config)
        let weights = folder.appendingPathComponent("adapter_model.safetensors")
        try SafetensorsWriter.write(["base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight": .float(Tensor(zeros: [3, 30]))], to: weights)
        #expect(throws: PEFTError("\(weights.path): tensor \"base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight\" has shape [3, 30] but the model needs [4, 30]")) {
            try AdapterFiles.load(from: folder, into: encoder)
        }
    }
}

@Suite struct AdapterSetTests {
    @Test func namedAdaptersSwitchLayersAndHeads() throws {
        let (encoder, batch) = try tinyClassifier()
        let base = try logits(encoder, batch)
        let set = AdapterSet(encoder: encoder)
        let first = try set.add("first", configuration: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0), seed: 1)
        perturb(first, seed: 1)
        first.encoder.head!.output.weight[0] += 1   // this adapter's own head copy
        let firstLogits = try logits(encoder, batch)
        let second = try set.add("second", configuration: LoRAConfiguration(rank: 2, alpha: 4, dropout: 0, targets: .allLinear), seed: 2)
        #expect(try logits(encoder, batch) == base)   // a new adapter starts from the base head, B = 0
        perturb(second, seed: 2)
        let secondLogits = try logits(encoder, batch)
        try set.activate("first")
        #expect(try logits(encoder, batch) == firstLogits)
        try set.activate("second")
        #expect(try logits(encoder, batch) == secondLogits)
        #expect(set.names == ["first", "second"] && set.active == "second")
        #expect(throws: PEFTError("no adapter named \"third\"; the adapters are first, second")) { try set.activate("third") }
        #expect(throws: PEFTError("an adapter named \"first\" exists already (first, second)")) {
            try set.add("first", configuration: LoRAConfiguration(), seed: 3)
        }
        try set.remove("second")
        #expect(set.active == nil && set.names == ["first"])
        #expect(try logits(encoder, batch) == base)
    }
}
