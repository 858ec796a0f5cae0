import Foundation
import FinchTensor

/// Rotary position embedding in transformers' Llama convention: each head's vector is split in halves
/// (x₁, x₂) and rotated pairwise, x₁[i] with x₂[i], by the angle pos · θ^(−2i/d):
///   out₁ = x₁ cos − x₂ sin,  out₂ = x₂ cos + x₁ sin        (q·cos + rotate_half(q)·sin)
/// Frequencies and angles are computed in fp32 as transformers does.
public final class RotaryEmbedding: @unchecked Sendable {
    public let headSize: Int
    public let theta: Double
    private let inverseFrequencies: [Float]
    private var cosines: [Float] = []   // [positions, headSize / 2]
    private var sines: [Float] = []
    private var positionCapacity = 0

    public init(headSize: Int, theta: Double) {
        self.headSize = headSize
        self.theta = theta
        let half = headSize / 2
        inverseFrequencies = (0..<half).map { i in 1 / powf(Float(theta), Float(2 * i) / Float(headSize)) }
    }

    /// Makes the cos/sin tables cover positions 0..<count.
    public func reserve(positions count: Int) {
        guard count > positionCapacity else { return }
        let half = headSize / 2
        let capacity = max(count, positionCapacity * 2)
        cosines = [Float](repeating: 0, count: capacity * half)
        sines = [Float](repeating: 0, count: capacity * half)
        for p in 0..<capacity {
            for i in 0..<half {
                let angle = Float(p) * inverseFrequencies[i]
                cosines[p * half + i] = cosf(angle)
                sines[p * half + i] = sinf(angle)
            }
        }
        positionCapacity = capacity
    }

    /// Rotates every head of x[rows, heads · headSize] in place, row r at position positions[r];
    /// `inverse` rotates by −angle (the backward of the forward rotation, which is orthogonal).
    public func rotate(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, positions: UnsafePointer<Int32>, inverse: Bool = false) {
        let half = headSize / 2, width = heads * headSize
        let maxPosition = (0..<rows).reduce(0) { max($0, Int(positions[$1])) }
        reserve(positions: maxPosition + 1)
        cosines.withUnsafeBufferPointer { cosTable in
            sines.withUnsafeBufferPointer { sinTable in
                for r in 0..<rows {
                    let c = cosTable.baseAddress! + Int(positions[r]) * half
                    let s = sinTable.baseAddress! + Int(positions[r]) * half
                    let sign: Float = inverse ? -1 : 1
                    for h in 0..<heads {
                        let v = x + r * width + h * headSize
                        for i in 0..<half {
                            let a = v[i], b = v[i + half], sn = sign * s[i]
                            v[i] = a * c[i] - b * sn
                            v[i + half] = b * c[i] + a * sn
                        }
                    }
                }
            }
        }
    }
}
