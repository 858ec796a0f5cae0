import CKernels
import Dispatch
import Foundation

/// How products with frozen weights are computed (`Linear.precision`; the language's `precision`
/// command, `finch bench --precision`).
public enum FrozenPrecision: String, Sendable, CaseIterable {
    /// fp32 sgemm (OpenBLAS): the same arithmetic as PyTorch's fp32 CPU path. The default.
    case fp32
    /// bf16 operands, fp32 sums (AVX512-BF16): the weight and the activations are rounded to bf16 — what
    /// `torch.autocast("cpu", dtype=torch.bfloat16)` does to a linear layer's inputs — and the exact products
    /// are summed in fp32, at about twice the speed. Frozen weights only (fp32 or 4-bit): trained weights,
    /// adapters, attention and all gradients of trained parameters stay fp32.
    case bf16

    /// Whether this CPU can compute bf16 products (AVX512F and AVX512-BF16).
    public static var bf16Available: Bool { finch_bf16_supported() != 0 }

    /// Throws when this CPU cannot compute in this precision.
    public func checkAvailable() throws {
        if self == .bf16, !Self.bf16Available {
            throw PrecisionError("this CPU has no AVX512-BF16 instructions, so bf16 products are not available; precision stays fp32")
        }
    }
}

/// Why a precision cannot be used.
public struct PrecisionError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A frozen weight W[out, in] rounded to bf16 and packed for the AVX512-BF16 kernel, once per
/// orientation: for y = x·Wᵀ (reduction over in) and, built on first use, for dx = dy·W (over out).
public final class BF16Weight: @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    private let forwardPacked: UnsafeMutablePointer<UInt16>
    private var backwardPacked: UnsafeMutablePointer<UInt16>?
    private let source: UnsafePointer<Float>
    private let lock = NSLock()

    /// Packs W[out, in] for forward products; `weight` must stay alive and unchanged while this exists
    /// (the backward packing reads it on first use).
    public init(_ weight: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int) {
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.source = weight
        forwardPacked = .allocate(capacity: finch_bf16_packed_b_count(Int32(inFeatures), Int32(outFeatures)))
        finch_bf16_pack_b(weight, Int32(inFeatures), 1, Int32(inFeatures), Int32(outFeatures), forwardPacked)
    }

    deinit {
        forwardPacked.deallocate()
        backwardPacked?.deallocate()
    }

    /// Bytes held by the packed copies.
    public var byteCount: Int {
        let one = Self.packedByteCount(outFeatures: outFeatures, inFeatures: inFeatures)
        return backwardPacked == nil ? one : 2 * one
    }

    /// Bytes of one packed copy (forward W or backward Wᵀ) of a weight [out, in].
    public static func packedByteCount(outFeatures: Int, inFeatures: Int) -> Int {
        finch_bf16_packed_b_count(Int32(inFeatures), Int32(outFeatures)) * 2
    }

    /// Bytes of the packed bf16 copy of an activation x[rows, k] that one product takes from `ScratchPool`.
    public static func packedActivationByteCount(rows: Int, k: Int) -> Int {
        finch_bf16_packed_a_count(Int32(rows), Int32(k)) * 4
    }

    /// y[rows, out] = x[rows, in] · Wᵀ (+ y when `accumulate`), on `threads` threads.
    public func product(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool,
                        bias: UnsafePointer<Float>? = nil, threads: Int = Threads.count) {
        BF16Products.multiply(x, rows: rows, k: inFeatures, packed: forwardPacked, n: outFeatures, into: y,
                              accumulate: accumulate, bias: bias, threads: threads)
    }

    /// dx[rows, in] = dy[rows, out] · W (+ dx when `accumulate`), on `threads` threads.
    public func transposedProduct(_ dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>, accumulate: Bool,
                                  threads: Int = Threads.count) {
        let packed: UnsafeMutablePointer<UInt16> = lock.withLock {
            if let backwardPacked { return backwardPacked }
            let packed = UnsafeMutablePointer<UInt16>.allocate(
                capacity: finch_bf16_packed_b_count(Int32(outFeatures), Int32(inFeatures)))
            finch_bf16_pack_b(source, Int32(inFeatures), 0, Int32(outFeatures), Int32(inFeatures), packed)
            backwardPacked = packed
            return packed
        }
        BF16Products.multiply(dy, rows: rows, k: outFeatures, packed: packed, n: inFeatures, into: dx,
                              accumulate: accumulate, threads: threads)
    }
}

/// C[m, n] = A[m, k] · B[k, n] for a packed B, A rounded and packed per call, split over `Threads.count`.
public enum BF16Products {
    static func multiply(_ a: UnsafePointer<Float>, rows m: Int, k: Int, packed b: UnsafePointer<UInt16>, n: Int,
                         into c: UnsafeMutablePointer<Float>, accumulate: Bool, bias: UnsafePointer<Float>? = nil,
                         threads: Int = Threads.count) {
        guard m > 0, n > 0 else { return }
        let packedA = packA(a, lda: k, rows: m, k: k, threads: threads)
        defer { ScratchPool.give(packedA) }
        multiply(packedA: packedA.words, rows: m, k: k, packed: b, n: n, into: c, ldc: n, accumulate: accumulate,
                 bias: bias, threads: threads)
    }

    /// A[m, k] (leading dimension `lda`) rounded to bf16 and packed in tiles of rows, in a `ScratchPool`
    /// buffer the caller gives back.
    public static func packA(_ a: UnsafePointer<Float>, lda: Int, rows m: Int, k: Int,
                             threads requested: Int = Threads.count) -> ScratchPool.Buffer {
        let buffer = ScratchPool.take(bytes: finch_bf16_packed_a_count(Int32(m), Int32(k)) * MemoryLayout<UInt32>.stride)
        let tiles = (m + Int(FINCH_BF16_TILE) - 1) / Int(FINCH_BF16_TILE)
        let shared = Shared((a, buffer.words))
        Parallel.forEachChunk(tiles, threads: requested) { range in
            let (a, packed) = shared.value
            finch_bf16_pack_a(a, Int32(lda), Int32(m), Int32(k), packed, Int32(range.lowerBound), Int32(range.upperBound))
        }
        return buffer
    }

    /// B[k, n] rounded to bf16 and packed (`finch_bf16_pack_b`: element (kk, j) read from
    /// `byColumn ? src[j·ld + kk] : src[kk·ld + j]`) into a `ScratchPool` buffer the caller gives back,
    /// the 32-column panels split across threads.
    public static func packB(_ src: UnsafePointer<Float>, ld: Int, byColumn: Bool, k: Int, n: Int,
                             threads: Int = Threads.count) -> ScratchPool.Buffer {
        let buffer = ScratchPool.take(bytes: finch_bf16_packed_b_count(Int32(k), Int32(n)) * MemoryLayout<UInt16>.stride)
        let panel = Int(FINCH_BF16_PANEL), panels = (n + panel - 1) / panel
        let panelCount = finch_bf16_packed_b_count(Int32(k), FINCH_BF16_PANEL)
        let shared = Shared((src, buffer.halfWords))
        Parallel.forEachChunk(panels, threads: threads) { range in
            let (src, packed) = shared.value
            let first = range.lowerBound * panel, columns = min(n, range.upperBound * panel) - first
            finch_bf16_pack_b(src + (byColumn ? first * ld : first), Int32(ld), byColumn ? 1 : 0, Int32(k), Int32(columns),
                              packed + range.lowerBound * panelCount)
        }
        return buffer
    }

    /// C[m, n] (leading dimension `ldc`) = (C +) A·B, or A·B + bias[n] broadcast over rows when `bias` is
    /// given (and `accumulate` is false), for A packed by `packA` and B by `finch_bf16_pack_b`; the 32-column
    /// panels split across threads.
    public static func multiply(packedA: UnsafePointer<UInt32>, rows m: Int, k: Int, packed b: UnsafePointer<UInt16>, n: Int,
                                into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil,
                                threads: Int = Threads.count) {
        let panel = Int(FINCH_BF16_PANEL), panels = (n + panel - 1) / panel
        let shared = Shared((packedA, b, c, bias))
        Parallel.forEachChunk(panels, threads: threads) { range in
            let (packedA, b, c, bias) = shared.value
            finch_bf16_gemm(packedA, b, Int32(m), Int32(n), Int32(k), c, Int32(ldc), accumulate ? 1 : 0, bias,
                            Int32(range.lowerBound * panel), Int32(min(n, range.upperBound * panel)))
        }
    }
}
