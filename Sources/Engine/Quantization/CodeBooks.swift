/// The code tables of bitsandbytes 0.50.2 (`bitsandbytes.functional.get_4bit_type` and
/// `create_dynamic_map`), bit for bit, and what its CPU quantizers derive from them.

/// The two 4-bit data types of bitsandbytes.
public enum FourBitType: String, Sendable, CaseIterable, Codable {
    /// NormalFloat4: 16 quantiles of N(0, 1) scaled to [−1, 1] (QLoRA's type). Code 7 is 0.
    case nf4
    /// FP4 (1 sign, 2 exponent, 1 mantissa bit; exponent bias 2), divided by its largest value 12.
    /// Codes 0 and 8 are both 0.
    case fp4

    /// The 16 values, indexed by the 4-bit code.
    public var codebook: [Float] {
        switch self {
        case .nf4: CodeBooks.nf4
        case .fp4: CodeBooks.fp4
        }
    }
}

enum CodeBooks {
    /// bitsandbytes' hard-coded NF4 table (create_normal_map(offset=0.9677083)), read as torch reads it:
    /// each Python float rounded to float32.
    static let nf4: [Float] = ([
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ] as [Double]).map { Float($0) }

    /// FP4 in bit-pattern order, [0, 0.0625, 8, 12, 4, 6, 2, 3] and their negatives, each divided by 12
    /// in float32 (`data.div_(data.abs().max())`). bitsandbytes writes the negative zero as `-0`, a Python
    /// int, so code 8 is +0 like code 0.
    static let fp4: [Float] = ([0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3] as [Float]).map { $0 / 12 }

    /// `create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)`: for i in 0…6 the midpoints of
    /// `torch.linspace(0.1, 1, 2^i + 1)` times ±10^(i−6), plus 0 and 1, sorted (256 values, the first
    /// −0.99296874). The 8-bit blockwise type of double quantization (and of 8-bit optimizer states).
    static let dynamic = dynamicMap(signed: true)

    /// `create_dynamic_map(signed=False)`: for i in 0…6 the midpoints of `torch.linspace(0.1, 1, 2^(i+1) + 1)`
    /// times 10^(i−6), plus 0 and 1, sorted (256 values in [0, 1]): the map of 8-bit Adam's second moment.
    static let unsignedDynamic = dynamicMap(signed: false)

    private static func dynamicMap(signed: Bool) -> [Float] {
        let powers: [Float] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1]
        var values: [Float] = []
        for (i, power) in powers.enumerated() {
            let bounds = torchLinspace(0.1, 1, count: (1 << (signed ? i : i + 1)) + 1)
            let means = zip(bounds, bounds.dropFirst()).map { ($0 + $1) / 2 }
            values += means.map { power * $0 }
            if signed { values += means.map { -power * $0 } }
        }
        values += [0, 1]
        precondition(values.count == 256)
        return values.sorted()
    }

    /// `torch.linspace(start, end, count, dtype=float32)` as its CPU kernel computes it: step =
    /// (end − start)/(count − 1), then start + step·i (fused multiply-add) for the first half and
    /// end − step·(count − 1 − i) for the rest.
    static func torchLinspace(_ start: Float, _ end: Float, count: Int) -> [Float] {
        let step = (end - start) / Float(count - 1)
        return (0..<count).map { i in
            i < count / 2 ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(count - 1 - i))
        }
    }
}

/// How bitsandbytes' CPU quantize_4bit picks a code (its default, PyTorch kernel): the codes sorted by
/// value (a stable sort, so FP4's code 0 comes before code 8, both 0), the 15 midpoints between
/// neighbours, and `torch.bucketize(x, midpoints)`: the position is the number of midpoints strictly
/// below x, so a value exactly on a midpoint takes the lower code.
struct FourBitEncoder: Sendable {
    /// midpoints[k] = (sorted[k] + sorted[k+1]) / 2 in float32 for k < 15; lane 15 (+∞) only pads the vector.
    let midpoints: SIMD16<Float>
    /// The code at each sorted position.
    let codeAtPosition: [UInt8]

    static let nf4 = FourBitEncoder(.nf4)
    static let fp4 = FourBitEncoder(.fp4)

    static func of(_ type: FourBitType) -> FourBitEncoder { type == .nf4 ? nf4 : fp4 }

    private init(_ type: FourBitType) {
        let code = type.codebook
        let order = code.indices.sorted { code[$0] < code[$1] || (code[$0] == code[$1] && $0 < $1) }
        codeAtPosition = order.map { UInt8($0) }
        midpoints = SIMD16((0..<15).map { (code[order[$0]] + code[order[$0 + 1]]) / 2 } + [.infinity])
    }

    /// The 4-bit code of a value already scaled into [−1, 1]: the code at position (number of midpoints < x),
    /// found by a branchless binary search over the 15 sorted midpoints (steps 8, 4, 2, 1).
    @inline(__always)
    func code(_ x: Float) -> UInt8 {
        var position = midpoints[7] < x ? 8 : 0
        position += midpoints[position + 3] < x ? 4 : 0
        position += midpoints[position + 1] < x ? 2 : 0
        position += midpoints[position] < x ? 1 : 0
        return codeAtPosition[position]
    }

    /// The naive reference of `code`: torch.bucketize's definition, counting the midpoints below x one by one.
    func referenceCode(_ x: Float) -> UInt8 {
        var position = 0
        for k in 0..<15 where midpoints[k] < x { position += 1 }
        return codeAtPosition[position]
    }
}
