import CBLAS

/// Matrix products through OpenBLAS sgemm on row-major fp32 buffers. Transposes are flags, never copies.
public enum BLAS {
    /// C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C, row-major, with leading dimensions given
    /// explicitly so that strided views (one attention head inside a [tokens, hidden] matrix) need no copy.
    @inlinable
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
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

/// Thread count for the BLAS library. Finch's own loops run on the calling thread. The default is one
/// thread, whatever OpenBLAS would pick: on a 2-vCPU machine the second core is often busy, so more
/// threads are a measured option (`finch bench --threads 2`), never an assumption.
public enum Threads {
    /// Applies the one-thread default once, before the first product or setting.
    @usableFromInline static let defaultApplied: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    /// Sets the number of threads OpenBLAS uses for matrix products.
    public static func setCount(_ count: Int) {
        _ = defaultApplied
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS uses now.
    public static var count: Int {
        _ = defaultApplied
        return Int(openblas_get_num_threads())
    }

    /// The CPU core type OpenBLAS selected for its kernels (e.g. "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
