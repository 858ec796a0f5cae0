import FinchQuantization
import FinchTensor

/// The per-step scalars of `AdamW8bit`, already rounded to Float as torch rounds Python numbers.
struct Update8bitCoefficients {
    var beta1: Float
    var oneMinusBeta1: Float
    var beta2: Float
    var oneMinusBeta2: Float
    /// fp32(1 − lr·wd), or nil when the parameter's weight decay is 0 (bitsandbytes skips the multiply).
    var decay: Float?
    /// √(1 − β₂ᵗ)
    var correction2: Float
    /// 8-bit step: ε. 32-bit step: ε·√(1 − β₂ᵗ).
    var epsilon: Float
    /// 8-bit step: −lr/(1 − β₁ᵗ). 32-bit step: −lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ).
    var scale: Float
}

extension AdamW8bit {
    /// bitsandbytes' 8-bit step on the dequantized moments m, v [count] (updated in place) and p [count].
    /// torch 2.13's CPU `add_(x, alpha=a)` and `addcmul_` are fused multiply-adds, in its vector loop and its
    /// scalar tail alike (measured against numpy); `addcdiv_` is p + (s·m)/d, not fused.
    @inline(__always)
    static func update8bit(_ p: UnsafeMutablePointer<Float>, gradient g: UnsafeMutablePointer<Float>,
                           firstMoment m: UnsafeMutablePointer<Float>, secondMoment v: UnsafeMutablePointer<Float>,
                           count: Int, _ c: Update8bitCoefficients) {
        let decays = c.decay != nil, decay = c.decay ?? 1
        let oneMinusBeta1 = Vector(repeating: c.oneMinusBeta1)
        var i = 0
        while i + Vector.scalarCount <= count {
            let gv = Kernels.load(g + i)
            let mv = (Kernels.load(m + i) * c.beta1).addingProduct(gv, oneMinusBeta1)        // fma(g, 1−β₁, m·β₁)
            let vv = (Kernels.load(v + i) * c.beta2).addingProduct(c.oneMinusBeta2 * gv, gv)  // fma((1−β₂)·g, g, v·β₂)
            let denominator = vv.squareRoot() / c.correction2 + c.epsilon
            var pv = Kernels.load(p + i)
            if decays { pv = pv * decay }
            pv = pv + c.scale * mv / denominator
            Kernels.store(mv, to: m + i)
            Kernels.store(vv, to: v + i)
            Kernels.store(pv, to: p + i)
            i += Vector.scalarCount
        }
        while i < count {
            let gi = g[i]
            let mi = (m[i] * c.beta1).addingProduct(gi, c.oneMinusBeta1)
            let vi = (v[i] * c.beta2).addingProduct(c.oneMinusBeta2 * gi, gi)
            let denominator = vi.squareRoot() / c.correction2 + c.epsilon
            var pi = p[i]
            if decays { pi = pi * decay }
            m[i] = mi
            v[i] = vi
            p[i] = pi + c.scale * mi / denominator
            i += 1
        }
    }

    /// bitsandbytes' 32-bit step (parameters under 4096 values): moments as in `update8bit`, then
    /// p ← p·decay; p ← fma(m / (√v + ε·√(1 − β₂ᵗ)), scale, p).
    @inline(__always)
    static func update32bit(_ p: UnsafeMutablePointer<Float>, gradient g: UnsafeMutablePointer<Float>,
                            firstMoment m: UnsafeMutablePointer<Float>, secondMoment v: UnsafeMutablePointer<Float>,
                            count: Int, _ c: Update8bitCoefficients) {
        let decays = c.decay != nil, decay = c.decay ?? 1
        let oneMinusBeta1 = Vector(repeating: c.oneMinusBeta1), scale = Vector(repeating: c.scale)
        var i = 0
        while i + Vector.scalarCount <= count {
            let gv = Kernels.load(g + i)
            let mv = (Kernels.load(m + i) * c.beta1).addingProduct(gv, oneMinusBeta1)
            let vv = (Kernels.load(v + i) * c.beta2).addingProduct(c.oneMinusBeta2 * gv, gv)
            let update = mv / (vv.squareRoot() + c.epsilon)
            var pv = Kernels.load(p + i)
            if decays { pv = pv * decay }
            Kernels.store(mv, to: m + i)
            Kernels.store(vv, to: v + i)
            Kernels.store(pv.addingProduct(update, scale), to: p + i)
            i += Vector.scalarCount
        }
        while i < count {
            let gi = g[i]
            let mi = (m[i] * c.beta1).addingProduct(gi, c.oneMinusBeta1)
            let vi = (v[i] * c.beta2).addingProduct(c.oneMinusBeta2 * gi, gi)
            let update = mi / (vi.squareRoot() + c.epsilon)
            var pi = p[i]
            if decays { pi = pi * decay }
            m[i] = mi
            v[i] = vi
            p[i] = pi.addingProduct(update, c.scale)
            i += 1
        }
    }
}

/// One parameter's 8-bit moments: codes [count] of the signed (m) and unsigned (v) dynamic maps and an fp32
/// absmax per block of 256 [blocks], stored as bitsandbytes stores them.
final class QuantizedMoments {
    let count: Int
    let blocks: Int
    private let firstCodes: UnsafeMutablePointer<UInt8>
    private let secondCodes: UnsafeMutablePointer<UInt8>
    private let firstAbsmax: UnsafeMutablePointer<Float>
    private let secondAbsmax: UnsafeMutablePointer<Float>

    static let signedMap = Blockwise8Bit.dynamicMap
    static let unsignedMap = Blockwise8Bit.unsignedDynamicMap
    static let signedTable = Blockwise8Bit.lookupTable(for: signedMap)
    static let unsignedTable = Blockwise8Bit.lookupTable(for: unsignedMap)

    /// Zero moments (codes 0 with absmax 0 dequantize to 0, as bitsandbytes' zero-initialized state does).
    init(count: Int) {
        self.count = count
        blocks = AdamW8bit.blockCount(count)
        firstCodes = .allocate(capacity: count)
        secondCodes = .allocate(capacity: count)
        firstAbsmax = .allocate(capacity: blocks)
        secondAbsmax = .allocate(capacity: blocks)
        firstCodes.initialize(repeating: 0, count: count)
        secondCodes.initialize(repeating: 0, count: count)
        firstAbsmax.initialize(repeating: 0, count: blocks)
        secondAbsmax.initialize(repeating: 0, count: blocks)
    }

    deinit {
        firstCodes.deallocate()
        secondCodes.deallocate()
        firstAbsmax.deallocate()
        secondAbsmax.deallocate()
    }

    /// Copies of the codes and absmax values.
    var codes: (first: [UInt8], second: [UInt8], firstAbsmax: [Float], secondAbsmax: [Float]) {
        (Array(UnsafeBufferPointer(start: firstCodes, count: count)), Array(UnsafeBufferPointer(start: secondCodes, count: count)),
         Array(UnsafeBufferPointer(start: firstAbsmax, count: blocks)), Array(UnsafeBufferPointer(start: secondAbsmax, count: blocks)))
    }

    /// Replaces the state (sizes checked by the caller).
    func load(first: [UInt8], second: [UInt8], firstAbsmax a1: [Float], secondAbsmax a2: [Float]) {
        precondition(first.count == count && second.count == count && a1.count == blocks && a2.count == blocks)
        firstCodes.update(from: first, count: count)
        secondCodes.update(from: second, count: count)
        firstAbsmax.update(from: a1, count: blocks)
        secondAbsmax.update(from: a2, count: blocks)
    }

    /// m[i] = signed[code₁[i]]·absmax₁[i/256], v[i] = unsigned[code₂[i]]·absmax₂[i/256] (m, v [count]).
    func dequantize(into m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>) {
        Self.signedMap.withUnsafeBufferPointer { map in Self.dequantize(firstCodes, firstAbsmax, map, count: count, into: m) }
        Self.unsignedMap.withUnsafeBufferPointer { map in Self.dequantize(secondCodes, secondAbsmax, map, count: count, into: v) }
    }

    /// The codes and absmax of m and v [count] (bitsandbytes' `quantize_blockwise` on the CPU).
    func quantize(from m: UnsafePointer<Float>, _ v: UnsafePointer<Float>) {
        Self.signedTable.withUnsafeBufferPointer { table in Self.quantize(m, count: count, table, into: firstCodes, firstAbsmax) }
        Self.unsignedTable.withUnsafeBufferPointer { table in Self.quantize(v, count: count, table, into: secondCodes, secondAbsmax) }
    }

    private static func dequantize(_ codes: UnsafePointer<UInt8>, _ absmax: UnsafePointer<Float>, _ map: UnsafeBufferPointer<Float>,
                                   count: Int, into out: UnsafeMutablePointer<Float>) {
        let size = AdamW8bit.blockSize
        for block in 0..<(count + size - 1) / size {
            let scale = absmax[block]
            for i in block * size..<min(count, (block + 1) * size) { out[i] = map[Int(codes[i])] * scale }
        }
    }

    /// Per block of 256: a = max |x| (a block of zeros: a = 0, codes 0); v = clamp(x·(1/a), −1, 1);
    /// code = table[trunc(((v + 1)·0.5)·65535 + 0.5)].
    private static func quantize(_ values: UnsafePointer<Float>, count: Int, _ table: UnsafeBufferPointer<UInt8>,
                                 into codes: UnsafeMutablePointer<UInt8>, _ absmax: UnsafeMutablePointer<Float>) {
        let size = AdamW8bit.blockSize, last = Float(Blockwise8Bit.cellCount - 1)
        for block in 0..<(count + size - 1) / size {
            let range = block * size..<min(count, (block + 1) * size)
            var a: Float = 0
            for i in range { a = max(a, abs(values[i])) }
            absmax[block] = a
            guard a != 0 else {
                for i in range { codes[i] = 0 }
                continue
            }
            let inverse = 1 / a
            for i in range {
                let v = min(max(values[i] * inverse, -1), 1)
                codes[i] = table[Int(((v + 1) * 0.5) * last + 0.5)]
            }
        }
    }
}
