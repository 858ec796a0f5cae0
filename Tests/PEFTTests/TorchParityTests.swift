import Foundation
import Testing
@testable import FinchPEFT
import FinchCheckpoint
import FinchModels
import FinchTensor
import TestSupport

/// Training steps against torch autograd and PEFT (Tests/Reference/training_reference.py and
/// peft_reference.py): the loss,
/// every parameter gradient (relative error ≤ 1e-3 per tensor), PEFT-saved adapters loading into
/// Finch with the same logits, merged logits, and Finch-saved adapters loading into PEFT.
@Suite struct TorchParityTests {
    static let fullCases = ["full-tiny-bert-h30", "full-tiny-bert-h21-pair", "full-tiny-bert-h64-5labels",
                            "full-tiny-roberta-h35", "full-tiny-xlm-roberta-h33", "full-tiny-distilbert-d36",
                            "full-tiny-bert-h30-class-weights", "full-tiny-bert-h30-label-smoothing",
                            "full-tiny-bert-h30-weights-smoothing"]
    static let loraCases = ["lora-tiny-bert-h30-qv", "lora-tiny-bert-h30-all-linear", "lora-tiny-bert-h30-rslora",
                            "lora-tiny-bert-h30-bias-all", "lora-tiny-bert-h30-bias-lora-only", "lora-tiny-bert-h30-pooler",
                            "lora-tiny-roberta-h35-qv", "lora-tiny-roberta-h35-all-linear", "lora-tiny-distilbert-d36-qv",
                            "lora-real-all-MiniLM-L6-v2", "lora-real-multilingual-e5-small",
                            "lora-tiny-bert-h30-dora", "lora-tiny-roberta-h35-dora-rslora"]

    struct Case {
        let info: [String: Any]
        let expected: ReferenceTensors
        let encoder: Encoder
        let batch: EncoderBatch
        let labels: [Int]
        let loss: CrossEntropy
        let baseFolder: URL

        init(_ name: String) throws {
            info = try #require(try referenceJSON("training/\(name)/case.json") as? [String: Any])
            expected = try ReferenceTensors("training/\(name)/expected.safetensors")
            let base = try #require(info["base_model"] as? [String: String])
            baseFolder = try base["reference"].map { try TestPaths.referenceFile($0) } ?? TestPaths.model(base["models"]!)
            encoder = try EncoderLoader.load(folder: baseFolder, task: .classify(labels: info["num_labels"] as! Int, seed: 0))
            let shape = expected.shape("input_ids")
            batch = EncoderBatch(batchSize: shape[0], sequenceLength: shape[1], ids: try expected.int32s("input_ids"),
                                 attentionMask: try expected.int32s("attention_mask"),
                                 typeIds: encoder.config.family == .distilbert ? nil : try expected.int32s("token_type_ids"))
            labels = try expected.int32s("labels").map(Int.init)
            let lossInfo = try #require(info["loss_fn"] as? [String: Any])
            loss = CrossEntropy(classWeights: (lossInfo["class_weights"] as? [Double])?.map(Float.init),
                                labelSmoothing: Float(lossInfo["label_smoothing"] as? Double ?? 0))
        }

        /// Forward and backward; returns the loss and logits, and compares ∂loss/∂logits and every
        /// layer's input gradient ∂loss/∂hidden_states[i] with autograd's.
        func step() throws -> (Double, Tensor) {
            let step = ClassifierStep(config: encoder.config)
            step.recordsHiddenStateGradients = true
            let logits = try step.forward(encoder, batch)
            let (value, gradient) = try loss.lossAndGradient(logits: logits, labels: labels)
            step.backward(encoder, batch, logitsGradient: gradient)
            try expectClose(gradient, reference: "grad.logits", what: "∂loss/∂logits")
            for (layer, hidden) in step.hiddenStateGradients.enumerated() where expected.has("grad.hidden_states.\(layer)") {
                try expectClose(hidden, reference: "grad.hidden_states.\(layer)", what: "∂loss/∂hidden_states.\(layer)")
            }
            return (value, logits.copy())
        }

        func expectClose(_ actual: Tensor, reference key: String, what: String) throws {
            let expected = try self.expected.tensor(key)
            let scale = (0..<expected.count).map { abs(expected[$0]) }.max() ?? 0
            let (difference, index) = maxAbsoluteDifference(actual.data, expected)
            #expect(difference <= max(1e-3 * scale, 1e-6), "\(what): max |Δ| \(difference) at \(index), scale \(scale)")
        }

        func expectGradient(_ parameter: Parameter, reference key: String) throws {
            let expected = try self.expected.tensor(key)
            #expect(parameter.gradient.shape == expected.shape, "\(parameter.name) shape")
            let scale = (0..<expected.count).map { abs(expected[$0]) }.max() ?? 0
            let (difference, index) = maxAbsoluteDifference(parameter.gradient.data, expected)
            // Relative to the tensor's largest gradient; gradients that are exactly zero in exact
            // arithmetic (attention key biases) are float noise of ~1e-8 on both sides.
            let tolerance = max(1e-3 * scale, 1e-6)
            #expect(difference <= tolerance, "\(parameter.name): max |Δ| \(difference) at \(index), scale \(scale)")
        }
    }

    @Test(arguments: fullCases)
    func fullFineTuningGradients(name: String) throws {
        let c = try Case(name)
        let parameters = c.encoder.prepareTraining(.full)
        let (loss, _) = try c.step()
        #expect(abs(loss - (c.info["loss"] as! Double)) < 1e-5)
        let expectedNames = Set(c.expected.file.names.filter { $0.hasPrefix("grad.") && !$0.hasPrefix("grad.hidden_states") && $0 != "grad.logits" })
        #expect(Set(parameters.map { "grad." + $0.name }) == expectedNames)
        for p in parameters { try c.expectGradient(p, reference: "grad." + p.name) }
    }

    @Test(arguments: loraCases)
    func peftAdaptersLoadAndTrainAlike(name: String) throws {
        let c = try Case(name)
        let model = try AdapterFiles.load(from: try TestPaths.referenceFile("training/\(name)/adapter"), into: c.encoder)
        let parameters = model.trainableParameters()
        let (loss, stepLogits) = try c.step()
        let tolerance: Float = name.contains("real") ? 1e-4 : 1e-5
        #expect(maxAbsoluteDifference(stepLogits.data, try c.expected.tensor("logits")).value <= tolerance)
        #expect(abs(loss - (c.info["loss"] as! Double)) < 1e-4)
        let trainable = try #require(c.info["trainable"] as? [[String: Any]])
        #expect(parameters.count == trainable.count, "Finch trains \(parameters.map(\.name)), PEFT \(trainable.map { $0["saved_key"]! })")
        for entry in trainable {
            let savedKey = entry["saved_key"] as! String
            let finchName = String(savedKey.dropFirst("base_model.model.".count)).replacingOccurrences(of: ".base_layer.bias", with: ".bias")
            let parameter = try #require(parameters.first { $0.name == finchName }, "no Finch parameter \(finchName)")
            try c.expectGradient(parameter, reference: "grad." + (entry["name"] as! String))
        }
        try model.merge()
        let merged = try logits(c.encoder, c.batch)
        #expect(zip(merged, try c.expected.tensor("merged_logits").array).allSatisfy { abs($0 - $1) <= tolerance * 10 })
        try model.unmerge()
    }

    /// Finch saves what it loaded; PEFT (Tests/Reference/peft_check.py) loads it and gives Finch's logits.
    @Test(arguments: ["lora-tiny-bert-h30-bias-all", "lora-tiny-roberta-h35-all-linear", "lora-tiny-distilbert-d36-qv",
                      "lora-real-multilingual-e5-small", "lora-tiny-roberta-h35-dora-rslora"])
    func finchAdaptersLoadInPEFT(name: String) throws {
        let c = try Case(name)
        let model = try AdapterFiles.load(from: try TestPaths.referenceFile("training/\(name)/adapter"), into: c.encoder)
        perturb(model, seed: 11)
        let finchLogits = try logits(c.encoder, c.batch)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-peft-\(UUID().uuidString)")
        try AdapterFiles.save(model, to: folder, baseModel: c.baseFolder.path)
        let peft = try runPEFTCheck(base: c.baseFolder, adapter: folder,
                                    inputs: try TestPaths.referenceFile("training/\(name)/expected.safetensors"),
                                    labels: c.info["num_labels"] as! Int, poolerFromAdapter: name.contains("e5"))
        #expect(peft.count == finchLogits.count)
        #expect(zip(peft, finchLogits).allSatisfy { abs($0 - $1) <= 1e-4 }, "PEFT \(peft.prefix(6)) vs Finch \(finchLogits.prefix(6))")
    }
}

/// Two named adapters saved by PEFT (adapter/first, adapter/second) load into one AdapterSet and give
/// PEFT's logits with either active.
@Test func twoNamedAdaptersMatchPEFT() throws {
    let name = "lora-tiny-bert-h30-two-adapters"
    let info = try #require(try referenceJSON("training/\(name)/case.json") as? [String: Any])
    let expected = try ReferenceTensors("training/\(name)/expected.safetensors")
    let (encoder, batch) = try tinyClassifier()
    #expect(info["num_labels"] as? Int == 3)
    let set = AdapterSet(encoder: encoder)
    for adapter in ["first", "second"] {
        try set.add(adapter) { try AdapterFiles.load(from: try TestPaths.referenceFile("training/\(name)/adapter/\(adapter)"), into: encoder) }
    }
    for adapter in ["first", "second", "first"] {
        try set.activate(adapter)
        let difference = maxAbsoluteDifference(try logits(encoder, batch), try expected.tensor("logits.\(adapter)"))
        #expect(difference.value <= 1e-5, "\(adapter): \(difference.value)")
    }
}

/// Runs peft_check.py in the project's reference venv and returns its logits, flattened.
func runPEFTCheck(base: URL, adapter: URL, inputs: URL, labels: Int, poolerFromAdapter: Bool) throws -> [Float] {
    let python = TestPaths.repository.appendingPathComponent(".venv/bin/python")
    guard FileManager.default.isExecutableFile(atPath: python.path) else {
        throw MissingFixture("\(python.path) is missing; run `bash scripts/setup` to install the PyTorch reference stack")
    }
    let process = Process()
    process.executableURL = python
    process.arguments = [TestPaths.repository.appendingPathComponent("Tests/Reference/peft_check.py").path,
                         "--base", base.path, "--adapter", adapter.path, "--inputs", inputs.path,
                         "--num-labels", String(labels)] + (poolerFromAdapter ? ["--pooler-from-adapter"] : [])
    var environment = ProcessInfo.processInfo.environment
    environment["HF_HUB_OFFLINE"] = "1"
    process.environment = environment
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let messages = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0,
          let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
          let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
          let rows = json["logits"] as? [[Double]]
    else {
        throw MissingFixture("peft_check.py failed (status \(process.terminationStatus)): \(messages.suffix(2000))")
    }
    return rows.flatMap { $0.map(Float.init) }
}
