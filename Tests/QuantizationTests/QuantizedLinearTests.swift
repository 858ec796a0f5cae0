import Foundation
import Testing
import FinchModels
@testable import FinchPEFT
import FinchQuantization
import FinchTensor
import TestSupport

/// A seeded normal tensor.
func randomTensor(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var random = SeededRandom(seed: seed)
    let tensor = Tensor(zeros: shape)
    random.fillNormal(tensor, std: std)
    return tensor
}

/// max |a − b| / max(1, max |b|).
func relativeDifference(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var worst: Float = 0, scale: Float = 1
    for i in 0..<count {
        worst = max(worst, abs(a[i] - b[i]))
        scale = max(scale, abs(b[i]))
    }
    return worst / scale
}

/// The 4-bit linear layer against an fp32 layer holding its dequantized weight: forward, backward and every
/// adapter on top. The weight is [300, 200]: 64-value blocks straddle rows and 300 rows are not a multiple
/// of the 128-row tile.
@Suite struct QuantizedLinearTests {
    static let (outFeatures, inFeatures, rows) = (300, 200, 9)

    /// A quantized layer and an fp32 layer with its dequantized weight and the same bias.
    static func layers(_ format: FourBitFormat = .qlora) throws -> (quantized: Linear, dense: Linear) {
        let bias = randomTensor([outFeatures], seed: 2, std: 0.1)
        let quantized = Linear(name: "q", weight: randomTensor([outFeatures, inFeatures], seed: 1, std: 0.05), bias: bias.copy())
        try quantized.quantize(format)
        return (quantized, Linear(name: "d", weight: quantized.weightCopy(), bias: bias))
    }

    @Test(arguments: [FourBitFormat.qlora, FourBitFormat(type: .fp4, blockSize: 128), FourBitFormat(type: .nf4, blockSize: 4096)])
    func forwardEqualsTheDequantizedWeight(format: FourBitFormat) throws {
        let (quantized, dense) = try Self.layers(format)
        let x = randomTensor([Self.rows, Self.inFeatures], seed: 3)
        let y = Tensor(zeros: [Self.rows, Self.outFeatures]), expected = Tensor(zeros: y.shape)
        quantized.forward(x.data, rows: Self.rows, into: y.data)
        dense.forward(x.data, rows: Self.rows, into: expected.data)
        #expect(relativeDifference(y.data, expected.data, count: y.count) <= 1e-5)
        let naive = quantized.referenceForward(x.array, rows: Self.rows)
        #expect(relativeDifference(y.data, naive, count: y.count) <= 1e-5)
        // Without the dequantization the layer would differ at the 1e-2 level: the comparison can fail.
        let original = Linear(name: "o", weight: randomTensor([Self.outFeatures, Self.inFeatures], seed: 1, std: 0.05), bias: dense.bias)
        original.forward(x.data, rows: Self.rows, into: expected.data)
        #expect(relativeDifference(y.data, expected.data, count: y.count) > 1e-3)
    }

    @Test func backwardInputGradientEqualsTheDequantizedWeight() throws {
        let (quantized, dense) = try Self.layers()
        let x = randomTensor([Self.rows, Self.inFeatures], seed: 3), dy = randomTensor([Self.rows, Self.outFeatures], seed: 4)
        let dx = Tensor(zeros: x.shape), expected = Tensor(zeros: x.shape)
        quantized.backward(x.data, outputGradient: dy.data, rows: Self.rows, inputGradient: dx.data)
        dense.backward(x.data, outputGradient: dy.data, rows: Self.rows, inputGradient: expected.data)
        #expect(relativeDifference(dx.data, expected.data, count: dx.count) <= 1e-5)
        // accumulateInput adds to what dx holds.
        let accumulated = Tensor([Float](repeating: 1, count: dx.count), shape: dx.shape)
        quantized.backward(x.data, outputGradient: dy.data, rows: Self.rows, inputGradient: accumulated.data, accumulateInput: true)
        for i in 0..<dx.count { expected[i] += 1 }
        #expect(relativeDifference(accumulated.data, expected.data, count: dx.count) <= 1e-5)
        // The bias still trains on a frozen 4-bit weight: db = Σ_rows dy.
        quantized.biasGradient = Tensor(zeros: [Self.outFeatures])
        quantized.backward(x.data, outputGradient: dy.data, rows: Self.rows, inputGradient: nil)
        let column = (0..<Self.rows).reduce(Float(0)) { $0 + dy[$1 * Self.outFeatures + 7] }
        #expect(abs(quantized.biasGradient![7] - column) <= 1e-5)
    }

    /// Any tile height gives the naive product: one row at a time, rows not dividing 300, the whole matrix.
    @Test(arguments: [1, 7, 64, 128, 1000])
    func productsAreTheNaiveProductForAnyTile(tileRows: Int) throws {
        let (quantized, dense) = try Self.layers()
        let weight = try #require(quantized.quantized)
        let x = randomTensor([Self.rows, Self.inFeatures], seed: 3), dy = randomTensor([Self.rows, Self.outFeatures], seed: 4)
        let y = Tensor(zeros: [Self.rows, Self.outFeatures]), dx = Tensor(zeros: x.shape), expected = Tensor(zeros: x.shape)
        weight.multiply(x.data, rows: Self.rows, into: y.data, tileRows: tileRows)
        #expect(relativeDifference(y.data, weight.referenceMultiply(x.array, rows: Self.rows), count: y.count) <= 1e-5)
        weight.multiplyTransposed(dy.data, rows: Self.rows, into: dx.data, tileRows: tileRows)
        dense.inputGradientProduct(dy.data, rows: Self.rows, into: expected.data)
        #expect(relativeDifference(dx.data, expected.data, count: dx.count) <= 1e-5)
    }

    @Test func defaultTilesFitTheScratchBudgetEvenly() throws {
        func tile(_ out: Int, _ inner: Int) throws -> Int {
            try FourBitTensor(quantizing: [Float](repeating: 1, count: out * inner), shape: [out, inner], format: .qlora).defaultTileRows
        }
        #expect(try tile(1536, 384) == 768 && tile(384, 1536) == 192 && tile(300, 200) == 300)
        #expect(try tile(1000, 1024) == 500 && tile(10, 4096) == 10)
        #expect(try tile(1000, 1024) * 1024 <= FourBitTensor.scratchBudget)
    }

    @Test func productsAccumulateOnRequest() throws {
        let (quantized, dense) = try Self.layers()
        let x = randomTensor([Self.rows, Self.inFeatures], seed: 5)
        let y = Tensor([Float](repeating: 2, count: Self.rows * Self.outFeatures), shape: [Self.rows, Self.outFeatures])
        let expected = Tensor([Float](repeating: 2, count: y.count), shape: y.shape)
        quantized.weightProduct(x.data, rows: Self.rows, into: y.data, accumulate: true)
        dense.weightProduct(x.data, rows: Self.rows, into: expected.data, accumulate: true)
        #expect(relativeDifference(y.data, expected.data, count: y.count) <= 1e-5)
        quantized.weightProduct(x.data, rows: Self.rows, into: y.data)
        dense.weightProduct(x.data, rows: Self.rows, into: expected.data)
        #expect(relativeDifference(y.data, expected.data, count: y.count) <= 1e-5)
    }

    @Test func quantizingFreesTheFp32WeightAndDequantizingPutsItBack() throws {
        let (quantized, _) = try Self.layers()
        #expect(quantized.isQuantized && quantized.weight.count == 0)
        #expect(quantized.outFeatures == Self.outFeatures && quantized.inFeatures == Self.inFeatures)
        // 30,000 bytes of codes, 938 block codes, 4 nested absmax and the offset.
        #expect(quantized.weightByteCount == 30_000 + 938 + 4 * 4 + 4)
        let values = quantized.quantized!.dequantized()
        quantized.dequantize()
        #expect(!quantized.isQuantized && quantized.weight.array == values.array)
        // Assigning an fp32 weight replaces a 4-bit one.
        try quantized.quantize(.qlora)
        quantized.weight = values.copy()
        #expect(!quantized.isQuantized && quantized.weightByteCount == 4 * values.count)
    }

    @Test func aWeightThatTrainsCannotBeQuantized() throws {
        let layer = Linear(name: "t", weight: randomTensor([8, 64], seed: 1), bias: nil)
        layer.weightGradient = Tensor(zeros: [8, 64])
        #expect(throws: ModelError.self) { try layer.quantize(.qlora) }
        #expect(!layer.isQuantized)
    }

    /// LoRA, rsLoRA and DoRA (with and without dropout) on a 4-bit base give what they give on the
    /// dequantized fp32 base: output, input gradient and every adapter gradient.
    @Test(arguments: ["lora", "rslora", "dora", "dora-rslora-dropout"])
    func adaptersOnA4BitBaseMatchTheDequantizedBase(kind: String) throws {
        let (quantized, dense) = try Self.layers()
        func adapter() -> LoRAAdapter {
            var random = SeededRandom(seed: 7)
            let adapter = LoRAAdapter(inFeatures: Self.inFeatures, outFeatures: Self.outFeatures, rank: 4, alpha: 8,
                                      rankStabilized: kind.contains("rslora"), dropout: kind.contains("dropout") ? 0.1 : 0,
                                      random: &random)
            random.fillNormal(adapter.b, std: 0.1)
            adapter.isTraining = true
            return adapter
        }
        let (a, b) = (adapter(), adapter())
        quantized.adapter = a
        dense.adapter = b
        if kind.hasPrefix("dora") {
            a.enableDoRA(base: quantized)
            b.enableDoRA(base: dense)
            #expect(relativeDifference(a.dora!.magnitude.data, b.dora!.magnitude.data, count: Self.outFeatures) <= 1e-6)
        }
        let x = randomTensor([Self.rows, Self.inFeatures], seed: 3), dy = randomTensor([Self.rows, Self.outFeatures], seed: 4)
        let (y1, y2) = (Tensor(zeros: [Self.rows, Self.outFeatures]), Tensor(zeros: [Self.rows, Self.outFeatures]))
        quantized.forward(x.data, rows: Self.rows, into: y1.data)
        dense.forward(x.data, rows: Self.rows, into: y2.data)
        #expect(relativeDifference(y1.data, y2.data, count: y1.count) <= 1e-5)
        let (dx1, dx2) = (Tensor(zeros: x.shape), Tensor(zeros: x.shape))
        quantized.backward(x.data, outputGradient: dy.data, rows: Self.rows, inputGradient: dx1.data)
        dense.backward(x.data, outputGradient: dy.data, rows: Self.rows, inputGradient: dx2.data)
        #expect(relativeDifference(dx1.data, dx2.data, count: dx1.count) <= 1e-5)
        #expect(relativeDifference(a.aGradient.data, b.aGradient.data, count: a.aGradient.count) <= 1e-5)
        #expect(relativeDifference(a.bGradient.data, b.bGradient.data, count: a.bGradient.count) <= 1e-5)
        #expect(a.aGradient.array.contains { $0 != 0 })
        if let m1 = a.dora, let m2 = b.dora {
            #expect(relativeDifference(m1.gradient.data, m2.gradient.data, count: Self.outFeatures) <= 1e-5)
        }
    }
}
