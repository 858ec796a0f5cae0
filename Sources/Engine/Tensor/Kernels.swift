import Foundation

/// Elementwise and reduction kernels over contiguous fp32 rows: a SIMD main loop plus a scalar tail.
/// Shapes are given in the argument names; all pointers are row-major.
public enum Kernels {
    /// y[i] += x[i]
    @inlinable
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + vectorWidth <= count {
            let v = load(x + i) + load(y + i)
            store(v, to: y + i)
            i += vectorWidth
        }
        while i < count { y[i] += x[i]; i += 1 }
    }

    /// y[i] *= m[i] (applying a dropout mask, or its backward)
    @inlinable
    public static func multiply(_ y: UnsafeMutablePointer<Float>, by m: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + vectorWidth <= count {
            store(load(y + i) * load(m + i), to: y + i)
            i += vectorWidth
        }
        while i < count { y[i] *= m[i]; i += 1 }
    }

    /// z[i] = x[i] · m[i]
    @inlinable
    public static func multiply(_ x: UnsafePointer<Float>, by m: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>,
                                count: Int) {
        var i = 0
        while i + vectorWidth <= count {
            store(load(x + i) * load(m + i), to: z + i)
            i += vectorWidth
        }
        while i < count { z[i] = x[i] * m[i]; i += 1 }
    }

    /// y[i] *= s
    @inlinable
    public static func scale(_ y: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
        var i = 0
        while i + vectorWidth <= count {
            store(load(y + i) * s, to: y + i)
            i += vectorWidth
        }
        while i < count { y[i] *= s; i += 1 }
    }

    /// Exact (erf) GELU in place: x · ½ · (1 + erf(x / √2)), as torch.nn.functional.gelu.
    @inlinable
    public static func geluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) { gelu(x, into: x, count: count) }

    /// y = exact GELU(x) (y may be x).
    @inlinable
    public static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        let invSqrt2: Float = 0.70710678118654752
        var i = 0
        while i + vectorWidth <= count {
            let v = load(x + i)
            store(v * 0.5 * (1 + VectorMath.erf(v * invSqrt2)), to: y + i)
            i += vectorWidth
        }
        while i < count {
            let v = x[i]
            y[i] = v * 0.5 * (1 + Foundation.erf(v * invSqrt2))
            i += 1
        }
    }

    /// Backward of exact GELU given its input x: dx = dy · (Φ(x) + x·φ(x)), written into `dy` in place.
    @inlinable
    public static func geluBackward(input x: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>, count: Int) {
        let invSqrt2: Float = 0.70710678118654752, invSqrt2Pi: Float = 0.39894228040143268
        var i = 0
        while i + vectorWidth <= count {
            let v = load(x + i)
            let cdf = 0.5 * (1 + VectorMath.erf(v * invSqrt2))
            let pdf = invSqrt2Pi * VectorMath.exp(-0.5 * v * v)
            store(load(dy + i) * (cdf + v * pdf), to: dy + i)
            i += vectorWidth
        }
        while i < count {
            let v = x[i]
            let cdf = 0.5 * (1 + Foundation.erf(v * invSqrt2))
            let pdf = invSqrt2Pi * Foundation.exp(-0.5 * v * v)
            dy[i] *= cdf + v * pdf
            i += 1
        }
    }

    /// Backward of a softmax row given its output p: dz = p ⊙ (dp − Σ dp ⊙ p), written into `dp`.
    @inlinable
    public static func softmaxBackward(probabilities p: UnsafePointer<Float>, gradient dp: UnsafeMutablePointer<Float>, count: Int) {
        var dot: Float = 0
        for i in 0..<count { dot += dp[i] * p[i] }
        for i in 0..<count { dp[i] = p[i] * (dp[i] - dot) }
    }

    /// tanh-approximated GELU in place: ½x(1 + tanh(√(2/π)(x + 0.044715x³))), as gelu(approximate="tanh").
    @inlinable
    public static func geluTanhInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) { geluTanh(x, into: x, count: count) }

    /// y = tanh-approximated GELU(x) (y may be x).
    @inlinable
    public static func geluTanh(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        let c: Float = 0.7978845608028654
        var i = 0
        while i + vectorWidth <= count {
            let v = load(x + i)
            store(0.5 * v * (1 + VectorMath.tanh(c * (v + 0.044715 * v * v * v))), to: y + i)
            i += vectorWidth
        }
        while i < count {
            let v = x[i]
            y[i] = 0.5 * v * (1 + Foundation.tanh(c * (v + 0.044715 * v * v * v)))
            i += 1
        }
    }

    /// tanh in place.
    @inlinable
    public static func tanhInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + vectorWidth <= count {
            store(VectorMath.tanh(load(x + i)), to: x + i)
            i += vectorWidth
        }
        while i < count { x[i] = Foundation.tanh(x[i]); i += 1 }
    }

    /// Softmax over the first `valid` entries of a row in place; entries from `valid` to `count` become 0
    /// (masked keys). Subtracts the row maximum first, as torch does.
    @inlinable
    public static func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, valid: Int, count: Int) {
        var maximum = -Float.infinity
        for i in 0..<valid where row[i] > maximum { maximum = row[i] }
        var sum: Float = 0
        var i = 0
        var partial = Vector.zero
        while i + vectorWidth <= valid {
            let e = VectorMath.exp(load(row + i) - maximum)
            store(e, to: row + i)
            partial += e
            i += vectorWidth
        }
        sum = partial.sum()
        while i < valid { let e = Foundation.exp(row[i] - maximum); row[i] = e; sum += e; i += 1 }
        let inverse = 1 / sum
        scale(row, by: inverse, count: valid)
        if count > valid { (row + valid).update(repeating: 0, count: count - valid) }
    }

    /// Sum of a row.
    @inlinable
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var partial = Vector.zero
        var i = 0
        while i + vectorWidth <= count { partial += load(x + i); i += vectorWidth }
        var total = partial.sum()
        while i < count { total += x[i]; i += 1 }
        return total
    }

    /// Sum of squared differences from `mean`.
    @inlinable
    public static func sumOfSquares(_ x: UnsafePointer<Float>, mean: Float, count: Int) -> Float {
        var partial = Vector.zero
        var i = 0
        while i + vectorWidth <= count { let d = load(x + i) - mean; partial += d * d; i += vectorWidth }
        var total = partial.sum()
        while i < count { let d = x[i] - mean; total += d * d; i += 1 }
        return total
    }

    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inlinable @inline(__always)
    public static func load(_ p: UnsafeMutablePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inlinable @inline(__always)
    public static func store(_ v: Vector, to p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
    }
}
