import Foundation
import Testing
import FinchOptim
import FinchTensor

@Suite struct AdamWStateTests {
    static let shapes: [(String, [Int], Bool)] = [("w", [7, 5], true), ("b", [13], false), ("v", [3, 17], true)]

    func parameters(values: [Tensor]? = nil) -> [Parameter] {
        Self.shapes.enumerated().map { index, spec in
            let value = values?[index].copy() ?? Tensor((0..<spec.1.reduce(1, *)).map { Float(sin(Double($0 + 7 * index))) }, shape: spec.1)
            return Parameter(name: spec.0, value: value, gradient: Tensor(zeros: spec.1), decays: spec.2)
        }
    }

    /// A deterministic gradient for step `step`.
    func setGradients(_ parameters: [Parameter], step: Int) {
        for (index, p) in parameters.enumerated() {
            for i in 0..<p.gradient.count {
                p.gradient[i] = Float(cos(Double(i * 31 + step * 17 + index * 5))) * 0.1
            }
        }
    }

    func run(_ optimizer: AdamW, steps: Range<Int>) {
        for step in steps {
            setGradients(optimizer.parameters, step: step)
            GradientClipping.clip(optimizer.parameters, maxNorm: 1)
            optimizer.step(learningRate: 1e-2 * Double(step + 1) / 20)
        }
    }

    @Test func exportsOneEntryPerMomentAndStep() throws {
        let optimizer = try AdamW(parameters: parameters())
        run(optimizer, steps: 0..<3)
        let state = optimizer.state()
        #expect(Set(state.keys) == Set(Self.shapes.flatMap { ["\($0.0).exp_avg", "\($0.0).exp_avg_sq", "\($0.0).step"] }))
        for (name, shape, _) in Self.shapes {
            #expect(state["\(name).exp_avg"]!.shape == shape && state["\(name).exp_avg_sq"]!.shape == shape)
            #expect(state["\(name).step"]!.shape == [] && state["\(name).step"]![0] == 3)
        }
    }

    /// Export after 10 steps, import into a fresh optimizer over copies of the parameters, continue:
    /// bit-identical to 20 uninterrupted steps.
    @Test func roundTripContinuesIdentically() throws {
        let uninterrupted = try AdamW(parameters: parameters(), weightDecay: 0.1)
        run(uninterrupted, steps: 0..<20)

        let first = try AdamW(parameters: parameters(), weightDecay: 0.1)
        run(first, steps: 0..<10)
        let saved = first.state()
        let resumed = try AdamW(parameters: parameters(values: first.parameters.map(\.value)), weightDecay: 0.1)
        try resumed.load(state: saved)
        run(first, steps: 10..<11)  // the saved state is a copy: stepping the original leaves it alone
        run(resumed, steps: 10..<20)

        for (a, b) in zip(uninterrupted.parameters, resumed.parameters) {
            #expect(a.value.array == b.value.array, "\(a.name)")
        }
        let expected = uninterrupted.state(), actual = resumed.state()
        for key in expected.keys { #expect(expected[key]!.array == actual[key]!.array, "\(key)") }
        #expect(resumed.stepCounts == [20, 20, 20])
    }

    /// Step counts are per parameter: a parameter resumed at step 6 gets the bias corrections of step 7.
    @Test func biasCorrectionUsesEachParametersOwnStep() throws {
        let p = Parameter(name: "p", value: Tensor([1, -2], shape: [2]), gradient: Tensor([0.3, -0.05], shape: [2]), decays: true)
        let q = Parameter(name: "q", value: Tensor([0.5], shape: [1]), gradient: Tensor([0.2], shape: [1]), decays: true)
        let optimizer = try AdamW(parameters: [p, q], weightDecay: 0.01)
        try optimizer.load(state: [
            "p.exp_avg": Tensor([0.1, 0.2], shape: [2]), "p.exp_avg_sq": Tensor([0.01, 0.03], shape: [2]),
            "p.step": Tensor([6], shape: []),
            "q.exp_avg": Tensor([0], shape: [1]), "q.exp_avg_sq": Tensor([0], shape: [1]), "q.step": Tensor([0], shape: [1]),
        ])
        optimizer.step(learningRate: 1e-3)
        #expect(optimizer.stepCounts == [7, 1])
        func expected(_ p0: Double, _ g: Double, _ m0: Double, _ v0: Double, step t: Double) -> Double {
            let m = 0.9 * m0 + 0.1 * g, v = 0.999 * v0 + 0.001 * g * g
            let decayed = p0 * (1 - 1e-3 * 0.01)
            return decayed - 1e-3 / (1 - pow(0.9, t)) * m / (v.squareRoot() / (1 - pow(0.999, t)).squareRoot() + 1e-8)
        }
        #expect(abs(Double(p.value[0]) - expected(1, 0.3, 0.1, 0.01, step: 7)) < 1e-6)
        #expect(abs(Double(p.value[1]) - expected(-2, -0.05, 0.2, 0.03, step: 7)) < 1e-6)
        #expect(abs(Double(q.value[0]) - expected(0.5, 0.2, 0, 0, step: 1)) < 1e-6)
    }

    @Test func rejectsStateThatDoesNotFit() throws {
        let optimizer = try AdamW(parameters: parameters())
        run(optimizer, steps: 0..<2)
        let good = optimizer.state()
        let before = optimizer.state()
        func failure(_ edit: (inout [String: Tensor]) -> Void) -> String {
            var state = good
            edit(&state)
            do { try optimizer.load(state: state); return "no error" } catch { return "\(error)" }
        }
        let cases: [(String, (inout [String: Tensor]) -> Void)] = [
            ("\"b.exp_avg\" is missing", { $0["b.exp_avg"] = nil }),
            ("\"w.step\" is missing", { $0["w.step"] = nil }),
            ("\"w.exp_avg_sq\" has shape [5, 7], the parameter has [7, 5]", { $0["w.exp_avg_sq"] = Tensor(zeros: [5, 7]) }),
            ("\"v.step\" has shape [2], expected a single number", { $0["v.step"] = Tensor([1, 2], shape: [2]) }),
            ("\"v.step\" is 2.5, not a whole number of steps", { $0["v.step"] = Tensor([2.5], shape: []) }),
            ("\"v.step\" is -1.0, not a whole number of steps", { $0["v.step"] = Tensor([-1], shape: []) }),
            ("\"b.exp_avg_sq\" has negative or NaN entries", {
                let negative = $0["b.exp_avg_sq"]!.copy()
                negative[3] = -1
                $0["b.exp_avg_sq"] = negative
            }),
            ("entries for no parameter of this optimizer: decoder.exp_avg", { $0["decoder.exp_avg"] = Tensor(zeros: [1]) }),
        ]
        for (expected, edit) in cases {
            let text = failure(edit)
            #expect(text.contains("optimizer state does not fit the 3 parameters") && text.contains(expected), "\(text)")
        }
        let several = failure { $0["w.exp_avg"] = nil; $0["b.step"] = nil }
        #expect(several.contains("\"w.exp_avg\" is missing; \"b.step\" is missing"), "\(several)")
        // Nothing was changed by the failed loads.
        let after = optimizer.state()
        for key in before.keys { #expect(before[key]!.array == after[key]!.array, "\(key)") }
        #expect(optimizer.stepCounts == [2, 2, 2])
    }

    @Test func rejectsBadHyperparametersAndDuplicateNames() {
        func message(_ body: () throws -> AdamW) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        let p = parameters()
        #expect(message { try AdamW(parameters: p, beta1: 1) }.contains("beta1 must be in [0, 1)"))
        #expect(message { try AdamW(parameters: p, beta2: -0.1) }.contains("beta2 must be in [0, 1)"))
        #expect(message { try AdamW(parameters: p, weightDecay: -1) }.contains("weight decay must be"))
        #expect(message { try AdamW(parameters: p, epsilon: .nan) }.contains("epsilon must be"))
        #expect(message { try AdamW(parameters: p + [p[0]]) }.contains("two parameters are named \"w\""))
    }
}
