import Testing
import FinchTensor

/// Products split across threads (blocks of C's rows) against the same product on one thread, for every
/// combination of transposes, with and without accumulation, and shapes that do not split evenly.
@Suite struct SplitProductTests {
    static func filled(_ count: Int, seed: UInt64) -> Tensor {
        var random = SeededRandom(seed: seed)
        let t = Tensor(zeros: [count])
        random.fillUniform(t, -1, 1)
        return t
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)], [0, 1] as [Float])
    func splitProductsEqualOneThread(transposes: (Bool, Bool), beta: Float) {
        let (m, n, k) = (301, 257, 129)  // m·n·k above the split threshold; 301 rows do not halve
        let (ta, tb) = transposes
        let a = Self.filled(m * k, seed: 1), b = Self.filled(k * n, seed: 2)
        let (lda, ldb) = (ta ? m : k, tb ? k : n)
        let one = Self.filled(m * n, seed: 3), split = one.copy()
        BLAS.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda, b: b.data, ldb: ldb,
                  beta: beta, c: one.data, ldc: n, threads: 1)
        BLAS.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda, b: b.data, ldb: ldb,
                  beta: beta, c: split.data, ldc: n, threads: 2)
        var worst: Float = 0
        for i in 0..<(m * n) { worst = max(worst, abs(one[i] - split[i])) }
        #expect(worst <= 1e-5, "max |Δ| \(worst)")
        // A product for row 0 by hand: the split did not shift rows.
        var expected = Double(beta) * Double(Self.filled(m * n, seed: 3)[0])
        for p in 0..<k { expected += 0.5 * Double(a[ta ? p * lda : p]) * Double(b[tb ? p : p * ldb]) }
        #expect(abs(Double(split[0]) - expected) <= 1e-4)
    }
}
