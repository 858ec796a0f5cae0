import Foundation
import FinchModels
import FinchQuantization
import FinchTensor

/// QLoRA's base model: the frozen linear layers held in bitsandbytes' 4-bit format (NF4, block 64,
/// double quantization by default), as `BitsAndBytesConfig(load_in_4bit=True, ...)` loads them.
/// LoRA, rsLoRA and DoRA adapters then work on top unchanged; merging into a 4-bit weight is refused.
public enum QLoRA {
    /// What `quantize` did and the memory it saved.
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        /// The layers quantized by this call, in module order.
        public let layers: [String]
        /// Values quantized.
        public let parameters: Int
        /// Bytes those weights held before (fp32) and after (packed codes and statistics).
        public let bytesBefore: Int
        public let bytesAfter: Int
        /// Bytes held by all the encoder's weights (embeddings, every linear layer, LayerNorms, head).
        public let modelBytesBefore: Int
        public let modelBytesAfter: Int
        public let format: FourBitFormat

        /// Bits held per quantized value.
        public var bitsPerParameter: Double { Double(8 * bytesAfter) / Double(max(parameters, 1)) }

        public var description: String {
            func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
            return "quantized \(layers.count) linear layers (\(parameters) values) to \(format): \(mb(bytesBefore)) → \(mb(bytesAfter)) "
                + "(\(String(format: "%.3f", bitsPerParameter)) bits per value); all weights \(mb(modelBytesBefore)) → \(mb(modelBytesAfter))"
        }
    }

    /// Quantizes in place every base linear layer `targets` selects (PEFT's rule, as for LoRA targets;
    /// `.allLinear`: every block layer and the pooler, as transformers quantizes a model), freeing their
    /// fp32 weights. The classification head and freshly initialised modules (they train in full) are never
    /// quantized, nor layers already in 4 bits. Refuses, quantizing nothing, when a selected weight trains
    /// in full or the format is invalid.
    @discardableResult
    public static func quantize(_ encoder: Encoder, targets: LoRATargets = .allLinear, format: FourBitFormat = .qlora) throws -> Report {
        try format.validate()
        let head = encoder.headModules
        let selected = try LoRAModel.resolveTargets(targets, in: encoder)
            .filter { linear in !linear.isQuantized && !head.contains { $0 === linear } }
        if let training = selected.first(where: { $0.weightGradient != nil }) {
            throw PEFTError("\(training.name): its weight trains in full, so it cannot be held in 4 bits; quantize before preparing training")
        }
        let modelBefore = encoder.weightByteCount
        let before = selected.reduce(0) { $0 + $1.weightByteCount }
        for linear in selected { try linear.quantize(format) }
        return Report(layers: selected.map(\.name), parameters: selected.reduce(0) { $0 + $1.outFeatures * $1.inFeatures },
                      bytesBefore: before, bytesAfter: selected.reduce(0) { $0 + $1.weightByteCount },
                      modelBytesBefore: modelBefore, modelBytesAfter: encoder.weightByteCount, format: format)
    }

    /// The format of the layers already held in 4 bits (a model loaded from a bitsandbytes 4-bit checkpoint,
    /// or quantized before), nil when none is; `quantize` should reuse it rather than mix formats.
    public static func storedFormat(_ encoder: Encoder) -> FourBitFormat? {
        encoder.allLinears.lazy.compactMap { $0.quantized?.format }.first
    }

    /// Number of linear layers held in 4 bits.
    public static func quantizedLayerCount(_ encoder: Encoder) -> Int {
        encoder.allLinears.filter(\.isQuantized).count
    }

    /// Puts fp32 weights back in every 4-bit layer (the dequantized values, not the original ones).
    public static func dequantize(_ encoder: Encoder) {
        for linear in encoder.allLinears { linear.dequantize() }
    }
}

extension Encoder {
    /// Bytes held by all weights: embedding tables, linear layers (4-bit ones as packed), biases, LayerNorms.
    public var weightByteCount: Int {
        var total = embeddings.word.byteCount + embeddings.position.byteCount + (embeddings.tokenType?.byteCount ?? 0)
        for linear in allLinears { total += linear.weightByteCount + (linear.bias?.byteCount ?? 0) }
        for norm in layerNorms { total += norm.weight.byteCount + norm.bias.byteCount }
        return total
    }
}
