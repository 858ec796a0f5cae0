import Foundation
import Testing
@testable import FinchModels
import FinchCheckpoint
import FinchTensor
import TestSupport

/// The whole classifier's backward (head, every block, embeddings) against central differences of the
/// loss, on tiny reference models with full fine-tuning. (DistilBERT's ReLU head has a pre-activation
/// within a step of its kink on this input, where central differences are not a derivative; its
/// gradients are checked against torch autograd instead.)
@Suite struct ClassifierStepTests {
    static let cases = ["tiny-bert-h30", "tiny-bert-h21-pair", "tiny-roberta-h35", "tiny-xlm-roberta-h33"]

    func loadCase(_ name: String) throws -> (Encoder, EncoderBatch, [Int]) {
        let info = try #require(try referenceJSON("encoder/\(name)/case.json") as? [String: Any])
        let encoder = try EncoderLoader.load(folder: try TestPaths.referenceFile("encoder/\(name)/model"),
                                             task: .classify(labels: info["num_labels"] as! Int, seed: 0))
        let reference = try ReferenceTensors("encoder/\(name)/expected.safetensors")
        let shape = reference.shape("input_ids")
        let batch = EncoderBatch(batchSize: shape[0], sequenceLength: shape[1], ids: try reference.int32s("input_ids"),
                                 attentionMask: try reference.int32s("attention_mask"),
                                 typeIds: encoder.config.family == .distilbert ? nil : try reference.int32s("token_type_ids"))
        let labels = (0..<shape[0]).map { $0 % (info["num_labels"] as! Int) }
        return (encoder, batch, labels)
    }

    /// Without dropout, and with dropout whose masks are replayed identically (same seed each forward).
    @Test(arguments: cases, [false, true])
    func fullFineTuningGradientsMatchFiniteDifferences(name: String, withDropout: Bool) throws {
        let (encoder, batch, labels) = try loadCase(name)
        let parameters = encoder.prepareTraining(.full)
        let step = ClassifierStep(config: encoder.config)
        if withDropout { step.dropout = Dropout(seed: 5, hidden: 0.2, attention: 0.2, classifier: 0.3) }
        let loss = CrossEntropy(labelSmoothing: 0.1)
        func evaluate() throws -> Double {
            step.dropout?.random = SeededRandom(seed: 5)
            return try loss.lossAndGradient(logits: try step.forward(encoder, batch), labels: labels).loss
        }
        step.dropout?.random = SeededRandom(seed: 5)
        let (_, dLogits) = try loss.lossAndGradient(logits: try step.forward(encoder, batch), labels: labels)
        step.backward(encoder, batch, logitsGradient: dLogits)
        // A few entries of every parameter (first, middle, last), including used embedding rows.
        var checked = 0
        for p in parameters {
            var indices = Set([0, p.value.count / 2, p.value.count - 1])
            if p.name.hasSuffix("word_embeddings.weight") {
                let h = encoder.config.hiddenSize
                indices = Set([Int(batch.ids[1]) * h, Int(batch.ids[1]) * h + h - 1])
            }
            for i in indices {
                let saved = p.value[i]
                let epsilon: Float = 2e-3
                p.value[i] = saved + epsilon
                let plus = try evaluate()
                p.value[i] = saved - epsilon
                let minus = try evaluate()
                p.value[i] = saved
                let numeric = (plus - minus) / (2 * Double(epsilon))
                let analytic = Double(p.gradient[i])
                #expect(abs(analytic - numeric) <= 2e-3 + 2e-2 * abs(numeric), "\(p.name)[\(i)]: analytic \(analytic), numeric \(numeric)")
                checked += 1
            }
        }
        #expect(checked > 50)
        if withDropout {
            // The masks really dropped something: a forward with other masks gives other logits.
            let replayed = try step.forward(encoder, batch).array
            step.dropout?.random = SeededRandom(seed: 5)
            #expect(try step.forward(encoder, batch).array != replayed)
        }
    }

    @Test func bitfitTrainsBiasesAndTheHeadOnly() throws {
        let (encoder, _, _) = try loadCase("tiny-bert-h30")
        let names = encoder.prepareTraining(.bitfit).map(\.name)
        #expect(names.allSatisfy { $0.hasSuffix(".bias") || $0.hasPrefix("classifier.") })
        #expect(names.contains("classifier.weight") && names.contains("bert.encoder.layer.1.output.LayerNorm.bias"))
        #expect(Set(names).count == names.count)
        let head = encoder.prepareTraining(.headOnly).map(\.name)
        #expect(head == ["classifier.weight", "classifier.bias"])
    }

    @Test func crossEntropyMatchesItsDefinition() throws {
        let logits = Tensor([2, -1, 0.5, 0, 0, 3], shape: [2, 3])
        let weights: [Float] = [1, 2, 0.5]
        let loss = CrossEntropy(classWeights: weights, labelSmoothing: 0.2)
        let (value, gradient) = try loss.lossAndGradient(logits: logits, labels: [0, 2])
        // Direct evaluation of the torch formula.
        func logSoftmax(_ z: [Double]) -> [Double] { let m = z.max()!; let s = log(z.map { exp($0 - m) }.reduce(0, +)); return z.map { $0 - m - s } }
        let rows = [[2.0, -1, 0.5], [0.0, 0, 3]], labels = [0, 2]
        var total = 0.0, normalizer = 0.0
        for (r, z) in rows.enumerated() {
            let lp = logSoftmax(z)
            total += 0.8 * -Double(weights[labels[r]]) * lp[labels[r]] + 0.2 / 3 * -(0..<3).map { Double(weights[$0]) * lp[$0] }.reduce(0, +)
            normalizer += Double(weights[labels[r]])
        }
        #expect(abs(value - total / normalizer) < 1e-6)
        // The gradient against central differences.
        for i in 0..<6 {
            let saved = logits[i]
            logits[i] = saved + 1e-3
            let plus = try loss.lossAndGradient(logits: logits, labels: labels).loss
            logits[i] = saved - 1e-3
            let minus = try loss.lossAndGradient(logits: logits, labels: labels).loss
            logits[i] = saved
            #expect(abs(Double(gradient[i]) - (plus - minus) / 2e-3) < 1e-4)
        }
        #expect(throws: ModelError("label 3 in row 0 is outside 0..<3")) { try loss.lossAndGradient(logits: logits, labels: [3, 0]) }
    }
}
