import Foundation
import FinchCheckpoint
import FinchTensor

/// Keys and values of every block for one sequence, so that each new token attends to the past without
/// recomputing it: per block K and V [capacity, kvHeads · d], rotated keys as attention uses them.
public final class KeyValueCache: @unchecked Sendable {
    public let capacity: Int
    /// Tokens already in the cache (the next token's position).
    public private(set) var length = 0
    let keys: [Tensor]
    let values: [Tensor]

    public init(model: DecoderModel, capacity: Int) {
        self.capacity = capacity
        keys = model.layers.map { _ in Tensor(zeros: [capacity, model.config.keyValueWidth]) }
        values = model.layers.map { _ in Tensor(zeros: [capacity, model.config.keyValueWidth]) }
    }

    /// Forgets every token (the buffers are reused).
    public func reset() { length = 0 }

    /// Keeps the first `count` tokens only.
    public func truncate(to count: Int) { length = min(length, max(0, count)) }

    fileprivate func advance(by count: Int) { length += count }

    public var byteCount: Int { (keys + values).reduce(0) { $0 + $1.byteCount } }
}

/// Working memory of `DecoderModel.step`, grown to the largest chunk of tokens seen.
public final class DecoderStepScratch: @unchecked Sendable {
    private var rows = 0
    private var columns = 0
    private var tensors: [Tensor] = []

    public init() {}

    fileprivate func prepare(rows: Int, keys: Int, config: DecoderConfig) {
        guard rows > self.rows || keys > columns else { return }
        self.rows = max(rows, self.rows)
        columns = max(keys, columns)
        let (n, h) = (self.rows, config.hiddenSize)
        tensors = [[n, h], [n, h], [n, config.queryWidth], [n, config.queryWidth], [n, columns], [n, h],
                   [n, config.intermediateSize], [n, config.intermediateSize], [n, config.intermediateSize]].map { Tensor(zeros: $0) }
    }

    fileprivate var hidden: UnsafeMutablePointer<Float> { tensors[0].data }
    fileprivate var normed: UnsafeMutablePointer<Float> { tensors[1].data }
    fileprivate var query: UnsafeMutablePointer<Float> { tensors[2].data }
    fileprivate var context: UnsafeMutablePointer<Float> { tensors[3].data }
    fileprivate var scores: UnsafeMutablePointer<Float> { tensors[4].data }
    fileprivate var sum: UnsafeMutablePointer<Float> { tensors[5].data }
    fileprivate var gate: UnsafeMutablePointer<Float> { tensors[6].data }
    fileprivate var up: UnsafeMutablePointer<Float> { tensors[7].data }
    fileprivate var product: UnsafeMutablePointer<Float> { tensors[8].data }
}

extension DecoderModel {
    /// Runs `ids` as the next tokens of the cached sequence (positions cache.length…), appends their keys
    /// and values, and returns the logits [vocab] of the last one. A prompt goes in as one chunk; then
    /// one token per call.
    public func step(_ ids: [Int], cache: KeyValueCache, scratch: DecoderStepScratch) throws -> [Float] {
        let n = ids.count, start = cache.length, total = start + n, h = config.hiddenSize
        guard n > 0 else { throw ModelError("no tokens to run") }
        guard total <= cache.capacity else {
            throw ModelError("the sequence would reach \(total) tokens; the cache holds \(cache.capacity)")
        }
        scratch.prepare(rows: n, keys: total, config: config)
        for (i, id) in ids.enumerated() {
            guard id >= 0, id < config.vocabularySize else {
                throw ModelError("token id \(id) is outside the vocabulary (0..<\(config.vocabularySize))")
            }
            (scratch.hidden + i * h).update(from: embedding.data + id * h, count: h)
        }
        let positions = (start..<total).map { Int32($0) }
        for (index, layer) in layers.enumerated() {
            layer.attentionNorm.forward(scratch.hidden, rows: n, into: scratch.normed)
            cachedAttention(layer.attention, rows: n, start: start, keys: cache.keys[index].data, values: cache.values[index].data,
                            positions: positions, scratch: scratch)
            Kernels.add(scratch.sum, into: scratch.hidden, count: n * h)
            layer.mlpNorm.forward(scratch.hidden, rows: n, into: scratch.normed)
            layer.feedForward(scratch.normed, rows: n, gateOut: scratch.gate, upOut: scratch.up, product: scratch.product, into: scratch.sum)
            Kernels.add(scratch.sum, into: scratch.hidden, count: n * h)
        }
        cache.advance(by: n)
        norm.forward(scratch.hidden + (n - 1) * h, rows: 1, into: scratch.normed)
        var logits = [Float](repeating: 0, count: config.vocabularySize)
        logits.withUnsafeMutableBufferPointer { self.logits(scratch.normed, rows: 1, into: $0.baseAddress!) }
        return logits
    }

    /// Attention of n new tokens (their normed input in scratch.normed) over the cache, output projection
    /// into scratch.sum.
    private func cachedAttention(_ attention: CausalAttention, rows n: Int, start: Int, keys: UnsafeMutablePointer<Float>,
                                 values: UnsafeMutablePointer<Float>, positions: [Int32], scratch: DecoderStepScratch) {
        let (qw, kw, d) = (attention.queryWidth, attention.keyValueWidth, attention.headSize), total = start + n
        attention.query.forward(scratch.normed, rows: n, into: scratch.query)
        attention.key.forward(scratch.normed, rows: n, into: keys + start * kw)
        attention.value.forward(scratch.normed, rows: n, into: values + start * kw)
        positions.withUnsafeBufferPointer { p in
            attention.rotary.rotate(scratch.query, rows: n, heads: attention.headCount, positions: p.baseAddress!)
            attention.rotary.rotate(keys + start * kw, rows: n, heads: attention.keyValueHeadCount, positions: p.baseAddress!)
        }
        for head in 0..<attention.headCount {
            let g = head / attention.group
            // scores[n, total] = scale · Q_h · K_g[0..<total]ᵀ; row i sees keys 0...start + i
            BLAS.gemm(transposeB: true, m: n, n: total, k: d, alpha: attention.scale, a: scratch.query + head * d, lda: qw,
                      b: keys + g * d, ldb: kw, c: scratch.scores, ldc: total)
            for i in 0..<n { Kernels.softmaxInPlace(scratch.scores + i * total, valid: start + i + 1, count: total) }
            BLAS.gemm(m: n, n: d, k: total, a: scratch.scores, lda: total, b: values + g * d, ldb: kw,
                      c: scratch.context + head * d, ldc: qw)
        }
        attention.output.forward(scratch.context, rows: n, into: scratch.sum)
    }
}
