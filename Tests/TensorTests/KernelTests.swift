import Foundation
import Testing
@testable import FinchTensor

/// The SIMD kernels against Foundation's scalar functions, over their whole useful range.
@Suite struct VectorMathTests {
    static func sweep(from low: Float, to high: Float, count: Int = 40_000) -> [Float] {
        (0..<count).map { low + (high - low) * Float($0) / Float(count - 1) }
    }

    func maxRelativeError(_ f: (Vector) -> Vector, _ g: (Float) -> Float, _ xs: [Float], floor: Float) -> Float {
        var worst: Float = 0
        for start in stride(from: 0, to: xs.count - 15, by: 16) {
            let v = f(Vector(xs[start..<(start + 16)]))
            for i in 0..<16 {
                let expected = g(xs[start + i])
                worst = max(worst, abs(v[i] - expected) / max(abs(expected), floor))
            }
        }
        return worst
    }

    @Test func expMatchesFoundation() {
        let error = maxRelativeError(VectorMath.exp, Foundation.exp, Self.sweep(from: -87, to: 88), floor: 1e-30)
        #expect(error < 4e-7)
    }

    @Test func expSaturatesWithoutNaN() {
        let v = VectorMath.exp(Vector(repeating: -1000)), w = VectorMath.exp(Vector(repeating: 1000))
        #expect(v[0] >= 0 && v[0] < 1e-37)
        #expect(w[0].isFinite && w[0] > 1e38)
    }

    @Test func erfMatchesFoundation() {
        let error = maxRelativeError(VectorMath.erf, Foundation.erf, Self.sweep(from: -6, to: 6), floor: 1e-3)
        #expect(error < 2e-6)
    }

    @Test func tanhMatchesFoundation() {
        let error = maxRelativeError(VectorMath.tanh, Foundation.tanh, Self.sweep(from: -20, to: 20), floor: 1e-3)
        #expect(error < 2e-6)
    }
}

@Suite struct KernelTests {
    /// Lengths that exercise the SIMD body, the scalar tail, and both.
    static let lengths = [1, 7, 16, 21, 33, 384]

    @Test(arguments: lengths) func geluMatchesExactDefinition(count: Int) {
        var random = SeededRandom(seed: UInt64(count))
        let values = (0..<count).map { _ in random.normal(std: 3) }
        let t = Tensor(values, shape: [count])
        Kernels.geluInPlace(t.data, count: count)
        for i in 0..<count {
            let x = Double(values[i])
            let expected = x * 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot()))
            #expect(abs(Double(t[i]) - expected) < 1e-6 * max(1, abs(expected)))
        }
    }

    @Test(arguments: lengths) func softmaxSumsToOneAndZeroesMaskedTail(count: Int) {
        var random = SeededRandom(seed: 7)
        let t = Tensor((0..<count).map { _ in random.normal(std: 5) }, shape: [count])
        let valid = max(1, count - 3)
        let original = t.array
        Kernels.softmaxInPlace(t.data, valid: valid, count: count)
        let maximum = original[..<valid].max()!
        let denominator = original[..<valid].map { Foundation.exp(Double($0 - maximum)) }.reduce(0, +)
        for i in 0..<valid {
            #expect(abs(Double(t[i]) - Foundation.exp(Double(original[i] - maximum)) / denominator) < 1e-6)
        }
        for i in valid..<count { #expect(t[i] == 0) }
    }

    @Test(arguments: lengths) func addScaleAndSum(count: Int) {
        let x = Tensor((0..<count).map { Float($0) }, shape: [count])
        let y = Tensor((0..<count).map { Float(2 * $0) }, shape: [count])
        Kernels.add(x.data, into: y.data, count: count)
        Kernels.scale(y.data, by: 0.5, count: count)
        #expect(y.array == (0..<count).map { 1.5 * Float($0) })
        #expect(Kernels.sum(x.data, count: count) == Float(count * (count - 1) / 2))
    }
}

@Suite struct BLASTests {
    /// C = op(A)·op(B) through sgemm against a Double triple loop, every transpose combination.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func gemmMatchesNaiveProduct(transposeA: Bool, transposeB: Bool) {
        let (m, n, k) = (5, 7, 9)
        var random = SeededRandom(seed: 3)
        let a = (0..<(m * k)).map { _ in random.normal() }
        let b = (0..<(k * n)).map { _ in random.normal() }
        var c = [Float](repeating: 0, count: m * n)
        // A is stored [m,k] (or [k,m] when transposed), B [k,n] (or [n,k]).
        BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                  a: a, lda: transposeA ? m : k, b: b, ldb: transposeB ? k : n, c: &c, ldc: n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let av = transposeA ? a[p * m + i] : a[i * k + p]
                    let bv = transposeB ? b[j * k + p] : b[p * n + j]
                    sum += Double(av) * Double(bv)
                }
                #expect(abs(Double(c[i * n + j]) - sum) < 1e-5)
            }
        }
    }

    @Test func linearAddsBiasPerRow() {
        let x: [Float] = [1, 2, 3, 4, 5, 6]          // [2, 3]
        let w: [Float] = [1, 0, 0, 0, 1, 0]          // [2, 3]: picks x0, x1
        let bias: [Float] = [10, 20]
        var y = [Float](repeating: -1, count: 4)
        BLAS.linear(x, rows: 2, inFeatures: 3, weight: w, bias: bias, outFeatures: 2, into: &y)
        #expect(y == [11, 22, 14, 25])
    }

    @Test func threadCountDefaultsToOneAndIsSettable() {
        let before = Threads.count
        #expect(before == 1)
        // Only asked-for values are applied (other tests run concurrently in this process, so this one
        // does not switch to two threads under them).
        Threads.setCount(0)
        #expect(Threads.count == 1)
        Threads.setCount(before)
        #expect(!Threads.coreName.isEmpty)
    }
}

@Suite struct RandomTests {
    @Test func sameSeedSameStream() {
        var a = SeededRandom(seed: 42), b = SeededRandom(seed: 42), c = SeededRandom(seed: 43)
        let xs = (0..<100).map { _ in a.next() }
        #expect(xs == (0..<100).map { _ in b.next() })
        #expect(xs != (0..<100).map { _ in c.next() })
    }

    @Test func normalHasUnitMomentsAndStateRoundTrips() throws {
        var random = SeededRandom(seed: 1)
        let xs = (0..<200_000).map { _ in Double(random.normal()) }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count)
        #expect(abs(mean) < 0.01)
        #expect(abs(variance - 1) < 0.01)
        let saved = try JSONEncoder().encode(random)
        var restored = try JSONDecoder().decode(SeededRandom.self, from: saved)
        #expect(restored.next() == random.next())
    }

    @Test func uniformStaysInRange() {
        var random = SeededRandom(seed: 9)
        for _ in 0..<10_000 {
            let u = random.uniform(-2, 3)
            #expect(u >= -2 && u < 3)
        }
    }
}
