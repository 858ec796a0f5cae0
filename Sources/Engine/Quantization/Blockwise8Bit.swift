/// 8-bit blockwise quantization with bitsandbytes' signed dynamic map, exactly as bitsandbytes 0.50.2
/// does it on the CPU (`quantize_blockwise` → `cquantize_blockwise_cpu_fp32`, `dequantize_blockwise`).
/// Double quantization stores the 4-bit block absmax values this way (block 256); 8-bit optimizer states
/// use the same format.
///
/// bitsandbytes' CPU kernel does not search the code: it looks the scaled value up in a table of 65,536
/// cells covering [−1, 1], each holding the code nearest to the cell's centre. So the code is the nearest
/// one up to the cell width (3·10⁻⁵), and values smaller than that (the map's finest codes, ±1e-6…) land
/// on the code of their cell: reproducing it takes the same table, which `Blockwise8Bit` builds.
public enum Blockwise8Bit {
    /// The 256 values of the signed dynamic map (`create_dynamic_map()`), sorted.
    public static var dynamicMap: [Float] { CodeBooks.dynamic }

    /// The 256 values of the unsigned dynamic map (`create_dynamic_map(signed=False)`), sorted, from 0 to 1.
    public static var unsignedDynamicMap: [Float] { CodeBooks.unsignedDynamic }

    /// Cells of the lookup table over [−1, 1].
    public static let cellCount = 65_536

    static let dynamicTable = lookupTable(for: CodeBooks.dynamic)

    /// bitsandbytes' CPU lookup table for a sorted 256-value `code` (either dynamic map): lut[i] = the code
    /// nearest −1 + 2i/65535, the first k with midpoint(k, k+1) ≥ that value. A value v already scaled into
    /// [−1, 1] gets lut[trunc(((v + 1) · 0.5) · 65535 + 0.5)].
    public static func lookupTable(for code: [Float]) -> [UInt8] {
        precondition(code.count == 256, "an 8-bit code has 256 values")
        let midpoints = (0..<255).map { 0.5 * (code[$0] + code[$0 + 1]) }
        var table = [UInt8](repeating: 0, count: cellCount)
        var k = 0
        for i in 0..<cellCount {
            let value: Float = -1 + (2 * Float(i)) / Float(cellCount - 1)
            while k < 255 && midpoints[k] < value { k += 1 }
            table[i] = UInt8(k)
        }
        return table
    }

    /// Quantizes `count` values in blocks of `blockSize` (the last block may be shorter); returns one
    /// code per value and absmax per block. Per block: a = max |x| (a block of zeros gets a = 0 and codes
    /// 0); v = clamp(x · (1/a), −1, 1); code = table[trunc(((v + 1) · 0.5) · 65535 + 0.5)].
    public static func quantize(_ values: UnsafePointer<Float>, count: Int, blockSize: Int) -> (codes: [UInt8], absmax: [Float]) {
        precondition(blockSize > 0, "block size must be positive")
        let blocks = (count + blockSize - 1) / blockSize
        var codes = [UInt8](repeating: 0, count: count)
        var absmax = [Float](repeating: 0, count: blocks)
        dynamicTable.withUnsafeBufferPointer { table in
            codes.withUnsafeMutableBufferPointer { out in
                for b in 0..<blocks {
                    let start = b * blockSize, end = min(start + blockSize, count)
                    var a: Float = 0
                    for i in start..<end { a = max(a, abs(values[i])) }
                    absmax[b] = a
                    guard a != 0 else { continue }
                    let inverse = 1 / a
                    for i in start..<end {
                        let v = min(max(values[i] * inverse, -1), 1)
                        let cell = ((v + 1) * 0.5) * Float(cellCount - 1) + 0.5
                        out[i] = table[Int(cell)]
                    }
                }
            }
        }
        return (codes, absmax)
    }

    /// x[i] = map[codes[i]] · absmax[i / blockSize] into `out` [count].
    public static func dequantize(codes: [UInt8], absmax: [Float], blockSize: Int, into out: UnsafeMutablePointer<Float>) {
        let map = CodeBooks.dynamic
        for i in codes.indices { out[i] = map[Int(codes[i])] * absmax[i / blockSize] }
    }

    /// The naive reference of `quantize`: the nearest code by exhaustive search (ties to the lower
    /// code). It equals bitsandbytes' table lookup except where a value lies within one table cell of
    /// a midpoint or below the cell width; the tests measure how often.
    public static func nearestCode(_ v: Float) -> UInt8 {
        let map = CodeBooks.dynamic
        var best = 0
        for k in 1..<256 where abs(v - map[k]) < abs(v - map[best]) { best = k }
        return UInt8(best)
    }
}
