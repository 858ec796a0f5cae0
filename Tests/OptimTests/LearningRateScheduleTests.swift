import Foundation
import Testing
import FinchOptim
import TestSupport

@Suite struct LearningRateScheduleTests {
    /// Every schedule in schedules.json (each kind, warmups as steps and as ratios, three run lengths),
    /// at every step 0...total, to 1e-7 relative.
    @Test func matchesTransformersAtEveryStep() throws {
        guard let table = try referenceJSON("optim/schedules.json") as? [String: Any],
              let schedules = table["schedules"] as? [[String: Any]], !schedules.isEmpty else {
            throw MissingFixture("optim/schedules.json has no schedules; rerun Tests/Reference/optim_reference.py")
        }
        var worst = 0.0, values = 0
        for entry in schedules {
            let kind = try OptimReference.kind(entry["kind"] as! String, kwargs: entry["kwargs"] as! [String: Any])
            let warmup = OptimReference.warmup(entry["warmup"] as! [String: Any])
            let total = entry["total_steps"] as! Int
            let schedule = try LearningRateSchedule(kind: kind, baseRate: entry["base_rate"] as! Double, warmup: warmup,
                                                    totalSteps: total)
            #expect(schedule.warmupSteps == entry["warmup_steps"] as! Int, "\(kind) \(warmup) total \(total)")
            let rates = entry["rates"] as! [Double]
            #expect(rates.count == total + 1)
            for (step, expected) in rates.enumerated() {
                let difference = relativeDifference(schedule.rate(at: step), expected)
                #expect(difference <= 1e-7, "\(kind) \(warmup) total \(total) step \(step)")
                worst = max(worst, difference)
                values += 1
            }
        }
        print("schedules: \(schedules.count) tables, \(values) values, max relative difference \(worst)")
    }

    /// `Warmup(trainerValue:)` resolves as `TrainingArguments.get_warmup_steps`.
    @Test func resolvesWarmupLikeTrainingArguments() throws {
        let table = try referenceJSON("optim/schedules.json") as? [String: Any]
        guard let rows = table?["warmup_resolution"] as? [[String: Any]], !rows.isEmpty else {
            throw MissingFixture("optim/schedules.json has no warmup_resolution; rerun Tests/Reference/optim_reference.py")
        }
        for row in rows {
            let value = row["value"] as! Double, total = row["total_steps"] as! Int
            let steps = try LearningRateSchedule.Warmup(trainerValue: value).steps(totalSteps: total)
            #expect(steps == row["warmup_steps"] as! Int, "value \(value) total \(total)")
        }
    }

    @Test func constantIgnoresWarmupAsTransformersDoes() throws {
        let schedule = try LearningRateSchedule(kind: .constant, baseRate: 1e-3, warmupSteps: 10, totalSteps: 20)
        #expect((0...20).allSatisfy { schedule.rate(at: $0) == 1e-3 })
        let warm = try LearningRateSchedule(kind: .constantWithWarmup, baseRate: 1e-3, warmupSteps: 10, totalSteps: 20)
        #expect(warm.rate(at: 0) == 0 && warm.rate(at: 5) == 5e-4 && warm.rate(at: 10) == 1e-3)
    }

    @Test func namesRoundTrip() throws {
        for name in LearningRateSchedule.Kind.names {
            #expect(try LearningRateSchedule.Kind(name: name).name == name)
        }
    }

    @Test func rejectsBadInputs() {
        func message(_ body: () throws -> Any) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        let cases: [(String, () throws -> Any)] = [
            ("unknown learning-rate schedule \"cosin\"", { try LearningRateSchedule.Kind(name: "cosin") }),
            ("warmup must not be negative", { try LearningRateSchedule(kind: .linear, baseRate: 1e-3, warmupSteps: -1, totalSteps: 10) }),
            ("warmup (11 steps) is longer than the training (10 steps)",
             { try LearningRateSchedule(kind: .linear, baseRate: 1e-3, warmupSteps: 11, totalSteps: 10) }),
            ("at least 1 training step", { try LearningRateSchedule(kind: .linear, baseRate: 1e-3, warmupSteps: 0, totalSteps: 0) }),
            ("learning rate must be a finite number", { try LearningRateSchedule(kind: .linear, baseRate: -1, warmupSteps: 0, totalSteps: 5) }),
            ("warmup ratio must be in [0, 1)", { try LearningRateSchedule(kind: .linear, baseRate: 1e-3, warmup: .ratio(1.5), totalSteps: 10) }),
            ("warmup must be a number of steps or a ratio", { try LearningRateSchedule.Warmup(trainerValue: -0.1) }),
            ("end rate (0.01) must be ≥ 0 and smaller than the learning rate (0.001)",
             { try LearningRateSchedule(kind: .polynomial(endRate: 1e-2), baseRate: 1e-3, warmupSteps: 0, totalSteps: 10) }),
            ("polynomial: warmup (10 steps) must be shorter",
             { try LearningRateSchedule(kind: .polynomial(), baseRate: 1e-3, warmupSteps: 10, totalSteps: 10) }),
            ("cosine cycles must be", { try LearningRateSchedule(kind: .cosine(cycles: 0), baseRate: 1e-3, warmupSteps: 0, totalSteps: 10) }),
            ("at least 1 cycle", { try LearningRateSchedule(kind: .cosineWithRestarts(cycles: 0), baseRate: 1e-3, warmupSteps: 0, totalSteps: 10) }),
        ]
        for (expected, body) in cases {
            let text = message(body)
            #expect(text.contains(expected), "\(text)")
        }
        #expect(message { try LearningRateSchedule.Kind(name: "cosin") }.contains("constant, constant_with_warmup, linear"))
    }
}
