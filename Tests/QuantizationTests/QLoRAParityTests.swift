import Foundation
import Testing
import FinchModels
import FinchPEFT
import FinchQuantization
import FinchTensor
import TestSupport

/// QLoRA against transformers + bitsandbytes + PEFT (Tests/Reference/qlora_reference.py): all-MiniLM-L6-v2
/// loaded in 4 bits (NF4, double quantization) holds the same bytes in every layer as Finch's quantization, and
/// a PEFT adapter on top gives the same logits and LoRA gradients.
@Suite struct QLoRAParityTests {
    static let cases = ["qlora-minilm-all-linear", "qlora-minilm-dora-rslora-qv"]

    @Test(arguments: cases)
    func logitsAndGradientsMatchPEFTOnBitsandbytes(name: String) throws {
        let info = try #require(try referenceJSON("qlora/\(name)/case.json") as? [String: Any])
        let expected = try ReferenceTensors("qlora/\(name)/expected.safetensors")
        let quantization = try #require(info["quantization"] as? [String: Any])
        let encoder = try miniLM()
        let report = try QLoRA.quantize(encoder)
        #expect(report.layers == quantization["quantized_modules"] as? [String])

        // Every layer's statistics, and two layers' packed bytes, are bitsandbytes'.
        for layer in encoder.blockLinears + [encoder.pooler!] {
            guard case let .nested(nested)? = layer.quantized?.scales else { Issue.record("\(layer.name) is not double-quantized"); continue }
            let key = "quant.\(layer.name)"
            #expect(firstDifference(nested.codes, try expected.file.integers(key + ".nested_codes").values.map { UInt8($0) }) == nil, "\(layer.name)")
            #expect(firstDifference(nested.absmax, try expected.tensor(key + ".nested_absmax").array) == nil, "\(layer.name)")
            #expect(nested.offset == (try expected.tensor(key + ".offset"))[0], "\(layer.name)")
        }
        let packedLayers = try #require(quantization["packed_layers"] as? [String])
        for name in packedLayers {
            let layer = try #require((encoder.blockLinears + [encoder.pooler!]).first { $0.name == name })
            #expect(firstDifference(layer.quantized!.packed, try expected.file.integers("quant.\(name).packed").values.map { UInt8($0) }) == nil, "\(name)")
        }

        let model = try AdapterFiles.load(from: try TestPaths.referenceFile("qlora/\(name)/adapter"), into: encoder)
        #expect(encoder.head!.output.weight.array == (try expected.tensor("classifier.weight")).array)
        let parameters = model.trainableParameters()
        let shape = expected.shape("input_ids")
        let batch = EncoderBatch(batchSize: shape[0], sequenceLength: shape[1], ids: try expected.int32s("input_ids"),
                                 attentionMask: try expected.int32s("attention_mask"), typeIds: try expected.int32s("token_type_ids"))
        let labels = try expected.int32s("labels").map(Int.init)
        let step = ClassifierStep(config: encoder.config)
        let logits = try step.forward(encoder, batch)
        let (loss, gradient) = try CrossEntropy().lossAndGradient(logits: logits, labels: labels)
        step.backward(encoder, batch, logitsGradient: gradient)

        let logitsDifference = maxAbsoluteDifference(logits.data, try expected.tensor("logits")).value
        #expect(logitsDifference <= 1e-3, "logits differ by \(logitsDifference)")
        #expect(abs(loss - (info["loss"] as! Double)) <= 1e-4)
        let trainable = try #require(info["trainable"] as? [[String: Any]])
        #expect(parameters.count == trainable.count, "Finch trains \(parameters.count) tensors, PEFT \(trainable.count)")
        var worst: (Float, String) = (0, "")
        for entry in trainable {
            let finchName = String((entry["saved_key"] as! String).dropFirst("base_model.model.".count))
            let parameter = try #require(parameters.first { $0.name == finchName }, "no Finch parameter \(finchName)")
            let reference = try expected.tensor("grad." + (entry["name"] as! String))
            let scale = (0..<reference.count).map { abs(reference[$0]) }.max() ?? 0
            let difference = maxAbsoluteDifference(parameter.gradient.data, reference).value
            #expect(difference <= 1e-3 * scale, "\(finchName): max |Δ| \(difference), scale \(scale)")
            if difference / scale > worst.0 { worst = (difference / scale, finchName) }
        }
        print("\(name): logits max |Δ| \(logitsDifference), loss \(loss) vs \(info["loss"]!), worst gradient relative Δ \(worst.0) (\(worst.1))")
    }
}
