import Foundation
import Testing
@testable import FinchOptim
import FinchTensor
import TestSupport

/// PagedAdamW: torch's AdamW numbers, bit for bit, with its moments in a file mapping that leaves the
/// resident set after each step.
@Suite struct PagedAdamWTests {
    /// The torch reference trajectory of a case with clipping and weight decay, replayed by AdamW and by
    /// PagedAdamW side by side: identical at every step, and within AdamW's tolerance of torch.
    @Test func equalsAdamWBitForBit() throws {
        let reference = try OptimReference.load("cosine")
        func fresh() throws -> [Parameter] {
            try reference.parameters.map { spec in
                Parameter(name: spec.name, value: try reference.tensors.tensor("\(spec.name).initial").copy(),
                          gradient: Tensor(zeros: spec.shape), decays: spec.decays)
            }
        }
        let plain = try fresh(), paged = try fresh()
        let gradients = try plain.map { try reference.tensors.tensor("\($0.name).gradients") }
        let adamw = try AdamW(parameters: plain, weightDecay: reference.weightDecay)
        let pagedAdamW = try PagedAdamW(parameters: paged, weightDecay: reference.weightDecay)
        for step in 0..<reference.steps {
            for parameters in [plain, paged] {
                for (parameter, gradient) in zip(parameters, gradients) {
                    parameter.gradient.data.update(from: gradient.data + step * parameter.gradient.count, count: parameter.gradient.count)
                }
                _ = GradientClipping.clip(parameters, maxNorm: reference.maxNorm ?? .infinity)
            }
            let rate = reference.schedule.rate(at: step)
            adamw.step(learningRate: rate)
            pagedAdamW.step(learningRate: rate)
            for (a, b) in zip(plain, paged) {
                #expect(a.value.array == b.value.array, "step \(step + 1) \(a.name)")
                let expected = OptimReference.row(try reference.tensors.tensor("\(a.name).trajectory"), step, shape: a.value.shape)
                #expect(maxAbsoluteDifference(b.value.data, expected).value <= 1e-5, "step \(step + 1) \(a.name)")
            }
        }
        let (plainState, pagedState) = (adamw.state(), pagedAdamW.checkpointState())
        #expect(Set(plainState.keys) == Set(pagedState.keys))
        for (key, tensor) in plainState {
            guard case let .float(other) = pagedState[key] else { Issue.record("\(key) missing"); continue }
            #expect(tensor.array == other.array, "\(key)")
        }
    }

    /// After a step the moments are in the resident set; after the step's release they are not (the mapping's
    /// Rss in /proc/self/smaps falls to ~0), while AdamW's moments stay resident. The values survive the release.
    @Test func releasedMomentsLeaveTheResidentSet() throws {
        let count = 1 << 20  // 4 MiB per moment
        func parameter() -> Parameter {
            let p = Parameter(name: "w", value: Tensor(zeros: [count]), gradient: Tensor(zeros: [count]), decays: true)
            for i in 0..<count { p.gradient.data[i] = Float(i % 97) * 1e-3 - 0.04 }
            return p
        }
        let paged = try PagedAdamW(parameters: [parameter()])
        paged.releasesPagesAfterStep = false
        paged.step(learningRate: 1e-3)
        let momentBytes = 8 * count
        let before = try residentBytes(of: paged.mappedAddress)
        #expect(before >= momentBytes * 9 / 10, "\(before) of \(momentBytes) bytes resident after a step")
        let stateBefore = paged.checkpointState()
        paged.releaseResidentPages()
        let after = try residentBytes(of: paged.mappedAddress)
        #expect(after <= momentBytes / 100, "\(after) bytes still resident after the release")
        guard case let .float(m0) = stateBefore["w.exp_avg"], case let .float(m1) = paged.checkpointState()["w.exp_avg"] else {
            Issue.record("no exp_avg")
            return
        }
        #expect(m0.array == m1.array)
        #expect(paged.stateBytes == OptimizerStateBytes(resident: momentBytes, mapped: momentBytes))

        let plain = try AdamW(parameters: [parameter()])
        plain.step(learningRate: 1e-3)
        let plainResident = try residentBytes(of: UnsafeMutableRawPointer(plain.firstMoments[0].data))
        #expect(plainResident >= 4 * count * 9 / 10, "AdamW's first moment: \(plainResident) bytes resident")
        print("PagedAdamW: moments \(momentBytes) bytes; resident after a step \(before), after release \(after); AdamW's first-moment mapping \(plainResident)")
    }

    @Test func aFolderThatDoesNotExistIsNamed() throws {
        let p = Parameter(name: "w", value: Tensor(zeros: [8]), gradient: Tensor(zeros: [8]), decays: true)
        let error = #expect(throws: OptimizerError.self) { try PagedAdamW(parameters: [p], folder: "/nonexistent-finch-folder") }
        #expect(error?.description.hasPrefix("/nonexistent-finch-folder: cannot create the paged optimizer's file") == true)
    }
}

/// The Rss of the mapping in /proc/self/smaps that contains `address`.
func residentBytes(of address: UnsafeMutableRawPointer) throws -> Int {
    let target = UInt(bitPattern: address)
    // procfs files report size 0, so read to the end rather than by size.
    guard let handle = FileHandle(forReadingAtPath: "/proc/self/smaps") else { throw MissingFixture("no /proc/self/smaps") }
    defer { try? handle.close() }
    let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    var inside = false
    for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
            let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
            inside = bounds.count == 2 && bounds[0] <= target && target < bounds[1]
        } else if inside, fields.first == "Rss:", fields.count >= 2, let kilobytes = Int(fields[1]) {
            return kilobytes * 1024
        }
    }
    throw MissingFixture("no mapping in /proc/self/smaps holds \(address)")
}
