import Foundation
import Testing
import FinchCheckpoint
import FinchModels
import FinchQuantization
import FinchTensor
import TestSupport

/// `precision bf16` against PyTorch (Tests/Reference/bf16_reference.py): torch's fp32 arithmetic on
/// bf16-rounded operands, for single layers (forward and input gradient, odd and real shapes, one and two
/// threads), for 4-bit layers, and for all-MiniLM-L6-v2 with every linear layer rounded (how far bf16 moves the model).
@Suite(.enabled(if: FrozenPrecision.bf16Available, "this CPU has no AVX512-BF16"))
struct BF16ParityTests {
    static let cases = ["odd", "minilm-ffn", "minilm-down"]

    /// max |a − b| / max(1, max |b|).
    static func relative(_ a: UnsafePointer<Float>, _ b: Tensor) -> Float {
        var worst: Float = 0, scale: Float = 1
        for i in 0..<b.count {
            let d = abs(a[i] - b[i])
            worst = d.isNaN ? .infinity : max(worst, d)
            scale = max(scale, abs(b[i]))
        }
        return worst / scale
    }

    @Test(arguments: cases, [1, 2])
    func linearLayerMatchesTorchOnRoundedOperands(name: String, threads: Int) throws {
        let reference = try ReferenceTensors("bf16/expected.safetensors")
        let prefix = "linear.\(name)."
        let x = try reference.tensor(prefix + "x"), dy = try reference.tensor(prefix + "dy")
        let weight = try reference.tensor(prefix + "weight")
        let bias = reference.has(prefix + "bias") ? try reference.tensor(prefix + "bias") : nil
        let rows = x.shape[0], (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
        let packed = BF16Weight(weight.data, outFeatures: outFeatures, inFeatures: inFeatures)

        let y = Tensor(zeros: [rows, outFeatures])
        if let bias { for r in 0..<rows { (y.data + r * outFeatures).update(from: bias.data, count: outFeatures) } }
        packed.product(x.data, rows: rows, into: y.data, accumulate: bias != nil, threads: threads)
        let expectedY = try reference.tensor(prefix + "y")
        #expect(Self.relative(y.data, expectedY) <= 1e-5, "\(name) y")

        let dx = Tensor(zeros: [rows, inFeatures])
        packed.transposedProduct(dy.data, rows: rows, into: dx.data, accumulate: false, threads: threads)
        let expectedDX = try reference.tensor(prefix + "dx")
        #expect(Self.relative(dx.data, expectedDX) <= 1e-5, "\(name) dx")
        // Accumulating adds to what is there.
        packed.transposedProduct(dy.data, rows: rows, into: dx.data, accumulate: true, threads: threads)
        let twice = Tensor(expectedDX.array.map { 2 * $0 }, shape: expectedDX.shape)
        #expect(Self.relative(dx.data, twice) <= 1e-5, "\(name) dx accumulated")

        // The same products in fp32 differ at the bf16 rounding level: the comparison above can fail.
        let fp32 = Linear(name: name, weight: weight, bias: bias)
        let yFP32 = Tensor(zeros: y.shape)
        fp32.forward(x.data, rows: rows, into: yFP32.data)
        #expect(Self.relative(yFP32.data, expectedY) > 1e-4, "\(name): fp32 should differ from the bf16 reference")
    }

    /// A 4-bit layer in bf16 (bitsandbytes' compute dtype bfloat16, fp32 sums) against torch on the weight
    /// bitsandbytes quantized and dequantized, rounded: the layer's own tiles and tiles that split the
    /// output (forward) or the reduction (input gradient) at and off 32-column panels.
    @Test(arguments: cases, [nil, 32, 48])
    func fourBitLayerMatchesTorchOnRoundedOperands(name: String, tileRows: Int?) throws {
        let reference = try ReferenceTensors("bf16/expected.safetensors")
        let prefix = "linear.\(name)."
        let x = try reference.tensor(prefix + "x"), dy = try reference.tensor(prefix + "dy")
        let weight = try reference.tensor(prefix + "weight")
        let bias = reference.has(prefix + "bias") ? try reference.tensor(prefix + "bias") : nil
        let linear = Linear(name: name, weight: weight.copy(), bias: bias)
        try linear.quantize(.qlora)
        let quantized = try #require(linear.quantized)
        let rows = x.shape[0], (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])

        let y = Tensor(zeros: [rows, outFeatures])
        if let bias { for r in 0..<rows { (y.data + r * outFeatures).update(from: bias.data, count: outFeatures) } }
        quantized.multiply(x.data, rows: rows, into: y.data, accumulate: bias != nil, tileRows: tileRows, precision: .bf16)
        let expectedY = try reference.tensor("nf4.\(name).y")
        #expect(Self.relative(y.data, expectedY) <= 1e-5, "\(name) y")
        let dx = Tensor(zeros: [rows, inFeatures])
        quantized.multiplyTransposed(dy.data, rows: rows, into: dx.data, tileRows: tileRows, precision: .bf16)
        let expectedDX = try reference.tensor("nf4.\(name).dx")
        #expect(Self.relative(dx.data, expectedDX) <= 1e-5, "\(name) dx")

        // Through the layer with `precision`; in fp32 the same layer differs at the bf16 rounding level.
        linear.precision = .bf16
        linear.forward(x.data, rows: rows, into: y.data)
        #expect(Self.relative(y.data, expectedY) <= 1e-5, "\(name) layer y")
        linear.precision = .fp32
        linear.forward(x.data, rows: rows, into: y.data)
        #expect(Self.relative(y.data, expectedY) > 1e-4, "\(name): fp32 should differ from the bf16 reference")
    }

    @Test func linearLayerUsesBF16OnlyWhileFrozen() throws {
        let reference = try ReferenceTensors("bf16/expected.safetensors")
        let x = try reference.tensor("linear.odd.x"), weight = try reference.tensor("linear.odd.weight")
        let linear = Linear(name: "odd", weight: weight.copy(), bias: try reference.tensor("linear.odd.bias"))
        linear.precision = .bf16
        let y = Tensor(zeros: [x.shape[0], weight.shape[0]])
        linear.forward(x.data, rows: x.shape[0], into: y.data)
        #expect(Self.relative(y.data, try reference.tensor("linear.odd.y")) <= 1e-5)
        // A weight that trains computes in fp32, whatever the precision.
        linear.weightGradient = Tensor(zeros: weight.shape)
        linear.forward(x.data, rows: x.shape[0], into: y.data)
        let exact = linear.referenceForward(x.array, rows: x.shape[0])
        #expect(Self.relative(y.data, Tensor(exact, shape: y.shape)) <= 1e-5)
        // Frozen again after its values changed: the new values are rounded, not the old packing.
        linear.weightGradient = nil
        linear.weight.data[0] += 1
        linear.weightValuesChanged()
        linear.forward(x.data, rows: x.shape[0], into: y.data)
        let moved = Linear(name: "moved", weight: linear.weight, bias: linear.bias)
        let fp32 = Tensor(zeros: y.shape)
        moved.forward(x.data, rows: x.shape[0], into: fp32.data)
        #expect(Self.relative(y.data, fp32) < 1e-2)
        #expect(abs(y[0] - fp32[0]) < 0.05, "the changed weight is used")
    }

    @Test func miniLMMatchesTorchWithEveryLinearRounded() throws {
        let reference = try ReferenceTensors("bf16/expected.safetensors")
        let encoder = try EncoderLoader.load(folder: try TestPaths.model("all-MiniLM-L6-v2"), task: .embed)
        try encoder.setFrozenPrecision(.bf16)
        let shape = reference.shape("minilm.input_ids")
        let batch = EncoderBatch(batchSize: shape[0], sequenceLength: shape[1], ids: try reference.int32s("minilm.input_ids"),
                                 attentionMask: try reference.int32s("minilm.attention_mask"),
                                 typeIds: [Int32](repeating: 0, count: shape[0] * shape[1]))
        let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
        try encoder.forward(batch, activations: activations)
        let hidden = activations.hiddenState(encoder.config.layerCount)
        let bf16 = try reference.tensor("minilm.hidden_bf16"), fp32 = try reference.tensor("minilm.hidden_fp32")
        func meanDifference(_ a: UnsafePointer<Float>, _ b: Tensor) -> Float {
            (0..<b.count).reduce(Float(0)) { $0 + abs(a[$1] - b[$1]) } / Float(b.count)
        }
        // Every operation matches torch given the same operands (the layer tests above), but a last-bit
        // difference before a bf16 rounding moves that operand by a whole bf16 step, and six layers spread
        // such steps until two bf16 runs differ almost as much as bf16 differs from fp32. So the model is
        // held to what bf16 does in torch: its distance from fp32 is torch's own, within a factor of 1.5.
        let finchEffect = meanDifference(hidden, fp32), torchEffect = meanDifference(bf16.data, fp32)
        #expect(finchEffect <= 1.5 * torchEffect && finchEffect >= torchEffect / 1.5,
                "mean |Δ| to fp32: Finch bf16 \(finchEffect), torch bf16 \(torchEffect)")
        #expect(maxAbsoluteDifference(hidden, bf16).value <= 0.05)
        // In fp32 the same model matches torch's fp32 output closely.
        try encoder.setFrozenPrecision(.fp32)
        try encoder.forward(batch, activations: activations)
        #expect(maxAbsoluteDifference(activations.hiddenState(encoder.config.layerCount), fp32).value <= 2e-5)
    }
}
