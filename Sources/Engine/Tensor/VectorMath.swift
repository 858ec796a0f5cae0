/// SIMD transcendental functions for the elementwise kernels. Each matches the C library's float result
/// to a few ulps; the tests compare them against Foundation over their whole useful range.
public typealias Vector = SIMD16<Float>

@usableFromInline let vectorWidth = Vector.scalarCount

public enum VectorMath {
    /// eˣ, Cephes-style: range reduction by ln 2 in two parts, degree-6 polynomial, exponent by bits.
    @inlinable
    public static func exp(_ input: Vector) -> Vector {
        var x = input.replacing(with: 88.37626, where: input .> 88.37626)
        x = x.replacing(with: -87.33654, where: x .< -87.33654)
        // n = round(x / ln 2) by the 1.5·2²³ trick: adding it leaves n in the low mantissa bits.
        let shifted = x * 1.44269504088896341 + 12_582_912
        let n = shifted - 12_582_912
        let r = x - n * 0.693359375 + n * 2.12194440e-4
        var p = Vector(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * r * r + r + 1
        // 2ⁿ built from its bits: (n + 127) << 23, with n read from the shifted mantissa.
        let bits = (unsafeBitCast(shifted, to: SIMD16<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: Vector.self)
    }

    /// erf(x) as a rational function on [-4, 4] (outside it erf is ±1 in float), as Eigen computes it.
    @inlinable
    public static func erf(_ input: Vector) -> Vector {
        var x = input.replacing(with: 4, where: input .> 4)
        x = x.replacing(with: -4, where: x .< -4)
        let x2 = x * x
        var p = x2 * -2.72614225801306e-10 + 2.77068142495902e-08
        p = x2 * p - 2.10102402082508e-06
        p = x2 * p - 5.69250639462346e-05
        p = x2 * p - 7.34990630326855e-04
        p = x2 * p - 2.95459980854025e-03
        p = x2 * p - 1.60960333262415e-02
        p = x * p
        var q = x2 * -1.45660718464996e-05 - 2.13374055278905e-04
        q = x2 * q - 1.68282697438203e-03
        q = x2 * q - 7.37332916720468e-03
        q = x2 * q - 1.42647390514189e-02
        return p / q
    }

    /// tanh(x) as a rational function on [-7.9, 7.9] (±1 beyond in float), as Eigen computes it;
    /// exact (x itself) for |x| < 4e-4.
    @inlinable
    public static func tanh(_ input: Vector) -> Vector {
        var x = input.replacing(with: 7.90531110763549805, where: input .> 7.90531110763549805)
        x = x.replacing(with: -7.90531110763549805, where: x .< -7.90531110763549805)
        let x2 = x * x
        var p = x2 * -2.76076847742355e-16 + 2.00018790482477e-13
        p = x2 * p - 8.60467152213735e-11
        p = x2 * p + 5.12229709037114e-08
        p = x2 * p + 1.48572235717979e-05
        p = x2 * p + 6.37261928875436e-04
        p = x2 * p + 4.89352455891786e-03
        p = x * p
        var q = x2 * 1.19825839466702e-06 + 1.18534705686654e-04
        q = x2 * q + 2.26843463243900e-03
        q = x2 * q + 4.89352518554385e-03
        let tiny = (input .< 0.0004) .& (input .> -0.0004)
        return (p / q).replacing(with: input, where: tiny)
    }
}
