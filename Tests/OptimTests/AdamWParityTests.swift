import Foundation
import Testing
import FinchOptim
import FinchTensor
import TestSupport

/// Replays the 50 Trainer steps of each reference case (clip, AdamW step with the schedule's rate) and
/// compares with torch after every step: parameters to 1e-5 absolute (values of magnitude ~1 to 3),
/// learning rates to 1e-7 relative, pre-clip norms to 1e-6 relative, and the final optimizer state.
@Suite struct AdamWParityTests {
    @Test func casesFileListsTheExpectedCases() throws {
        #expect(try OptimReference.cases().map { $0["name"] as? String } == OptimReference.caseNames)
    }

    @Test(arguments: OptimReference.caseNames)
    func trajectoryMatchesTorch(_ name: String) throws {
        let reference = try OptimReference.load(name)
        #expect(reference.schedule.warmupSteps == reference.warmupSteps)
        let parameters = try reference.parameters.map { spec in
            Parameter(name: spec.name, value: try reference.tensors.tensor("\(spec.name).initial").copy(),
                      gradient: Tensor(zeros: spec.shape), decays: spec.decays)
        }
        let gradients = try parameters.map { try reference.tensors.tensor("\($0.name).gradients") }
        let trajectories = try parameters.map { try reference.tensors.tensor("\($0.name).trajectory") }
        let norms = try reference.tensors.tensor("grad_norm")
        let optimizer = try AdamW(parameters: parameters, weightDecay: reference.weightDecay, beta1: reference.beta1,
                                  beta2: reference.beta2, epsilon: reference.epsilon)

        var worst = (parameter: Float(0), rate: 0.0, norm: 0.0)
        for step in 0..<reference.steps {
            for (index, parameter) in parameters.enumerated() {
                let count = parameter.gradient.count
                parameter.gradient.data.update(from: gradients[index].data + step * count, count: count)
            }
            let norm = GradientClipping.clip(parameters, maxNorm: reference.maxNorm ?? .infinity)
            worst.norm = max(worst.norm, relativeDifference(norm, Double(norms[step])))
            let rate = reference.schedule.rate(at: step)
            worst.rate = max(worst.rate, relativeDifference(rate, reference.rates[step]))
            optimizer.step(learningRate: rate)
            for (index, parameter) in parameters.enumerated() {
                let expected = OptimReference.row(trajectories[index], step, shape: parameter.value.shape)
                let difference = maxAbsoluteDifference(parameter.value.data, expected)
                #expect(difference.value <= 1e-5, "\(name) step \(step) \(parameter.name)[\(difference.index)]")
                worst.parameter = max(worst.parameter, difference.value)
            }
        }
        #expect(worst.norm <= 1e-6)
        #expect(worst.rate <= 1e-7)
        print("\(name): max |Δparameter| \(worst.parameter), max relative Δlr \(worst.rate), max relative Δnorm \(worst.norm)")

        let state = optimizer.state()
        for (key, tensor) in state {
            let expected = try reference.tensors.tensor("state.\(key)")
            #expect(tensor.shape == expected.shape, "\(key)")
            let scale = (0..<expected.count).map { abs(expected[$0]) }.max() ?? 0
            let difference = maxAbsoluteDifference(tensor.data, expected)
            #expect(difference.value <= 1e-5 * scale, "\(name) state \(key)[\(difference.index)]")
        }
        #expect(state.count == 3 * parameters.count)
    }

    /// torch's final state (0-dimensional float steps, as `optimizer.state_dict()` holds them) loads as is.
    @Test func loadsTorchState() throws {
        let reference = try OptimReference.load("cosine")
        let parameters = reference.parameters.map {
            Parameter(name: $0.name, value: Tensor(zeros: $0.shape), gradient: Tensor(zeros: $0.shape), decays: $0.decays)
        }
        let optimizer = try AdamW(parameters: parameters)
        var state: [String: Tensor] = [:]
        for key in reference.tensors.file.names where key.hasPrefix("state.") {
            state[String(key.dropFirst("state.".count))] = try reference.tensors.tensor(key)
        }
        try optimizer.load(state: state)
        #expect(optimizer.stepCounts == Array(repeating: reference.steps, count: parameters.count))
        for (key, tensor) in optimizer.state() {
            #expect(tensor.array == state[key]!.array, "\(key)")
        }
    }
}
