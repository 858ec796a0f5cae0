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
}
