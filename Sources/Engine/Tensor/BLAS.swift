import CBLAS
import Dispatch
import Foundation

/// Matrix products through OpenBLAS sgemm on row-major fp32 buffers. Transposes are flags, never copies.
public enum BLAS {
    /// C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C, row-major, with leading dimensions given
    /// explicitly so that strided views (one attention head inside a [tokens, hidden] matrix) need no copy.
    /// With `Threads.count` > 1, a large product is split into blocks of C's rows, one single-threaded
    /// sgemm per thread (OpenBLAS's own threads spin between calls and would take the cores that Finch's
    /// other parallel work needs).
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        threads: Int = Threads.count
    ) {
        guard threads > 1, m >= 2 * threads, m * n * k >= parallelThreshold else {
            sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let operands = Shared((a, b, c))
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let (a, b, c) = operands.value
            let first = m * t / threads, last = m * (t + 1) / threads
            let rowsOfA = a + (transposeA ? first : first * lda)
            sgemm(transposeA: transposeA, transposeB: transposeB, m: last - first, n: n, k: k, alpha: alpha,
                  a: rowsOfA, lda: lda, b: b, ldb: ldb, beta: beta, c: c + first * ldc, ldc: ldc)
        }
    }

    /// Multiply-adds (m·n·k) from which a product is split across threads.
    static let parallelThreshold = 1 << 22

    private static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = Threads.defaultApplied
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[rows, out] = x[rows, in] · W[out, in]ᵀ (+ bias[out]) — the layout of torch.nn.Linear.
    public static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        if let bias {
            for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
        }
        gemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures,
             a: x, lda: inFeatures, b: weight, ldb: inFeatures,
             beta: bias != nil ? 1 : 0, c: y, ldc: outFeatures)
    }
}

/// Threads for Finch's matrix products. The default is one thread: on a 2-vCPU machine the second core
/// is often busy, so more threads are a measured option (`threads 2`, `finch bench --threads 2`), never an
/// assumption. OpenBLAS itself always runs one thread per call; Finch splits large products.
public enum Threads {
    nonisolated(unsafe) private static var chosen = 1
    private static let lock = NSLock()

    /// Pins OpenBLAS to one thread per call, once, before the first product or setting.
    static let defaultApplied: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    /// Sets the number of threads for matrix products.
    public static func setCount(_ count: Int) {
        _ = defaultApplied
        lock.withLock { chosen = max(1, count) }
    }

    /// The number of threads for matrix products now.
    public static var count: Int { lock.withLock { chosen } }

    /// The CPU core type OpenBLAS selected for its kernels (e.g. "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
