import Foundation
import FinchCheckpoint
import FinchModels
import FinchTensor

/// A tiny Llama case written by `Tests/Reference/llama_reference.py`: the model, its reference batch
/// (right-padded, labels −100 on the prompt and padding) and transformers' outputs.
public struct DecoderCase {
    public let name: String
    public let model: DecoderModel
    public let batch: DecoderBatch
    public let outputs: ReferenceTensors

    public static let names = ["tiny-gqa", "tiny-mha-untied", "tiny-bias-mqa"]

    public init(_ name: String, task: DecoderTask = .causalLM, folder: String = "model") throws {
        self.name = name
        model = try DecoderLoader.load(folder: try TestPaths.referenceFile("llama/\(name)/\(folder)"), task: task)
        let inputs = try ReferenceTensors("llama/\(name)/inputs.safetensors")
        let shape = inputs.shape("input_ids")
        let mask = try inputs.int32s("attention_mask")
        let lengths = (0..<shape[0]).map { b in mask[(b * shape[1])..<((b + 1) * shape[1])].reduce(0) { $0 + Int($1) } }
        batch = DecoderBatch(batchSize: shape[0], sequenceLength: shape[1], ids: try inputs.int32s("input_ids"),
                             labels: try inputs.int32s("labels"),
                             mask: CausalMask(batch: shape[0], sequence: shape[1], lengths: lengths))
        outputs = try ReferenceTensors("llama/\(name)/outputs.safetensors")
    }

    /// Relative difference of two tensors: max |a − e| / max |e|.
    public static func relativeDifference(_ actual: UnsafePointer<Float>, _ expected: Tensor) -> Float {
        let scale = (0..<expected.count).reduce(Float(0)) { max($0, abs(expected[$1])) }
        return maxAbsoluteDifference(actual, expected).value / max(scale, 1e-30)
    }
}
