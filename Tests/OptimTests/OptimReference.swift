import Foundation
import FinchOptim
import FinchTensor
import TestSupport

/// What Tests/Reference/optim_reference.py recorded in `.reference/optim/` (see Tests/Reference/README.md).
enum OptimReference {
    /// The trajectory cases the script writes, in its order (a test checks that cases.json agrees).
    static let caseNames = [
        "constant", "constant_with_warmup", "linear-warmup-steps", "linear-warmup-ratio", "cosine",
        "cosine_with_restarts", "polynomial", "large-lr-wd",
    ]

    /// One entry of cases.json.
    struct Case {
        let name: String
        let schedule: LearningRateSchedule
        let warmupSteps: Int
        let weightDecay: Double
        let beta1: Double
        let beta2: Double
        let epsilon: Double
        let maxNorm: Double?
        let rates: [Double]
        let parameters: [(name: String, shape: [Int], decays: Bool)]
        let tensors: ReferenceTensors

        var steps: Int { rates.count }
    }

    static func cases() throws -> [[String: Any]] {
        guard let cases = try referenceJSON("optim/cases.json") as? [[String: Any]] else {
            throw MissingFixture("optim/cases.json is not a list of cases; rerun Tests/Reference/optim_reference.py")
        }
        return cases
    }

    static func load(_ name: String) throws -> Case {
        guard let entry = try cases().first(where: { $0["name"] as? String == name }) else {
            throw MissingFixture("optim/cases.json has no case \"\(name)\"; rerun Tests/Reference/optim_reference.py")
        }
        let kind = try kind(entry["schedule"] as! String, kwargs: entry["kwargs"] as! [String: Any])
        let schedule = try LearningRateSchedule(kind: kind, baseRate: entry["base_rate"] as! Double,
                                                warmup: warmup(entry["warmup"] as! [String: Any]),
                                                totalSteps: entry["total_steps"] as! Int)
        let betas = entry["betas"] as! [Double]
        let parameters = (entry["parameters"] as! [[String: Any]]).map {
            (name: $0["name"] as! String, shape: $0["shape"] as! [Int], decays: $0["decays"] as! Bool)
        }
        return Case(name: name, schedule: schedule, warmupSteps: entry["warmup_steps"] as! Int,
                    weightDecay: entry["weight_decay"] as! Double, beta1: betas[0], beta2: betas[1],
                    epsilon: entry["eps"] as! Double, maxNorm: entry["max_norm"] as? Double,
                    rates: entry["rates"] as! [Double], parameters: parameters,
                    tensors: try ReferenceTensors("optim/\(name).safetensors"))
    }

    /// The schedule kind that `get_scheduler(name, scheduler_specific_kwargs=kwargs)` builds.
    static func kind(_ name: String, kwargs: [String: Any]) throws -> LearningRateSchedule.Kind {
        switch try LearningRateSchedule.Kind(name: name) {
        case .cosine(let cycles):
            return .cosine(cycles: kwargs["num_cycles"] as? Double ?? cycles)
        case .cosineWithRestarts(let cycles):
            return .cosineWithRestarts(cycles: kwargs["num_cycles"] as? Int ?? cycles)
        case .polynomial(let endRate, let power):
            return .polynomial(endRate: kwargs["lr_end"] as? Double ?? endRate, power: kwargs["power"] as? Double ?? power)
        case let kind:
            return kind
        }
    }

    /// `{"steps": n}` or `{"ratio": r}`.
    static func warmup(_ entry: [String: Any]) -> LearningRateSchedule.Warmup {
        if let ratio = entry["ratio"] as? Double { return .ratio(ratio) }
        return .steps(entry["steps"] as! Int)
    }

    /// `count` floats of `tensor` starting at row `row` of its first dimension, as a fresh tensor of `shape`.
    static func row(_ tensor: Tensor, _ row: Int, shape: [Int]) -> Tensor {
        let result = Tensor(zeros: shape)
        result.data.update(from: tensor.data + row * result.count, count: result.count)
        return result
    }
}

/// |a − b| / |b|, or |a − b| when b is 0. (Foundation's JSON parser on Linux can be 1 ulp off the
/// written double, so schedule values read from JSON differ by ~1e-16 even where Finch is bit-exact.)
func relativeDifference(_ a: Double, _ b: Double) -> Double {
    b == 0 ? abs(a) : abs(a - b) / abs(b)
}
