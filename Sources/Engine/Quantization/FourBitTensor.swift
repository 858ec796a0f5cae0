import FinchTensor

/// How a tensor is quantized to 4 bits: bitsandbytes' `quant_type`, `blocksize` and `compress_statistics`.
public struct FourBitFormat: Sendable, Equatable, Codable, CustomStringConvertible {
    public var type: FourBitType
    /// Values per absmax block: a power of two from 32 to 4096 (bitsandbytes' choices).
    public var blockSize: Int
    /// Double quantization: the block absmax values are themselves quantized to 8 bits (block 256).
    public var doubleQuantization: Bool

    /// QLoRA's base-model format (`BitsAndBytesConfig(bnb_4bit_quant_type="nf4",
    /// bnb_4bit_use_double_quant=True)`): NF4, block 64, double quantization; 4.127 bits per value.
    public static let qlora = FourBitFormat(type: .nf4, blockSize: 64, doubleQuantization: true)

    public init(type: FourBitType = .nf4, blockSize: Int = 64, doubleQuantization: Bool = false) {
        self.type = type
        self.blockSize = blockSize
        self.doubleQuantization = doubleQuantization
    }

    public func validate() throws {
        guard (32...4096).contains(blockSize), blockSize & (blockSize - 1) == 0 else {
            throw QuantizationError("block size \(blockSize) is not one of 32, 64, 128, 256, 512, 1024, 2048, 4096")
        }
    }

    public var description: String {
        "\(type.rawValue), block \(blockSize)\(doubleQuantization ? ", double quantization" : "")"
    }
}

/// A value that cannot be quantized as asked, or stored statistics that do not fit their tensor.
public struct QuantizationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The absmax of every 4-bit block: as floats, or double-quantized.
public enum BlockScales: Sendable, Equatable {
    case plain([Float])
    case nested(NestedScales)
}

/// Double-quantized block absmax (bitsandbytes' nested QuantState): the absmax values minus their mean
/// (`offset`), quantized with `Blockwise8Bit` in blocks of 256. Block b's absmax is
/// map[codes[b]] · absmax[b / 256] + offset, in float32, as `dequantize_blockwise(...) + offset`.
public struct NestedScales: Sendable, Equatable {
    public static let blockSize = 256
    /// One 8-bit code per 4-bit block (`quant_state.absmax`).
    public let codes: [UInt8]
    /// One absmax per 256 codes (`quant_state.state2.absmax`).
    public let absmax: [Float]
    /// The mean of the original absmax values (`quant_state.offset`).
    public let offset: Float

    public init(codes: [UInt8], absmax: [Float], offset: Float) {
        self.codes = codes
        self.absmax = absmax
        self.offset = offset
    }

    /// The dequantized absmax of 4-bit block `block`.
    @inline(__always)
    public func scale(_ block: Int) -> Float {
        CodeBooks.dynamic[Int(codes[block])] * absmax[block / Self.blockSize] + offset
    }
}

/// A tensor quantized to 4 bits exactly as bitsandbytes 0.50.2's `quantize_4bit` does on the CPU.
///
/// The values, flattened row-major, are split into blocks of `format.blockSize` (the last one may be
/// shorter and has its own absmax). Per block: a = max |x|; x is scaled into [−1, 1] (x · (1/a) in full
/// blocks, x / a in the last, shorter one; a clamped to ≥ 1e-38) and mapped to the nearest of the 16
/// code values (a tie takes the lower value). Two codes share a byte, the first in the high nibble; an
/// odd count pads the last low nibble with the code of 0. Dequantization is code[q] · a in float32.
public final class FourBitTensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let format: FourBitFormat
    /// (count + 1) / 2 bytes: element 2k in the high nibble of byte k, element 2k + 1 in the low.
    public let packed: [UInt8]
    public let scales: BlockScales
    /// The code values as a vector, for scaling all 16 at once.
    private let codeVector: SIMD16<Float>

    /// Number of absmax blocks.
    public var blockCount: Int { (count + format.blockSize - 1) / format.blockSize }

    /// Quantizes `values` (count = product of `shape`).
    public convenience init(quantizing values: UnsafePointer<Float>, shape: [Int], format: FourBitFormat) throws {
        try format.validate()
        let count = shape.reduce(1, *)
        let (packed, absmax) = Self.quantize(values, count: count, type: format.type, blockSize: format.blockSize)
        let scales: BlockScales
        if format.doubleQuantization {
            // bitsandbytes: offset = absmax.mean(); quantize_blockwise(absmax − offset, blocksize=256).
            let offset = TorchSum.mean(absmax, count: absmax.count)
            let centered = absmax.map { $0 - offset }
            let (codes, nested) = Blockwise8Bit.quantize(centered, count: centered.count, blockSize: NestedScales.blockSize)
            scales = .nested(NestedScales(codes: codes, absmax: nested, offset: offset))
        } else {
            scales = .plain(absmax)
        }
        try self.init(packed: packed, scales: scales, shape: shape, format: format)
    }

    /// A tensor from stored parts (e.g. bitsandbytes' `weight.data` and `quant_state`), checking sizes.
    public init(packed: [UInt8], scales: BlockScales, shape: [Int], format: FourBitFormat) throws {
        try format.validate()
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.format = format
        self.packed = packed
        self.scales = scales
        codeVector = SIMD16(format.type.codebook)
        guard packed.count == (count + 1) / 2 else {
            throw QuantizationError("\(packed.count) packed bytes for \(count) values; expected \((count + 1) / 2)")
        }
        switch scales {
        case let .plain(absmax):
            guard absmax.count == blockCount else { throw QuantizationError("\(absmax.count) absmax values for \(blockCount) blocks") }
            guard !format.doubleQuantization else { throw QuantizationError("the format asks for double quantization but the scales are plain") }
        case let .nested(nested):
            guard nested.codes.count == blockCount,
                  nested.absmax.count == (blockCount + NestedScales.blockSize - 1) / NestedScales.blockSize else {
                throw QuantizationError("\(nested.codes.count) nested codes and \(nested.absmax.count) nested absmax values for \(blockCount) blocks")
            }
            guard format.doubleQuantization else { throw QuantizationError("the scales are double-quantized but the format is not") }
        }
    }

    /// Packed codes and per-block absmax of `count` values (bitsandbytes' default quantize_4bit kernel).
    static func quantize(_ values: UnsafePointer<Float>, count: Int, type: FourBitType, blockSize: Int) -> (packed: [UInt8], absmax: [Float]) {
        let encoder = FourBitEncoder.of(type)
        let blocks = (count + blockSize - 1) / blockSize
        var absmax = [Float](repeating: 0, count: blocks)
        var packed = [UInt8](repeating: 0, count: (count + 1) / 2)
        let smallest = Float(1e-38 as Double)
        packed.withUnsafeMutableBufferPointer { bytes in
            for b in 0..<blocks {
                let start = b * blockSize, end = min(start + blockSize, count)
                var a: Float = 0
                for i in start..<end { a = max(a, abs(values[i])) }
                absmax[b] = a
                let floor = max(a, smallest)
                let full = end - start == blockSize
                let inverse = 1 / floor
                for i in start..<end {
                    let scaled = min(max(full ? values[i] * inverse : values[i] / floor, -1), 1)
                    let code = encoder.code(scaled)
                    bytes[i >> 1] |= i & 1 == 0 ? code << 4 : code
                }
            }
            if count & 1 == 1 { bytes[count >> 1] |= encoder.code(0) }
        }
        return (packed, absmax)
    }

    /// The absmax of block `block` (dequantized when nested).
    @inline(__always)
    public func scale(_ block: Int) -> Float {
        switch scales {
        case let .plain(absmax): absmax[block]
        case let .nested(nested): nested.scale(block)
        }
    }

    /// Every block's absmax as float32 (what bitsandbytes dequantizes before the 4-bit values).
    public func absmax() -> [Float] { (0..<blockCount).map(scale) }

    /// Elements `range` of the flattened tensor into out[0 ..< range.count]: code[q] · absmax per block.
    public func dequantize(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) outside \(count) values")
        let blockSize = format.blockSize
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { table in
            packed.withUnsafeBufferPointer { bytes in
                var i = range.lowerBound
                var o = out
                while i < range.upperBound {
                    let block = i / blockSize
                    let end = min((block + 1) * blockSize, range.upperBound)
                    // The block's 16 possible values: code[k] · a (the same float product as element by element).
                    UnsafeMutableRawPointer(table.baseAddress!).storeBytes(of: codeVector * scale(block), as: SIMD16<Float>.self)
                    if i & 1 == 1 {
                        o.pointee = table[Int(bytes[i >> 1] & 15)]
                        i += 1; o += 1
                    }
                    while i + 1 < end {
                        let byte = bytes[i >> 1]
                        o[0] = table[Int(byte >> 4)]
                        o[1] = table[Int(byte & 15)]
                        i += 2; o += 2
                    }
                    if i < end {
                        o.pointee = table[Int(bytes[i >> 1] >> 4)]
                        i += 1; o += 1
                    }
                }
            }
        }
    }

    /// The whole tensor dequantized, as a new fp32 tensor of `shape`.
    public func dequantized() -> Tensor {
        let result = Tensor(zeros: shape)
        dequantize(0..<count, into: result.data)
        return result
    }

    /// The naive reference of `dequantize`: element by element, code[nibble] · absmax[i / blockSize].
    public func referenceValue(_ i: Int) -> Float {
        let byte = packed[i >> 1]
        let code = i & 1 == 0 ? byte >> 4 : byte & 15
        return format.type.codebook[Int(code)] * scale(i / format.blockSize)
    }

    /// Bytes held: the packed codes plus the statistics (absmax floats; or one byte per block, a float
    /// per 256 blocks and the offset). The 256-value 8-bit map is shared, not counted.
    public var byteCount: Int {
        switch scales {
        case let .plain(absmax): packed.count + 4 * absmax.count
        case let .nested(nested): packed.count + nested.codes.count + 4 * nested.absmax.count + 4
        }
    }

    /// Bits held per value.
    public var bitsPerValue: Double { Double(8 * byteCount) / Double(max(count, 1)) }
}
