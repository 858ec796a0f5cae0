import Foundation
import Testing
@testable import FinchModels
import FinchCheckpoint
import FinchTensor

/// Finite-difference checks of each op's backward: loss = Σ y ⊙ G for a fixed random G, so dy = G;
/// every input and parameter gradient is compared with central differences of the forward pass.
@Suite struct GradientCheckTests {
    static func random(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
        var rng = SeededRandom(seed: seed)
        let t = Tensor(zeros: shape)
        rng.fillNormal(t, std: std)
        return t
    }

    /// Central-difference gradient of `loss` with respect to every element of `tensor`.
    static func numericalGradient(of tensor: Tensor, epsilon: Float = 1e-2, loss: () -> Double) -> [Double] {
        (0..<tensor.count).map { i in
            let saved = tensor[i]
            tensor[i] = saved + epsilon
            let plus = loss()
            tensor[i] = saved - epsilon
            let minus = loss()
            tensor[i] = saved
            return (plus - minus) / (2 * Double(epsilon))
        }
    }

    static func expectClose(_ analytic: [Float], _ numeric: [Double], _ what: String, tolerance: Double = 2e-2) {
        let scale = max(numeric.map(abs).max() ?? 1, 1e-2)
        let worst = zip(analytic, numeric).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(worst / scale < tolerance, "\(what): max |analytic − numeric| = \(worst) (scale \(scale))")
    }

    static func dot(_ y: UnsafePointer<Float>, _ g: Tensor) -> Double {
        (0..<g.count).reduce(0.0) { $0 + Double(y[$1]) * Double(g[$1]) }
    }

    @Test func linear() {
        let layer = Linear(name: "l", weight: Self.random([4, 6], seed: 1), bias: Self.random([4], seed: 2))
        layer.weightGradient = Tensor(zeros: [4, 6])
        layer.biasGradient = Tensor(zeros: [4])
        let x = Self.random([3, 6], seed: 3), g = Self.random([3, 4], seed: 4)
        let y = Tensor(zeros: [3, 4]), dx = Tensor(zeros: [3, 6])
        let loss = { layer.forward(x.data, rows: 3, into: y.data); return Self.dot(y.data, g) }
        layer.backward(x.data, outputGradient: g.data, rows: 3, inputGradient: dx.data)
        Self.expectClose(dx.array, Self.numericalGradient(of: x, loss: loss), "dx")
        Self.expectClose(layer.weightGradient!.array, Self.numericalGradient(of: layer.weight, loss: loss), "dW")
        Self.expectClose(layer.biasGradient!.array, Self.numericalGradient(of: layer.bias!, loss: loss), "db")
    }

    @Test func layerNorm() {
        let norm = LayerNorm(name: "n", weight: Self.random([7], seed: 5), bias: Self.random([7], seed: 6), epsilon: 1e-5)
        norm.weightGradient = Tensor(zeros: [7])
        norm.biasGradient = Tensor(zeros: [7])
        let x = Self.random([3, 7], seed: 7, std: 2), g = Self.random([3, 7], seed: 8)
        let y = Tensor(zeros: [3, 7]), dx = Tensor(zeros: [3, 7]), mean = Tensor(zeros: [3]), rstd = Tensor(zeros: [3])
        let loss = { norm.forward(x.data, rows: 3, into: y.data); return Self.dot(y.data, g) }
        norm.forward(x.data, rows: 3, into: y.data, mean: mean.data, rstd: rstd.data)
        norm.backward(x.data, outputGradient: g.data, rows: 3, mean: mean.data, rstd: rstd.data, inputGradient: dx.data)
        Self.expectClose(dx.array, Self.numericalGradient(of: x, loss: loss), "dx")
        Self.expectClose(norm.weightGradient!.array, Self.numericalGradient(of: norm.weight, loss: loss), "dγ")
        Self.expectClose(norm.biasGradient!.array, Self.numericalGradient(of: norm.bias, loss: loss), "dβ")
    }

    @Test func gelu() {
        let x = Self.random([37], seed: 9, std: 2), g = Self.random([37], seed: 10)
        let y = Tensor(zeros: [37])
        let loss = { y.data.update(from: x.data, count: 37); Kernels.geluInPlace(y.data, count: 37); return Self.dot(y.data, g) }
        let dx = g.copy()
        Kernels.geluBackward(input: x.data, gradient: dx.data, count: 37)
        Self.expectClose(dx.array, Self.numericalGradient(of: x, epsilon: 1e-3, loss: loss), "dx")
    }

    /// Attention with a right-padded row, a fully real row and a non-prefix mask row.
    @Test(arguments: [[1, 1, 1, 0, 0, 1, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1, 1, 1, 1, 1]] as [[Int32]])
    func selfAttention(maskValues: [Int32]) {
        let (batch, seq, hidden, heads) = (2, 5, 12, 3)
        let linears = (0..<4).map { i in
            Linear(name: "p\(i)", weight: Self.random([hidden, hidden], seed: 20 + UInt64(i), std: 0.4),
                   bias: Self.random([hidden], seed: 30 + UInt64(i), std: 0.1))
        }
        for l in linears { l.weightGradient = Tensor(zeros: l.weight.shape); l.biasGradient = Tensor(zeros: [hidden]) }
        let attention = SelfAttention(query: linears[0], key: linears[1], value: linears[2], output: linears[3], headCount: heads)
        let mask = AttentionMask(batch: batch, sequence: seq, values: maskValues)
        let saved = AttentionBuffers(tokens: batch * seq, hidden: hidden, batch: batch, heads: heads, sequence: seq)
        let scratch = AttentionGradientBuffers(tokens: batch * seq, hidden: hidden, sequence: seq)
        let x = Self.random([batch * seq, hidden], seed: 11), g = Self.random([batch * seq, hidden], seed: 12)
        let y = Tensor(zeros: [batch * seq, hidden]), dx = Tensor(zeros: [batch * seq, hidden])
        let loss = { attention.forward(x.data, mask: mask, saved: saved, into: y.data); return Self.dot(y.data, g) }
        _ = loss()
        attention.backward(x.data, outputGradient: g.data, mask: mask, saved: saved, scratch: scratch, inputGradient: dx.data)
        Self.expectClose(dx.array, Self.numericalGradient(of: x, loss: loss), "dx")
        for (i, l) in linears.enumerated() {
            Self.expectClose(l.weightGradient!.array, Self.numericalGradient(of: l.weight, loss: loss), "dW\(i)")
            Self.expectClose(l.biasGradient!.array, Self.numericalGradient(of: l.bias!, loss: loss), "db\(i)")
        }
    }

    /// A frozen linear layer computes only the input gradient: its weight gradient stays absent.
    @Test func frozenWeightsGetNoWeightGradient() {
        let layer = Linear(name: "l", weight: Self.random([2, 3], seed: 1), bias: nil)
        let x = Self.random([2, 3], seed: 2), g = Self.random([2, 2], seed: 3), dx = Tensor(zeros: [2, 3])
        layer.backward(x.data, outputGradient: g.data, rows: 2, inputGradient: dx.data)
        #expect(layer.weightGradient == nil)
        #expect(dx.array.contains { $0 != 0 })
    }
}

/// The fast forward passes against their naive Double references.
@Suite struct NaiveReferenceTests {
    @Test(arguments: [(3, 7, 5), (16, 33, 21), (1, 384, 384)])
    func linearMatchesTripleLoop(rows: Int, inFeatures: Int, outFeatures: Int) {
        let layer = Linear(name: "l", weight: GradientCheckTests.random([outFeatures, inFeatures], seed: 1),
                           bias: GradientCheckTests.random([outFeatures], seed: 2))
        let x = GradientCheckTests.random([rows, inFeatures], seed: 3)
        let y = Tensor(zeros: [rows, outFeatures])
        layer.forward(x.data, rows: rows, into: y.data)
        let expected = layer.referenceForward(x.array, rows: rows)
        #expect(zip(y.array, expected).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
    }

    @Test(arguments: [1, 7, 16, 30, 384])
    func layerNormMatchesDefinition(size: Int) {
        let norm = LayerNorm(name: "n", weight: GradientCheckTests.random([size], seed: 4),
                             bias: GradientCheckTests.random([size], seed: 5), epsilon: 1e-12)
        let x = GradientCheckTests.random([3, size], seed: 6, std: 4)
        let y = Tensor(zeros: [3, size])
        norm.forward(x.data, rows: 3, into: y.data)
        let expected = norm.referenceForward(x.array, rows: 3)
        #expect(zip(y.array, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }
}
