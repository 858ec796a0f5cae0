import Foundation
import Testing
import FinchData
import FinchModels
import FinchOptim
import FinchPEFT
import FinchQuantization
import FinchTensor
import FinchTokenizers
import TestSupport

/// LoRA trains on a 4-bit base: all-MiniLM-L6-v2 in NF4 with double quantization, rank-8 adapters on every
/// linear layer, AdamW on eight real SST-2 rows; the loss falls and the 4-bit weights never change.
@Test func loraOnA4BitEncoderTrains() throws {
    let table = try Table.read(TestPaths.data.appendingPathComponent("sst2/dev.tsv"))
    let rows = try LabeledTexts(table: table, text: "content", label: "label").subset(Array(0..<8))
    let folder = try TestPaths.model("all-MiniLM-L6-v2")
    let tokens = try AutoTokenizer.load(from: folder).encodeBatch(rows.texts)
    let batch = EncoderBatch(batchSize: tokens.batchSize, sequenceLength: tokens.sequenceLength, ids: tokens.ids,
                             attentionMask: tokens.attentionMask, typeIds: tokens.typeIds)
    let encoder = try EncoderLoader.load(folder: folder, task: .classify(labels: 2, seed: 1))
    try QLoRA.quantize(encoder)
    let packed = encoder.blockLinears[0].quantized!.packed
    let model = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(rank: 8, alpha: 16, dropout: 0, targets: .allLinear), seed: 2)
    let optimizer = try AdamW(parameters: model.trainableParameters(), weightDecay: 0)
    let step = ClassifierStep(config: encoder.config)
    var losses: [Double] = []
    for _ in 0..<8 {
        for parameter in optimizer.parameters { parameter.zeroGradient() }
        let logits = try step.forward(encoder, batch)
        let (loss, gradient) = try CrossEntropy().lossAndGradient(logits: logits, labels: rows.labels)
        step.backward(encoder, batch, logitsGradient: gradient)
        optimizer.step(learningRate: 2e-3)
        losses.append(loss)
    }
    #expect(losses.allSatisfy { $0.isFinite })
    #expect(losses.last! < 0.7 * losses.first!, "losses \(losses)")
    #expect(encoder.blockLinears.allSatisfy { $0.isQuantized } && encoder.blockLinears[0].quantized!.packed == packed)
    #expect(model.adapted.allSatisfy { $0.adapter.b.array.contains { $0 != 0 } })
}
