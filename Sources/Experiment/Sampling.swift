import Foundation
import FinchTensor

/// How `generate` picks each next token. The fields and defaults follow transformers' `GenerationConfig`
/// (5.24): `do_sample=False`, `temperature=1.0`, `top_k=50`, `top_p=1.0`, `min_p=None`, `repetition_penalty=1.0`.
/// As in transformers, temperature, top-k, top-p and min-p act only when `doSample` is true; the repetition
/// penalty acts in greedy decoding too. `topK == 0` turns top-k off, `topP == 1` turns top-p off.
/// Real-valued options are `Double`, as Python floats are; each processor converts them exactly as torch does.
public struct SamplingOptions: Sendable, Equatable {
    /// Tokens to generate at most after the prompt.
    public var maxNewTokens: Int
    /// false: greedy (argmax); true: draw from the softmax of the processed scores.
    public var doSample: Bool
    public var temperature: Double
    public var topK: Int
    public var topP: Double
    public var minP: Double?
    /// > 1 discourages, < 1 encourages tokens already in the prompt or the generated text.
    public var repetitionPenalty: Double
    /// Seed of the sampler's `SeededRandom`.
    public var seed: UInt64
    /// Generation stops when the text contains one of these; the text before it is kept (`StopStringMatcher`).
    public var stopStrings: [String]
    /// Generation stops after one of these tokens (end of sequence, end of turn).
    public var stopTokenIds: [Int]

    public init(maxNewTokens: Int = 128, doSample: Bool = false, temperature: Double = 1, topK: Int = 50,
                topP: Double = 1, minP: Double? = nil, repetitionPenalty: Double = 1, seed: UInt64 = 42,
                stopStrings: [String] = [], stopTokenIds: [Int] = []) {
        self.maxNewTokens = maxNewTokens
        self.doSample = doSample
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
        self.stopStrings = stopStrings
        self.stopTokenIds = stopTokenIds
    }

    /// Throws the first value transformers would refuse (or Finch cannot use).
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw SamplingError(message) } }
        try check(maxNewTokens >= 0, "max_new_tokens must be 0 or more, not \(maxNewTokens)")
        try check(repetitionPenalty > 0, "repetition_penalty must be > 0, not \(repetitionPenalty)")
        guard doSample else { return }
        try check(temperature > 0, "temperature must be > 0 when sampling (use greedy decoding for 0), not \(temperature)")
        try check(topK >= 0, "top_k must be 0 (off) or more, not \(topK)")
        try check(topP >= 0 && topP <= 1, "top_p must be in [0, 1], not \(topP)")
        if let minP { try check(minP >= 0 && minP <= 1, "min_p must be in [0, 1], not \(minP)") }
    }
}

/// A sampling option or a set of scores Finch cannot use.
public struct SamplingError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One logits processor of transformers, applied in place to next-token scores [vocab].
/// Removed tokens get -inf (transformers' `filter_value`); at least one token always stays
/// (`min_tokens_to_keep = 1`, as in sampling without beams).
public enum LogitsStep: Sendable, Equatable {
    /// `RepetitionPenaltyLogitsProcessor`: every id in the SET of previous ids (prompt + generated; ids past the
    /// vocabulary are ignored) gets `score < 0 ? score * p : score / p`, with `p` rounded to Float.
    case repetitionPenalty(Double)
    /// `TemperatureLogitsWarper`: `score / Float(t)`.
    case temperature(Double)
    /// `TopKLogitsWarper`: removes every score below the k-th largest (duplicates counted, as `torch.topk`),
    /// so all scores tied with the k-th are kept.
    case topK(Int)
    /// `TopPLogitsWarper`: sorts ascending, removes the tokens whose cumulative softmax is `<= Float(1 - p)`,
    /// keeps the largest. torch.sort is not stable: when equal scores straddle the cut, which of them torch removes
    /// is unspecified (how many is not). Finch removes the higher token ids of such a group first.
    case topP(Double)
    /// `MinPLogitsWarper`: removes the tokens whose probability is below `Float(m) * max probability`.
    case minP(Double)

    /// Applies the step to `scores` [vocab]; `history` is the prompt and the tokens generated so far.
    public func apply(to scores: UnsafeMutableBufferPointer<Float>, history: [Int]) {
        switch self {
        case .repetitionPenalty(let penalty):
            let p = Float(penalty)
            for id in Set(history) where id >= 0 && id < scores.count {
                let s = scores[id]
                scores[id] = s < 0 ? s * p : s / p
            }
        case .temperature(let temperature):
            let t = Float(temperature)
            for i in scores.indices { scores[i] /= t }
        case .topK(let k):
            let k = min(max(k, 1), scores.count)
            let kth = Self.kthLargest(UnsafeBufferPointer(scores), k: k)
            for i in scores.indices where scores[i] < kth { scores[i] = -.infinity }
        case .topP(let p):
            Self.applyTopP(scores, threshold: Float(1 - p))
        case .minP(let m):
            let probabilities = Self.softmax(UnsafeBufferPointer(scores))
            let threshold = Float(m) * (probabilities.max() ?? 0)
            for i in scores.indices where probabilities[i] < threshold { scores[i] = -.infinity }
        }
    }

    /// transformers' class of the step (what `_get_logits_processor` appends).
    public var processorName: String {
        switch self {
        case .repetitionPenalty: "RepetitionPenaltyLogitsProcessor"
        case .temperature: "TemperatureLogitsWarper"
        case .topK: "TopKLogitsWarper"
        case .topP: "TopPLogitsWarper"
        case .minP: "MinPLogitsWarper"
        }
    }

    /// The k-th largest score (1-based, duplicates counted; NaN skipped): a min-heap of the k largest seen.
    static func kthLargest(_ scores: UnsafeBufferPointer<Float>, k: Int) -> Float {
        var heap: [Float] = []
        heap.reserveCapacity(k)
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let left = 2 * i + 1, right = left + 1
                var smallest = i
                if left < heap.count && heap[left] < heap[smallest] { smallest = left }
                if right < heap.count && heap[right] < heap[smallest] { smallest = right }
                if smallest == i { return }
                heap.swapAt(i, smallest)
                i = smallest
            }
        }
        for s in scores where !s.isNaN {
            if heap.count < k {
                heap.append(s)
                var i = heap.count - 1
                while i > 0 && heap[(i - 1) / 2] > heap[i] {
                    heap.swapAt(i, (i - 1) / 2)
                    i = (i - 1) / 2
                }
            } else if s > heap[0] {
                heap[0] = s
                siftDown(0)
            }
        }
        return heap.count < k ? -.infinity : heap[0]
    }

    /// Top-p on the finite scores (-inf ones add nothing to the cumulative sum and are removed already).
    /// Probabilities are rounded to Float and summed in Double, then rounded, as torch's float32 softmax and cumsum.
    private static func applyTopP(_ scores: UnsafeMutableBufferPointer<Float>, threshold: Float) {
        let probabilities = softmax(UnsafeBufferPointer(scores))
        var cumulative: Double = 0
        for i in ascendingFiniteOrder(UnsafeBufferPointer(scores)).dropLast() {
            cumulative += Double(probabilities[i])
            if Float(cumulative) > threshold { break }
            scores[i] = -.infinity
        }
    }

    /// The ids of the finite scores, ascending by score and, within a tie, the higher id first (so top-p keeps
    /// the lower ids). A stable LSD radix sort (3 passes of 11 bits) of the scores' bits made order-preserving,
    /// started from the ids in descending order: a few milliseconds for 150k scores, where a comparison sort
    /// takes tens.
    static func ascendingFiniteOrder(_ scores: UnsafeBufferPointer<Float>) -> [Int] {
        var keys: [UInt32] = [], ids: [Int] = []
        keys.reserveCapacity(scores.count)
        ids.reserveCapacity(scores.count)
        for i in scores.indices.reversed() where scores[i] > -.infinity {
            let bits = (scores[i] == 0 ? 0 : scores[i]).bitPattern  // -0 ties with +0, as in torch
            keys.append(bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000)
            ids.append(i)
        }
        var sortedKeys = keys, sortedIds = ids
        for shift in stride(from: UInt32(0), to: 33, by: 11) {
            var starts = [Int](repeating: 0, count: 2049)
            for key in keys { starts[Int((key >> shift) & 0x7FF) + 1] += 1 }
            for b in 1..<starts.count { starts[b] += starts[b - 1] }
            for (key, id) in zip(keys, ids) {
                let bucket = Int((key >> shift) & 0x7FF)
                sortedKeys[starts[bucket]] = key
                sortedIds[starts[bucket]] = id
                starts[bucket] += 1
            }
            swap(&keys, &sortedKeys)
            swap(&ids, &sortedIds)
        }
        return ids
    }

    /// softmax of the scores, computed in Double and rounded to Float (-inf gives 0).
    static func softmax(_ scores: UnsafeBufferPointer<Float>) -> [Float] {
        let weights = softmaxWeights(scores)
        let inverse = weights.total > 0 ? 1 / weights.total : 0
        return weights.values.map { Float($0 * inverse) }
    }
}

/// exp(score − max score) per token in Double, and their sum (0 when no score is finite).
func softmaxWeights(_ scores: UnsafeBufferPointer<Float>) -> (values: [Double], total: Double) {
    let maximum = scores.reduce(-Float.infinity) { $1 > $0 ? $1 : $0 }
    guard maximum.isFinite else { return ([Double](repeating: 0, count: scores.count), 0) }
    let m = Double(maximum)
    var total: Double = 0
    let values = scores.map { s -> Double in
        let w = s > -.infinity ? Foundation.exp(Double(s) - m) : 0
        total += w
        return w
    }
    return (values, total)
}

/// The logits processors `generate` applies for some options, in transformers' order
/// (`GenerationMixin._get_logits_processor`): repetition penalty, then, when sampling, temperature, top-k,
/// top-p and min-p. Each is present only when it changes something, as in transformers.
public struct LogitsPipeline: Sendable, Equatable {
    public let steps: [LogitsStep]

    public init(_ options: SamplingOptions) throws {
        try options.validate()
        var steps: [LogitsStep] = []
        if options.repetitionPenalty != 1 { steps.append(.repetitionPenalty(options.repetitionPenalty)) }
        if options.doSample {
            if options.temperature != 1 { steps.append(.temperature(options.temperature)) }
            if options.topK != 0 { steps.append(.topK(options.topK)) }
            if options.topP < 1 { steps.append(.topP(options.topP)) }
            if let minP = options.minP { steps.append(.minP(minP)) }
        }
        self.steps = steps
    }

    /// Processes next-token scores [vocab] in place; `history` is the prompt and the tokens generated so far.
    public func apply(to scores: UnsafeMutableBufferPointer<Float>, history: [Int]) {
        for step in steps { step.apply(to: scores, history: history) }
    }

    public func apply(to scores: inout [Float], history: [Int]) {
        scores.withUnsafeMutableBufferPointer { apply(to: $0, history: history) }
    }
}

/// Turns next-token logits into a token as transformers' `generate` does: the `LogitsPipeline`, then argmax
/// (greedy) or a draw from the softmax of the processed scores (sampling).
/// Draws come from Finch's `SeededRandom` (one 53-bit uniform per token, inverse CDF in token-id order), so a seed
/// reproduces the same tokens on any machine; they cannot equal `torch.multinomial`'s, which uses torch's own
/// generator and algorithm. Only the distribution is the same.
public struct TokenSampler: Sendable {
    public let options: SamplingOptions
    public let pipeline: LogitsPipeline
    public private(set) var random: SeededRandom

    public init(_ options: SamplingOptions) throws {
        self.options = options
        pipeline = try LogitsPipeline(options)
        random = SeededRandom(seed: options.seed)
    }

    /// Processes `logits` [vocab] in place and returns the next token. Throws when no score is left to choose from
    /// (every score -inf or NaN), where torch.multinomial raises too.
    public mutating func next(logits: UnsafeMutableBufferPointer<Float>, history: [Int]) throws -> Int {
        pipeline.apply(to: logits, history: history)
        return options.doSample
            ? try Self.draw(UnsafeBufferPointer(logits), using: &random)
            : Self.argmax(UnsafeBufferPointer(logits))
    }

    public mutating func next(logits: inout [Float], history: [Int]) throws -> Int {
        try logits.withUnsafeMutableBufferPointer { try next(logits: $0, history: history) }
    }

    /// The index of the largest score, the first one on ties; a NaN wins, as in `torch.argmax`.
    public static func argmax(_ scores: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        for i in scores.indices {
            if scores[i].isNaN { return i }
            if scores[i] > scores[best] { best = i }
        }
        return best
    }

    /// A token drawn with probability softmax(scores); a -inf score is never drawn.
    public static func draw(_ scores: UnsafeBufferPointer<Float>, using random: inout SeededRandom) throws -> Int {
        let weights = softmaxWeights(scores)
        guard weights.total > 0, weights.total.isFinite else {
            throw SamplingError("no token can be drawn: every score is -inf or NaN")
        }
        let target = Double(random.next() >> 11) * 0x1.0p-53 * weights.total
        var cumulative: Double = 0, last = 0
        for (i, w) in weights.values.enumerated() where w > 0 {
            cumulative += w
            last = i
            if cumulative > target { return i }
        }
        return last  // rounding left the target at the very end of the sum
    }
}

/// Finds stop strings in generated text. Matching is on Unicode scalars (code points, as Python's `in`), so a
/// stop string may span token boundaries and may end in the middle of a token. The kept text is the text BEFORE
/// the earliest stop string, without it (what users expect to see; transformers' `StopStringCriteria` only
/// stops and leaves the stop string and the rest of its last token in the output).
public struct StopStringMatcher: Sendable, Equatable {
    /// The stop strings, empty ones dropped.
    public let stopStrings: [String]
    private let patterns: [[UInt8]]

    public init(_ stopStrings: [String]) {
        self.stopStrings = stopStrings.filter { !$0.isEmpty }
        patterns = self.stopStrings.map { Array($0.utf8) }
    }

    /// A stop string found in the text and the text before it.
    public struct Match: Sendable, Equatable {
        public let stopString: String
        public let textBefore: String
    }

    /// The earliest stop string in `text` (the longest when two start at the same place), or nil.
    public func firstMatch(in text: String) -> Match? {
        guard !patterns.isEmpty else { return nil }
        let bytes = Array(text.utf8)
        var best: (start: Int, length: Int, index: Int)?
        for (index, pattern) in patterns.enumerated() {
            guard let start = Self.firstOccurrence(of: pattern, in: bytes) else { continue }
            if let b = best, start > b.start || (start == b.start && pattern.count <= b.length) { continue }
            best = (start, pattern.count, index)
        }
        guard let best else { return nil }
        // UTF-8 matches of valid strings start on scalar boundaries, so the prefix decodes cleanly.
        return Match(stopString: stopStrings[best.index], textBefore: String(decoding: bytes[..<best.start], as: UTF8.self))
    }

    /// The part of `text` that can be shown while generation goes on: all of it except a tail that is the start
    /// of some stop string (it may still become one).
    public func safePrefix(of text: String) -> String {
        let bytes = Array(text.utf8)
        var held = 0
        for pattern in patterns {
            for length in stride(from: min(pattern.count - 1, bytes.count), to: held, by: -1)
            where bytes[(bytes.count - length)...].elementsEqual(pattern[..<length]) {
                held = length
                break
            }
        }
        return held == 0 ? text : String(decoding: bytes[..<(bytes.count - held)], as: UTF8.self)
    }

    private static func firstOccurrence(of pattern: [UInt8], in bytes: [UInt8]) -> Int? {
        guard pattern.count <= bytes.count else { return nil }
        for start in 0...(bytes.count - pattern.count)
        where bytes[start] == pattern[0] && bytes[start..<(start + pattern.count)].elementsEqual(pattern) {
            return start
        }
        return nil
    }
}
