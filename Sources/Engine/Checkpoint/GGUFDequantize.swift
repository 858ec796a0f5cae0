import Foundation

/// ggml's block formats turned back into fp32, one kernel per type over whole blocks, written from ggml's
/// `dequantize_row_*` (ggml-quants.c) and gguf-py's `gguf/quants.py`. Each computes exactly what those do, in the
/// same float32 operations and order (`d * q + m`, `(d * scale) * q - dmin * min`, no fused multiply-add), so the
/// results are bit-identical to `gguf.quants.dequantize`. fp16 fields are little-endian IEEE half floats.
enum GGUFDequantize {
    /// Dequantizes `blocks` consecutive blocks starting at the first argument into
    /// `blocks × blockSize` floats at the third.
    typealias Kernel = (UnsafeRawPointer, Int, UnsafeMutablePointer<Float>) -> Void

    /// The kernel of a type, or nil when Finch has none.
    static func kernel(for type: GGUFTensorType) -> Kernel? {
        switch type {
        case .f32: f32
        case .f16: f16
        case .bf16: bf16
        case .q8_0: q8_0
        case .q4_0: q4_0
        case .q4_1: q4_1
        case .q5_0: q5_0
        case .q5_1: q5_1
        case .q2_K: q2_K
        case .q3_K: q3_K
        case .q4_K: q4_K
        case .q5_K: q5_K
        case .q6_K: q6_K
        default: nil
        }
    }

    @inline(__always) private static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// The little-endian fp16 at `offset`, as fp32 (exact).
    @inline(__always) private static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    // MARK: Plain types (block of 1)

    static func f32(_ x: UnsafeRawPointer, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            y[i] = Float(bitPattern: UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
    }

    static func f16(_ x: UnsafeRawPointer, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<count { y[i] = half(x, 2 * i) }
    }

    /// bfloat16 is the top half of an fp32.
    static func bf16(_ x: UnsafeRawPointer, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let bits = UInt16(littleEndian: x.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            y[i] = Float(bitPattern: UInt32(bits) << 16)
        }
    }

    // MARK: 32-element blocks

    /// block_q8_0 (34 bytes): d fp16, qs int8[32]; y = q * d.
    static func q8_0(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 34 * b, out = y + 32 * b
            let d = half(block, 0)
            for j in 0..<32 {
                out[j] = Float(Int8(bitPattern: byte(block, 2 + j))) * d
            }
        }
    }

    /// block_q4_0 (18 bytes): d fp16, qs[16] (element j in the low nibble of qs[j], j + 16 in the high one);
    /// y = d * (q - 8).
    static func q4_0(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 18 * b, out = y + 32 * b
            let d = half(block, 0)
            for j in 0..<16 {
                let q = byte(block, 2 + j)
                out[j] = d * Float(Int(q & 0x0F) - 8)
                out[j + 16] = d * Float(Int(q >> 4) - 8)
            }
        }
    }

    /// block_q4_1 (20 bytes): d fp16, m fp16, qs[16]; y = d * q + m.
    static func q4_1(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 20 * b, out = y + 32 * b
            let d = half(block, 0), m = half(block, 2)
            for j in 0..<16 {
                let q = byte(block, 4 + j)
                out[j] = d * Float(q & 0x0F) + m
                out[j + 16] = d * Float(q >> 4) + m
            }
        }
    }

    /// block_q5_0 (22 bytes): d fp16, qh uint32 (bit j: the fifth bit of element j), qs[16]; y = d * (q - 16).
    static func q5_0(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 22 * b, out = y + 32 * b
            let d = half(block, 0)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for j in 0..<16 {
                let q = UInt32(byte(block, 6 + j))
                let low = (q & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
                let high = (q >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = d * Float(Int(low) - 16)
                out[j + 16] = d * Float(Int(high) - 16)
            }
        }
    }

    /// block_q5_1 (24 bytes): d fp16, m fp16, qh uint32, qs[16]; y = d * q + m.
    static func q5_1(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 24 * b, out = y + 32 * b
            let d = half(block, 0), m = half(block, 2)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for j in 0..<16 {
                let q = UInt32(byte(block, 8 + j))
                let low = (q & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
                let high = (q >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = d * Float(low) + m
                out[j + 16] = d * Float(high) + m
            }
        }
    }

    // MARK: K types (256-element super-blocks)

    /// block_q2_K (84 bytes): scales[16] (low nibble scale, high nibble min, per 16 elements), qs[64] (2 bits),
    /// d fp16, dmin fp16. Element 128g + 32s + l is bits 2s of qs[32g + l]; y = (d * sc) * q - dmin * m.
    static func q2_K(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 84 * b, out = y + 256 * b
            let d = half(block, 80), dmin = half(block, 82)
            for g in 0..<2 {
                for s in 0..<4 {
                    for part in 0..<2 {
                        let sc = byte(block, 8 * g + 2 * s + part)
                        let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
                        for l in (16 * part)..<(16 * part + 16) {
                            let q = (byte(block, 16 + 32 * g + l) >> UInt8(2 * s)) & 3
                            out[128 * g + 32 * s + l] = dl * Float(q) - ml
                        }
                    }
                }
            }
        }
    }

    /// block_q3_K (110 bytes): hmask[32] (third bit, inverted: a clear bit subtracts 4), qs[64] (low 2 bits),
    /// scales[12] (16 six-bit scales, offset by 32), d fp16. y = (d * (scale - 32)) * q.
    static func q3_K(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 110 * b, out = y + 256 * b
            let d = half(block, 108)
            for g in 0..<2 {
                for s in 0..<4 {
                    let shift = UInt8(2 * s), bit = UInt8(4 * g + s)
                    for part in 0..<2 {
                        let i = 8 * g + 2 * s + part
                        let low = i < 8 ? byte(block, 96 + i) & 0x0F : byte(block, 96 + i - 8) >> 4
                        let high = (byte(block, 104 + i % 4) >> UInt8(2 * (i / 4))) & 3
                        let dl = d * Float(Int(low | high << 4) - 32)
                        for l in (16 * part)..<(16 * part + 16) {
                            let q = Int((byte(block, 32 + 32 * g + l) >> shift) & 3)
                            let hasHigh = (byte(block, l) >> bit) & 1 == 1
                            out[128 * g + 32 * s + l] = dl * Float(hasHigh ? q : q - 4)
                        }
                    }
                }
            }
        }
    }

    /// The 6-bit scale and min of sub-block j (0..<8) of a Q4_K / Q5_K block from its 12 packed bytes
    /// (ggml's get_scale_min_k4).
    @inline(__always) private static func scaleMin(_ j: Int, _ s: UnsafeRawPointer) -> (Float, Float) {
        if j < 4 {
            return (Float(byte(s, j) & 63), Float(byte(s, j + 4) & 63))
        }
        let scale = (byte(s, j + 4) & 0x0F) | ((byte(s, j - 4) >> 6) << 4)
        let min = (byte(s, j + 4) >> 4) | ((byte(s, j) >> 6) << 4)
        return (Float(scale), Float(min))
    }

    /// block_q4_K (144 bytes): d fp16, dmin fp16, scales[12] (8 six-bit scale/min pairs), qs[128].
    /// Element 64g + l (l < 32) is the low nibble of qs[32g + l], 64g + 32 + l its high nibble;
    /// y = (d * sc) * q - dmin * m per 32 elements.
    static func q4_K(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 144 * b, out = y + 256 * b
            let d = half(block, 0), dmin = half(block, 2)
            for g in 0..<4 {
                let (sc1, m1) = scaleMin(2 * g, block + 4), (sc2, m2) = scaleMin(2 * g + 1, block + 4)
                let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
                for l in 0..<32 {
                    let q = byte(block, 16 + 32 * g + l)
                    out[64 * g + l] = d1 * Float(q & 0x0F) - min1
                    out[64 * g + 32 + l] = d2 * Float(q >> 4) - min2
                }
            }
        }
    }

    /// block_q5_K (176 bytes): as Q4_K with qh[32] before qs[128]: bit k of qh[l] is the fifth bit of
    /// element 32k + l.
    static func q5_K(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 176 * b, out = y + 256 * b
            let d = half(block, 0), dmin = half(block, 2)
            for g in 0..<4 {
                let (sc1, m1) = scaleMin(2 * g, block + 4), (sc2, m2) = scaleMin(2 * g + 1, block + 4)
                let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
                let bit1 = UInt8(2 * g), bit2 = UInt8(2 * g + 1)
                for l in 0..<32 {
                    let q = byte(block, 48 + 32 * g + l), h = byte(block, 16 + l)
                    let q1 = (q & 0x0F) | ((h >> bit1) & 1) << 4
                    let q2 = (q >> 4) | ((h >> bit2) & 1) << 4
                    out[64 * g + l] = d1 * Float(q1) - min1
                    out[64 * g + 32 + l] = d2 * Float(q2) - min2
                }
            }
        }
    }

    /// block_q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), scales int8[16] (per 16 elements),
    /// d fp16. y = (d * scale) * (q - 32).
    static func q6_K(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 210 * b
            let d = half(block, 208)
            for n in 0..<2 {
                let ql = block + 64 * n, qh = block + 128 + 32 * n, sc = block + 192 + 8 * n
                let out = y + 256 * b + 128 * n
                for part in 0..<2 {
                    let d1 = d * Float(Int8(bitPattern: byte(sc, part))), d2 = d * Float(Int8(bitPattern: byte(sc, part + 2)))
                    let d3 = d * Float(Int8(bitPattern: byte(sc, part + 4))), d4 = d * Float(Int8(bitPattern: byte(sc, part + 6)))
                    for l in (16 * part)..<(16 * part + 16) {
                        let low1 = byte(ql, l), low2 = byte(ql, l + 32), h = byte(qh, l)
                        out[l] = d1 * Float(Int((low1 & 0x0F) | (h & 3) << 4) - 32)
                        out[l + 32] = d2 * Float(Int((low2 & 0x0F) | ((h >> 2) & 3) << 4) - 32)
                        out[l + 64] = d3 * Float(Int((low1 >> 4) | ((h >> 4) & 3) << 4) - 32)
                        out[l + 96] = d4 * Float(Int((low2 >> 4) | (h >> 6) << 4) - 32)
                    }
                }
            }
        }
    }
}
