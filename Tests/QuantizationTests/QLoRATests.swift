import Foundation
import Testing
import FinchModels
@testable import FinchPEFT
import FinchQuantization
import FinchTensor
import TestSupport

/// all-MiniLM-L6-v2 as a 2-label classifier.
func miniLM() throws -> Encoder {
    try EncoderLoader.load(folder: try TestPaths.model("all-MiniLM-L6-v2"), task: .classify(labels: 2, seed: 0))
}

/// The tiny BERT of Tests/Reference/encoder_reference.py and its padded batch.
func tinyBERT() throws -> (Encoder, EncoderBatch) {
    let name = "tiny-bert-h30"
    let encoder = try EncoderLoader.load(folder: try TestPaths.referenceFile("encoder/\(name)/model"), task: .classify(labels: 3, seed: 0))
    let reference = try ReferenceTensors("encoder/\(name)/expected.safetensors")
    let shape = reference.shape("input_ids")
    let batch = EncoderBatch(batchSize: shape[0], sequenceLength: shape[1], ids: try reference.int32s("input_ids"),
                             attentionMask: try reference.int32s("attention_mask"), typeIds: try reference.int32s("token_type_ids"))
    return (encoder, batch)
}

func logits(_ encoder: Encoder, _ batch: EncoderBatch) throws -> [Float] {
    let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
    try encoder.forward(batch, activations: activations)
    return try encoder.logits(batch: batch, activations: activations).array
}

/// `QLoRA.quantize` on whole encoders: which layers, the memory report, and what it refuses.
@Suite struct QLoRATests {
    @Test func allLinearQuantizesEveryBlockLayerAndThePoolerNeverTheHead() throws {
        let encoder = try miniLM()
        let report = try QLoRA.quantize(encoder)
        #expect(report.layers == (encoder.blockLinears + [encoder.pooler!]).map(\.name))
        #expect(report.layers.count == 37 && report.parameters == 6 * (4 * 384 * 384 + 2 * 384 * 1536) + 384 * 384)
        #expect(encoder.head!.output.isQuantized == false)
        #expect(report.bytesBefore == 4 * report.parameters)
        #expect((4.1268...4.1275).contains(report.bitsPerParameter), "\(report.bitsPerParameter)")
        #expect(report.modelBytesBefore - report.modelBytesAfter == report.bytesBefore - report.bytesAfter)
        #expect(report.modelBytesAfter == encoder.weightByteCount)
        #expect(report.description.contains("37 linear layers") && report.description.contains("4.127 bits"))
        // Quantizing again finds nothing left to do.
        #expect(try QLoRA.quantize(encoder).layers.isEmpty)
        // Parameter counts are those of the fp32 model.
        #expect(encoder.baseParameterCount == (try miniLM()).baseParameterCount)
    }

    @Test func loraTargetsQuantizeOnlyThoseLayers() throws {
        let encoder = try miniLM()
        let report = try QLoRA.quantize(encoder, targets: .modules(["query", "value"]), format: FourBitFormat(type: .fp4, blockSize: 128))
        #expect(report.layers.count == 12 && report.layers.allSatisfy { $0.hasSuffix("query") || $0.hasSuffix("value") })
        #expect(encoder.blockLinears.filter(\.isQuantized).count == 12 && !encoder.pooler!.isQuantized)
        #expect(abs(report.bitsPerParameter - 4.25) < 1e-9)
    }

    @Test func aFreshPoolerTrainsInFullAndIsNotQuantized() throws {
        let (encoder, _) = try tinyBERT()
        encoder.freshModules.append(encoder.pooler!.name)
        let report = try QLoRA.quantize(encoder, format: FourBitFormat(blockSize: 32))
        #expect(report.layers.count == encoder.blockLinears.count && !encoder.pooler!.isQuantized)
    }

    @Test func refusesWeightsThatTrainAndBadFormats() throws {
        let encoder = try miniLM()
        _ = encoder.prepareTraining(.full)
        #expect(throws: PEFTError.self) { try QLoRA.quantize(encoder) }
        #expect(throws: QuantizationError.self) { try QLoRA.quantize(try miniLM(), format: FourBitFormat(blockSize: 100)) }
        #expect(encoder.blockLinears.allSatisfy { !$0.isQuantized })
    }

    /// Merging into 4-bit weights is refused with a reason; after `QLoRA.dequantize` it works in fp32.
    @Test func mergeIntoA4BitBaseIsRefusedUntilDequantized() throws {
        let (encoder, batch) = try tinyBERT()
        try QLoRA.quantize(encoder, format: FourBitFormat(blockSize: 32, doubleQuantization: true))
        let model = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 2, alpha: 4, dropout: 0, targets: .allLinear), seed: 3)
        var random = SeededRandom(seed: 4)
        for (_, adapter) in model.adapted { random.fillNormal(adapter.b, std: 0.1) }
        let before = try logits(encoder, batch)
        #expect {
            try model.merge()
        } throws: { error in
            "\(error)".contains("held in 4 bits") && "\(error)".contains("QLoRA.dequantize")
        }
        let unchanged = try logits(encoder, batch)
        #expect(!model.isMerged && unchanged == before)
        QLoRA.dequantize(encoder)
        #expect(encoder.blockLinears.allSatisfy { !$0.isQuantized })
        #expect(zip(try logits(encoder, batch), before).allSatisfy { abs($0 - $1) <= 1e-5 })
        try model.merge()
        #expect(zip(try logits(encoder, batch), before).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    /// A 4-bit layer that is to train in full (modules_to_save) gets its dequantized weight back in fp32.
    @Test func trainingA4BitWeightInFullDequantizesIt() throws {
        let (encoder, _) = try tinyBERT()
        try QLoRA.quantize(encoder, format: FourBitFormat(blockSize: 32))
        let layer = encoder.blockLinears[2]
        let values = layer.weightCopy()
        let parameters = encoder.makeTrainable(layer, weight: true, bias: false)
        #expect(!layer.isQuantized && parameters.count == 1 && parameters[0].value.array == values.array)
    }

    /// Saving and loading adapters, and switching named adapters, work on a 4-bit base.
    @Test func adapterFilesAndSetsWorkOnA4BitBase() throws {
        let (encoder, batch) = try tinyBERT()
        try QLoRA.quantize(encoder, format: FourBitFormat(blockSize: 32, doubleQuantization: true))
        let set = AdapterSet(encoder: encoder)
        let model = try set.add("first", configuration: LoRAConfiguration(rank: 2, alpha: 4, dropout: 0, modulesToSave: ["pooler"]), seed: 1)
        _ = model.trainableParameters()
        var random = SeededRandom(seed: 2)
        for (_, adapter) in model.adapted { random.fillNormal(adapter.b, std: 0.1) }
        #expect(!encoder.pooler!.isQuantized && encoder.blockLinears.allSatisfy { $0.isQuantized })
        let expected = try logits(encoder, batch)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-qlora-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try AdapterFiles.save(model, to: folder, baseModel: "tiny")
        try set.add("second", configuration: LoRAConfiguration(rank: 2, alpha: 4, dropout: 0), seed: 5)
        try set.activate("first")
        #expect(zip(try logits(encoder, batch), expected).allSatisfy { abs($0 - $1) <= 1e-6 })

        let (fresh, _) = try tinyBERT()
        try QLoRA.quantize(fresh, format: FourBitFormat(blockSize: 32, doubleQuantization: true))
        _ = try AdapterFiles.load(from: folder, into: fresh)
        #expect(zip(try logits(fresh, batch), expected).allSatisfy { abs($0 - $1) <= 1e-6 })
    }
}
