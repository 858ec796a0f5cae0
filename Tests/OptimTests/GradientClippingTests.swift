import Foundation
import Testing
import FinchOptim
import FinchTensor

@Suite struct GradientClippingTests {
    func parameter(_ gradient: [Float]) -> Parameter {
        Parameter(name: "p", value: Tensor(zeros: [gradient.count]), gradient: Tensor(gradient, shape: [gradient.count]), decays: true)
    }

    @Test func clipsToMaxNormAcrossParameters() {
        let a = parameter([3, 0]), b = parameter([0, 4])
        let norm = GradientClipping.clip([a, b], maxNorm: 1)
        #expect(norm == 5)
        #expect(abs(GradientClipping.globalNorm([a, b]) - 1) < 1e-6)
        #expect(abs(a.gradient[0] - Float(3 / (5 + 1e-6))) < 1e-7)
    }

    @Test func leavesSmallGradientsAlone() {
        let a = parameter([0.3, 0.4])
        #expect(abs(GradientClipping.clip([a], maxNorm: 1) - 0.5) < 1e-7)
        #expect(a.gradient.array == [0.3, 0.4])
    }

    /// Long enough for the SIMD loop and a tail: the Double sum of squares, and the scaled gradients.
    @Test func globalNormOverVectorAndTail() {
        let values = (0..<37).map { Float(sin(Double($0) * 1.3)) }
        let a = parameter(values), b = parameter([2, -1])
        let squares: Double = values.map { Double($0) * Double($0) }.reduce(0, +)
        let expected = (squares + 5).squareRoot()
        #expect(abs(GradientClipping.globalNorm([a, b]) - expected) < 1e-12)
        GradientClipping.clip([a, b], maxNorm: 0.5)
        #expect(abs(GradientClipping.globalNorm([a, b]) - 0.5) < 1e-6)
        #expect(abs(a.gradient[36] - values[36] * Float(0.5 / (expected + 1e-6))) < 1e-7)
    }

    @Test func infiniteMaxNormOnlyMeasures() {
        let a = parameter([30, 40])
        #expect(GradientClipping.clip([a], maxNorm: .infinity) == 50)
        #expect(a.gradient.array == [30, 40])
    }

    /// As torch: a NaN norm gives a NaN factor (clamp keeps NaN), which reaches every gradient.
    @Test func nanNormPropagatesLikeTorch() {
        let a = parameter([.nan, 1]), b = parameter([3])
        #expect(GradientClipping.clip([a, b], maxNorm: 1).isNaN)
        #expect(b.gradient[0].isNaN)
    }
}
