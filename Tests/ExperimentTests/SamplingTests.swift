import XCTest
import FinchTensor
@testable import FinchExperiment
import TestSupport

/// transformers' logits processors on seeded logits (Tests/Reference/sampling_reference.py → sampling/),
/// Finch's seeded draws, stop strings and streamed text.
final class SamplingTests: XCTestCase {
    struct Case {
        let name: String
        let options: SamplingOptions
        let history: [Int]
        let processors: [[String: Any]]
        let greedy: Int?
        let topPTie: Float?
    }

    static func cases() throws -> (cases: [Case], tensors: ReferenceTensors) {
        let json = try XCTUnwrap(try referenceJSON("sampling/cases.json") as? [[String: Any]])
        let cases = try json.map { entry -> Case in
            let o = try XCTUnwrap(entry["options"] as? [String: Any])
            let options = SamplingOptions(
                doSample: o["do_sample"] as? Bool ?? false, temperature: o["temperature"] as? Double ?? 1,
                topK: o["top_k"] as? Int ?? 50, topP: o["top_p"] as? Double ?? 1, minP: o["min_p"] as? Double,
                repetitionPenalty: o["repetition_penalty"] as? Double ?? 1)
            return Case(name: try XCTUnwrap(entry["name"] as? String), options: options,
                        history: try XCTUnwrap(entry["history"] as? [Int]),
                        processors: try XCTUnwrap(entry["processors"] as? [[String: Any]]),
                        greedy: entry["greedy"] as? Int, topPTie: (entry["top_p_tie"] as? Double).map(Float.init))
        }
        XCTAssertEqual(cases.count, 75)
        return (cases, try ReferenceTensors("sampling/cases.safetensors"))
    }

    static func values(_ tensors: ReferenceTensors, _ name: String) throws -> [Float] {
        let t = try tensors.tensor(name)
        return (0..<t.count).map { t[$0] }
    }

    /// Largest difference of the finite scores; fails when a -inf position differs. With `tie`, positions holding
    /// the tied score or -inf may trade places (torch.sort's unspecified order), as long as as many stay.
    func difference(_ actual: [Float], _ expected: [Float], tie: Float? = nil, _ what: String) -> Float {
        XCTAssertEqual(actual.count, expected.count, what)
        var worst: Float = 0
        for i in expected.indices {
            let a = actual[i], e = expected[i]
            if let tie, a != e, [tie, -.infinity].contains(a), [tie, -.infinity].contains(e) { continue }
            guard e.isFinite && a.isFinite else {
                XCTAssertEqual(a, e, "\(what): position \(i)")
                continue
            }
            worst = max(worst, abs(a - e))
        }
        if let tie { XCTAssertEqual(actual.filter { $0 == tie }.count, expected.filter { $0 == tie }.count, what) }
        return worst
    }

    func testPipelineHasTransformersProcessorsInTransformersOrder() throws {
        for c in try Self.cases().cases {
            let steps = try LogitsPipeline(c.options).steps
            let expected: [LogitsStep] = try c.processors.map { p in
                switch p["name"] as? String {
                case "repetition_penalty": .repetitionPenalty(try XCTUnwrap(p["penalty"] as? Double))
                case "temperature": .temperature(try XCTUnwrap(p["temperature"] as? Double))
                case "top_k": .topK(try XCTUnwrap(p["top_k"] as? Int))
                case "top_p": .topP(try XCTUnwrap(p["top_p"] as? Double))
                case "min_p": .minP(try XCTUnwrap(p["min_p"] as? Double))
                default: throw SamplingError("unknown processor \(p)")
                }
            }
            XCTAssertEqual(steps, expected, c.name)
            XCTAssert(c.processors.allSatisfy { ($0["min_tokens_to_keep"] as? Int ?? 1) == 1 }, c.name)
        }
    }

    /// Each step applied to transformers' previous stage gives transformers' next stage.
    func testEachProcessorMatchesTransformers() throws {
        let (cases, tensors) = try Self.cases()
        var worst: Float = 0, compared = 0
        for c in cases {
            var input = try Self.values(tensors, "\(c.name).logits")
            for (i, step) in try LogitsPipeline(c.options).steps.enumerated() {
                var scores = input
                scores.withUnsafeMutableBufferPointer { step.apply(to: $0, history: c.history) }
                let expected = try Self.values(tensors, "\(c.name).stage.\(i)")
                let tie = step.processorName == "TopPLogitsWarper" ? c.topPTie : nil
                worst = max(worst, difference(scores, expected, tie: tie, "\(c.name) stage \(i) \(step)"))
                compared += 1
                input = expected
            }
        }
        XCTAssertEqual(compared, 120)
        XCTAssertEqual(worst, 0, "processed scores are bit-identical to transformers'")
    }

    func testWholePipelineMatchesTransformers() throws {
        let (cases, tensors) = try Self.cases()
        var worst: Float = 0
        for c in cases {
            var scores = try Self.values(tensors, "\(c.name).logits")
            try LogitsPipeline(c.options).apply(to: &scores, history: c.history)
            let expected = try Self.values(tensors, "\(c.name).final")
            worst = max(worst, difference(scores, expected, tie: c.topPTie, c.name))
            XCTAssertEqual(scores.filter { $0 > -.infinity }.count, expected.filter { $0 > -.infinity }.count, c.name)
        }
        XCTAssertEqual(worst, 0)
    }

    func testGreedyPicksAreTorchArgmax() throws {
        let (cases, tensors) = try Self.cases()
        let greedy = cases.filter { !$0.options.doSample }
        XCTAssertEqual(greedy.count, 15)
        for c in greedy {
            var sampler = try TokenSampler(c.options)
            var logits = try Self.values(tensors, "\(c.name).logits")
            XCTAssertEqual(try sampler.next(logits: &logits, history: c.history), c.greedy, c.name)
        }
        let tied: [Float] = [1, 3, -.infinity, 3, 2]
        XCTAssertEqual(tied.withUnsafeBufferPointer { TokenSampler.argmax($0) }, 1)
    }

    /// The processed scores of one reference case and their softmax.
    func processed(_ name: String) throws -> (scores: [Float], probabilities: [Double]) {
        let (cases, tensors) = try Self.cases()
        let c = try XCTUnwrap(cases.first { $0.name == name })
        var scores = try Self.values(tensors, "\(name).logits")
        try LogitsPipeline(c.options).apply(to: &scores, history: c.history)
        let weights = scores.withUnsafeBufferPointer { softmaxWeights($0) }
        return (scores, weights.values.map { $0 / weights.total })
    }

    func testDrawFrequenciesFollowTheProcessedSoftmax() throws {
        let (scores, probabilities) = try processed("v257_dups.t0.7_k50_p0.9")
        let draws = 20_000
        var counts = [Int](repeating: 0, count: scores.count)
        var random = SeededRandom(seed: 7)
        try scores.withUnsafeBufferPointer { s in
            for _ in 0..<draws { counts[try TokenSampler.draw(s, using: &random)] += 1 }
        }
        let kept = probabilities.indices.filter { probabilities[$0] > 0 }
        XCTAssertEqual(kept.count, 17)
        XCTAssertEqual(counts.indices.filter { counts[$0] > 0 }.count, 17)
        var deviation = 0.0, chiSquare = 0.0
        for i in kept {
            let frequency = Double(counts[i]) / Double(draws)
            deviation = max(deviation, abs(frequency - probabilities[i]))
            let expected = probabilities[i] * Double(draws)
            chiSquare += (Double(counts[i]) - expected) * (Double(counts[i]) - expected) / expected
        }
        XCTAssertLessThan(deviation, 0.01)
        XCTAssertLessThan(chiSquare, 39.3)  // 16 degrees of freedom: p = 0.001
        print("sampling: 20000 draws over 17 tokens, max |frequency - p| = \(deviation), chi-square = \(chiSquare)")
    }

    func testFilteredTokensAreNeverDrawn() throws {
        for name in ["v1000_mild.k5", "v1000_mild.minp0.1", "v64_integers.rep0.8_t1.3_k5_p0.5", "v1000_peaked.p0.5"] {
            let (scores, probabilities) = try processed(name)
            var random = SeededRandom(seed: 3)
            var drawn = Set<Int>()
            try scores.withUnsafeBufferPointer { s in
                for _ in 0..<20_000 { drawn.insert(try TokenSampler.draw(s, using: &random)) }
            }
            let kept = Set(probabilities.indices.filter { probabilities[$0] > 0 })
            XCTAssert(drawn.isSubset(of: kept), name)
            XCTAssertEqual(drawn, kept, "\(name): every kept token is drawn at least once")
        }
    }

    func testSameSeedSameTokensAnotherSeedDiffers() throws {
        let (cases, tensors) = try Self.cases()
        let c = try XCTUnwrap(cases.first { $0.name == "v1000_mild.sample_defaults" })
        let logits = try Self.values(tensors, "\(c.name).logits")
        func tokens(seed: UInt64) throws -> [Int] {
            var options = c.options
            options.seed = seed
            var sampler = try TokenSampler(options)
            var history = c.history, generated: [Int] = []
            for _ in 0..<50 {
                var scores = logits
                let token = try sampler.next(logits: &scores, history: history)
                history.append(token)
                generated.append(token)
            }
            return generated
        }
        XCTAssertEqual(try tokens(seed: 42), try tokens(seed: 42))
        XCTAssertNotEqual(try tokens(seed: 42), try tokens(seed: 43))
        XCTAssertGreaterThan(Set(try tokens(seed: 42)).count, 10)
    }

    func testNothingToDrawThrows() {
        var random = SeededRandom(seed: 1)
        let scores: [Float] = [-.infinity, -.infinity]
        XCTAssertThrowsError(try scores.withUnsafeBufferPointer { try TokenSampler.draw($0, using: &random) })
    }

    /// Equal scores split by the top-p cut: Finch keeps the lower token ids (torch's choice is unspecified).
    func testTopPTieKeepsTheLowerIds() {
        var scores: [Float] = [0, 0, 0, 0, 5]
        scores.withUnsafeMutableBufferPointer { LogitsStep.topP(0.985).apply(to: $0, history: []) }
        // p(0) = 1/(4 + e^5) ≈ 0.0066 each: two of them sum to 0.0131 ≤ 1 − 0.985 < 0.0197 (three), so two go.
        // (torch.sort happens to be stable below 17 entries and removes ids 0 and 1 here; past that its order varies.)
        XCTAssertEqual(scores, [0, 0, -.infinity, -.infinity, 5])
    }

    func testTopPOrderIsAscendingWithTheHigherIdFirstInATie() {
        var random = SeededRandom(seed: 5)
        var scores = (0..<5000).map { _ in (random.normal(mean: 0, std: 4) * 2).rounded() / 2 }
        for i in stride(from: 0, to: scores.count, by: 97) { scores[i] = -.infinity }
        scores[10] = -0.0
        scores[11] = 0
        let order = scores.withUnsafeBufferPointer { LogitsStep.ascendingFiniteOrder($0) }
        let expected = scores.indices.filter { scores[$0] > -.infinity }.sorted {
            scores[$0] != scores[$1] ? scores[$0] < scores[$1] : $0 > $1
        }
        XCTAssertEqual(order, expected)
    }

    func testDefaultsAndValidationFollowGenerationConfig() throws {
        let options = SamplingOptions()
        XCTAssertEqual([options.temperature, options.topP, options.repetitionPenalty], [1, 1, 1])
        XCTAssertEqual(options.topK, 50)
        XCTAssertEqual(options.maxNewTokens, 128)
        XCTAssertFalse(options.doSample)
        XCTAssertEqual(try LogitsPipeline(options).steps, [])
        XCTAssertEqual(try LogitsPipeline(SamplingOptions(doSample: true)).steps, [.topK(50)])
        for bad in [SamplingOptions(doSample: true, temperature: 0), SamplingOptions(repetitionPenalty: 0),
                    SamplingOptions(doSample: true, topP: 1.5), SamplingOptions(doSample: true, minP: -0.1),
                    SamplingOptions(doSample: true, topK: -1)] {
            XCTAssertThrowsError(try TokenSampler(bad))
        }
        XCTAssertNoThrow(try TokenSampler(SamplingOptions(temperature: 0)), "greedy ignores the temperature")
    }

    func testStopStringMatcher() {
        let matcher = StopStringMatcher(["\n\n", "User:", "", "।"])
        XCTAssertEqual(matcher.stopStrings, ["\n\n", "User:", "।"])
        XCTAssertNil(matcher.firstMatch(in: "Hello\nUser"))
        XCTAssertEqual(matcher.firstMatch(in: "Hi.\n\nUser: more"), .init(stopString: "\n\n", textBefore: "Hi."))
        XCTAssertEqual(matcher.firstMatch(in: "আমি ভাত খাই। তুমি"), .init(stopString: "।", textBefore: "আমি ভাত খাই"))
        XCTAssertEqual(matcher.safePrefix(of: "Hello\nUse"), "Hello\n")
        XCTAssertEqual(matcher.safePrefix(of: "Hello\n"), "Hello")
        XCTAssertEqual(matcher.safePrefix(of: "Hello"), "Hello")
        // Scalars, not characters: "ক" matches inside the grapheme "কি".
        XCTAssertEqual(StopStringMatcher(["ক"]).firstMatch(in: "আমিকি")?.textBefore, "আমি")
    }

    /// Tokens that are byte pieces: a fake decoder joins their bytes and decodes them as UTF-8, so a cut
    /// character decodes to U+FFFD, as a byte-fallback tokenizer's does.
    func byteDecoder(_ pieces: [[UInt8]]) -> ([Int]) -> String {
        { ids in String(decoding: ids.flatMap { pieces[$0] }, as: UTF8.self) }
    }

    func testStreamerHoldsBackACharacterCutBetweenTokens() {
        let ami = Array("আমি".utf8)  // 9 bytes: আ, ম, ি
        XCTAssertEqual(ami.count, 9)
        let pieces = [[ami[0]], Array(ami[1...3]), [ami[4]], Array(ami[5...8]), Array(" ভাত".utf8), [0xE0, 0xA6]]
        var streamer = TextStreamer(decode: byteDecoder(pieces))
        let outputs = (0..<pieces.count).map { streamer.push($0) }
        XCTAssertEqual(outputs, ["", "আ", "", "মি", " ভাত", ""])
        XCTAssertFalse(outputs.joined().contains("\u{FFFD}"))
        XCTAssertEqual(streamer.finish(), "\u{FFFD}", "an unfinished character at the end is flushed as U+FFFD")
        XCTAssertEqual(streamer.text, "আমি ভাত\u{FFFD}")
    }

    func testStreamerStopsAtAStopStringAcrossTokens() {
        let pieces = ["The", " answer", " is 4", ".\n", "\nQuestion", ": next"].map { Array($0.utf8) }
        var streamer = TextStreamer(stopStrings: ["\n\nQuestion:"], decode: byteDecoder(pieces))
        let outputs = (0..<pieces.count).map { streamer.push($0) }
        XCTAssertEqual(outputs, ["The", " answer", " is 4", ".", "", ""])
        XCTAssertEqual(streamer.stop?.stopString, "\n\nQuestion:")
        XCTAssertEqual(streamer.text, "The answer is 4.")
        XCTAssertEqual(streamer.push(0), "", "nothing after a stop")
        XCTAssertEqual(streamer.tokens, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(streamer.finish(), "")

        var unfinished = TextStreamer(stopStrings: ["\n\nQuestion:"], decode: byteDecoder(pieces))
        XCTAssertEqual([0, 1, 2, 3, 4].map { unfinished.push($0) }, ["The", " answer", " is 4", ".", ""])
        XCTAssertEqual(unfinished.finish(), "\n\nQuestion", "held-back text that never became a stop string")
        XCTAssertNil(unfinished.stop)
    }
}
