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
    /// are summed in fp32, at about twice the speed. Frozen weights only: trained weights, adapters,
    /// attention and all gradients of trained parameters stay fp32.
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
        let one = finch_bf16_packed_b_count(Int32(inFeatures), Int32(outFeatures)) * 2
        return backwardPacked == nil ? one : 2 * one
    }

    /// y[rows, out] = x[rows, in] · Wᵀ (+ y when `accumulate`), on `threads` threads.
    public func product(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool,
                        threads: Int = Threads.count) {
        BF16Products.multiply(x, rows: rows, k: inFeatures, packed: forwardPacked, n: outFeatures, into: y,
                              accumulate: accumulate, threads: threads)
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
enum BF16Products {
    static func multiply(_ a: UnsafePointer<Float>, rows m: Int, k: Int, packed b: UnsafePointer<UInt16>, n: Int,
                         into c: UnsafeMutablePointer<Float>, accumulate: Bool, threads requested: Int = Threads.count) {
        guard m > 0, n > 0 else { return }
        let tile = Int(FINCH_BF16_TILE), panel = Int(FINCH_BF16_PANEL)
        let tiles = (m + tile - 1) / tile, panels = (n + panel - 1) / panel
        let scratch = ScratchPool.take(bytes: finch_bf16_packed_a_count(Int32(m), Int32(k)) * MemoryLayout<UInt32>.stride)
        defer { ScratchPool.give(scratch) }
        let packedA = scratch.words
        let threads = max(1, min(requested, panels))
        if threads == 1 {
            finch_bf16_pack_a(a, Int32(k), Int32(m), Int32(k), packedA, 0, Int32(tiles))
            finch_bf16_gemm(packedA, b, Int32(m), Int32(n), Int32(k), c, Int32(n), accumulate ? 1 : 0, 0, Int32(n))
            return
        }
        let shared = Operands(a: a, packedA: packedA, b: b, c: c)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            finch_bf16_pack_a(shared.a, Int32(k), Int32(m), Int32(k), shared.packedA,
                              Int32(tiles * t / threads), Int32(tiles * (t + 1) / threads))
        }
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let first = panels * t / threads * panel, last = min(n, panels * (t + 1) / threads * panel)
            finch_bf16_gemm(shared.packedA, shared.b, Int32(m), Int32(n), Int32(k), shared.c, Int32(n),
                            accumulate ? 1 : 0, Int32(first), Int32(last))
        }
    }
}

/// The pointers of one product, handed to the worker threads (each writes disjoint tiles or columns).
private struct Operands: @unchecked Sendable {
    let a: UnsafePointer<Float>
    let packedA: UnsafeMutablePointer<UInt32>
    let b: UnsafePointer<UInt16>
    let c: UnsafeMutablePointer<Float>
}
