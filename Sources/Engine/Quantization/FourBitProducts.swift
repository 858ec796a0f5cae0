import Foundation
import FinchTensor

/// Matrix products with a 4-bit weight W [out, in] (torch.nn.Linear layout) that never hold W in fp32:
/// a tile of output rows is dequantized into a reused scratch buffer (`ScratchPool`) and multiplied with
/// sgemm, or in bf16 rounded and packed for the bf16 kernel; the tiles cover W once per product. Each sgemm
/// of the forward product packs x again, so tiles are as tall as `scratchBudget` allows: on 2048 rows of a
/// 384×1536 layer, 64-row tiles measured 20–30 % over fp32 and the default tiles 2–9 % (backward: 0–2 %
/// with any tile). The bf16 forward packs x once for all tiles.
extension FourBitTensor {
    /// Floats of scratch one tile may fill (2 MiB): 1365 rows of a 384-wide weight, 341 of a 1536-wide one.
    public static let scratchBudget = 1 << 19

    /// Rows per tile for this weight: as many as fit `scratchBudget` (at least 16), spread evenly over
    /// the tiles (a 1536×384 weight: 2 tiles of 768 rows; 384×1536: 2 of 192).
    public var defaultTileRows: Int {
        let most = max(16, Self.scratchBudget / max(inFeatures, 1))
        let tiles = (outFeatures + most - 1) / most
        return (outFeatures + tiles - 1) / max(tiles, 1)
    }

    /// Output features (rows of W).
    public var outFeatures: Int { shape[0] }
    /// Input features (columns of W).
    public var inFeatures: Int { shape[1] }

    /// y[rows, out] = x[rows, in] · Wᵀ (+ y when `accumulate`), dequantizing `tileRows` rows of W at a time
    /// (`defaultTileRows` when nil). In bf16 each tile is rounded and packed for the bf16 kernel and x is
    /// packed once (bitsandbytes' `bnb_4bit_compute_dtype=torch.bfloat16`, with fp32 sums and output).
    public func multiply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false,
                         tileRows: Int? = nil, precision: FrozenPrecision = .fp32) {
        if precision == .bf16 {
            multiplyBF16(x, rows: rows, into: y, accumulate: accumulate, bias: nil, tileRows: tileRows)
            return
        }
        let (out, inner) = (outFeatures, inFeatures)
        forEachTile(tileRows) { first, count, scratch in
            // y[:, first ..< first + count] (+)= x · W[first ..< first + count, :]ᵀ
            BLAS.gemm(transposeB: true, m: rows, n: count, k: inner, a: x, lda: inner, b: scratch, ldb: inner,
                      beta: accumulate ? 1 : 0, c: y + first, ldc: out)
        }
    }

    /// `multiply` in bf16, with y = x · Wᵀ + bias when `bias` is given.
    private func multiplyBF16(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool,
                              bias: UnsafePointer<Float>?, tileRows: Int?) {
        let (out, inner) = (outFeatures, inFeatures)
        let packedX = BF16Products.packA(x, lda: inner, rows: rows, k: inner)
        defer { ScratchPool.give(packedX) }
        forEachTile(tileRows) { first, count, scratch in
            // y[:, first ..< first + count] (+)= x · W[first ..< first + count, :]ᵀ (+ bias[first ..< first + count])
            let packedW = BF16Products.packB(scratch, ld: inner, byColumn: true, k: inner, n: count)
            defer { ScratchPool.give(packedW) }
            BF16Products.multiply(packedA: packedX.words, rows: rows, k: inner, packed: packedW.halfWords, n: count,
                                  into: y + first, ldc: out, accumulate: accumulate, bias: bias.map { $0 + first })
        }
    }

    /// Calls `body(first, count, W[first ..< first + count, :])` for tiles of rows of W dequantized in turn
    /// into one `ScratchPool` buffer (`tileRows` rows, `defaultTileRows` when nil).
    private func forEachTile(_ tileRows: Int?, _ body: (Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        precondition(shape.count == 2, "a matrix product needs a 2-D weight, not \(shape)")
        let (out, inner) = (outFeatures, inFeatures)
        let tile = max(1, min(tileRows ?? defaultTileRows, out))
        let buffer = ScratchPool.take(floats: tile * inner)
        defer { ScratchPool.give(buffer) }
        let scratch = buffer.floats
        for first in stride(from: 0, to: out, by: tile) {
            let count = min(tile, out - first)
            // The tile's rows are dequantized in chunks across `Threads.count` threads.
            let target = Shared(scratch)
            Parallel.forEachChunk(count) { rows in
                dequantize(((first + rows.lowerBound) * inner)..<((first + rows.upperBound) * inner),
                           into: target.value + rows.lowerBound * inner)
            }
            body(first, count, scratch)
        }
    }

    /// y[rows, out] = x[rows, in] · Wᵀ + b[out] (torch.nn.functional.linear).
    public func linear(_ x: UnsafePointer<Float>, rows: Int, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>,
                       precision: FrozenPrecision = .fp32) {
        if precision == .bf16 {
            multiplyBF16(x, rows: rows, into: y, accumulate: false, bias: bias, tileRows: nil)
            return
        }
        if let bias {
            for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
        }
        multiply(x, rows: rows, into: y, accumulate: bias != nil)
    }

    /// dx[rows, in] = dy[rows, out] · W (+ dx when `accumulate`): the input gradient of `multiply`.
    public func multiplyTransposed(_ dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>, accumulate: Bool = false,
                                   tileRows: Int? = nil, precision: FrozenPrecision = .fp32) {
        let (out, inner) = (outFeatures, inFeatures)
        if precision == .bf16 {
            forEachTile(tileRows) { first, count, scratch in
                // dx (+)= dy[:, first ..< first + count] · W[first ..< first + count, :], the tile a k-slice.
                let packedDy = BF16Products.packA(dy + first, lda: out, rows: rows, k: count)
                let packedW = BF16Products.packB(scratch, ld: inner, byColumn: false, k: count, n: inner)
                defer {
                    ScratchPool.give(packedDy)
                    ScratchPool.give(packedW)
                }
                BF16Products.multiply(packedA: packedDy.words, rows: rows, k: count, packed: packedW.halfWords, n: inner,
                                      into: dx, ldc: inner, accumulate: accumulate || first > 0)
            }
            return
        }
        forEachTile(tileRows) { first, count, scratch in
            // dx (+)= dy[:, first ..< first + count] · W[first ..< first + count, :]
            BLAS.gemm(m: rows, n: inner, k: count, a: dy + first, lda: out, b: scratch, ldb: inner,
                      beta: accumulate || first > 0 ? 1 : 0, c: dx, ldc: inner)
        }
    }

    /// The naive reference of `multiply`: a scalar triple loop in Double over `referenceValue`.
    public func referenceMultiply(_ x: [Float], rows: Int) -> [Float] {
        let (out, inner) = (outFeatures, inFeatures)
        let w = (0..<count).map(referenceValue)
        return (0..<(rows * out)).map { index in
            let (r, o) = (index / out, index % out)
            var sum = 0.0
            for i in 0..<inner { sum += Double(x[r * inner + i]) * Double(w[o * inner + i]) }
            return Float(sum)
        }
    }
}
