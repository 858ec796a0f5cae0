import Foundation
import Testing
@testable import FinchQuantization
import FinchTensor
import TestSupport

/// Index of the first element where two arrays differ (nil when equal), so a failure names a place
/// instead of printing arrays of a million values.
func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
    guard a.count == b.count else { return min(a.count, b.count) }
    return zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset
}

/// FinchQuantization against bitsandbytes 0.50.2 on the CPU (Tests/Reference/quant_reference.py): code
/// tables, packed bytes, absmax and nested statistics identical, dequantized values equal, and the torch
/// sums double quantization depends on.
@Suite struct BitsandbytesParityTests {
    static let cases = ["nf4-b64", "nf4-b64-dq", "fp4-b64", "nf4-b32", "nf4-b128", "nf4-b4096-dq", "nf4-b64-dq-37x53",
                        "fp4-b128-dq-100x33", "nf4-b64-ties", "fp4-b64-ties", "minilm-query-nf4-b64-dq", "minilm-query-fp4-b64"]

    static func reference() throws -> (ReferenceTensors, [String: Any]) {
        let info = try #require(try referenceJSON("quant/case.json") as? [String: Any])
        return (try ReferenceTensors("quant/expected.safetensors"), info)
    }

    static func bytes(_ reference: ReferenceTensors, _ key: String) throws -> [UInt8] {
        try reference.file.integers(key).values.map { UInt8($0) }
    }

    @Test func codeTablesAreBitsandbytes() throws {
        let (reference, _) = try Self.reference()
        // Bit patterns: FP4's code 8 is +0 (bitsandbytes writes it as the Python int -0).
        #expect(FourBitType.nf4.codebook.map(\.bitPattern) == (try reference.tensor("code.nf4")).array.map(\.bitPattern))
        #expect(FourBitType.fp4.codebook.map(\.bitPattern) == (try reference.tensor("code.fp4")).array.map(\.bitPattern))
        #expect(Blockwise8Bit.dynamicMap.map(\.bitPattern) == (try reference.tensor("code.dynamic")).array.map(\.bitPattern))
    }

    @Test func everyReferenceCaseIsTested() throws {
        let (_, info) = try Self.reference()
        let cases = try #require(info["four_bit"] as? [String: Any])
        #expect(Set(cases.keys) == Set(Self.cases))
    }

    @Test(arguments: cases)
    func quantizationMatchesBitsandbytes(name: String) throws {
        let (reference, info) = try Self.reference()
        let spec = try #require((info["four_bit"] as? [String: Any])?[name] as? [String: Any])
        let input = try reference.tensor("input.\(spec["input"] as! String)")
        let format = FourBitFormat(type: FourBitType(rawValue: spec["type"] as! String)!, blockSize: spec["block"] as! Int,
                                   doubleQuantization: spec["double_quant"] as! Bool)
        let quantized = try FourBitTensor(quantizing: input.data, shape: input.shape, format: format)

        let packed = try Self.bytes(reference, "\(name).packed")
        #expect(firstDifference(quantized.packed, packed) == nil, "packed bytes differ")
        let bnbScales: BlockScales
        if format.doubleQuantization {
            let codes = try Self.bytes(reference, "\(name).nested_codes")
            let absmax = try reference.tensor("\(name).nested_absmax").array
            let offset = try reference.tensor("\(name).offset")[0]
            bnbScales = .nested(NestedScales(codes: codes, absmax: absmax, offset: offset))
            guard case let .nested(nested) = quantized.scales else { Issue.record("scales are not nested"); return }
            #expect(nested.offset.bitPattern == offset.bitPattern, "offset \(nested.offset) vs \(offset)")
            #expect(firstDifference(nested.codes, codes) == nil, "nested codes differ")
            #expect(firstDifference(nested.absmax.map(\.bitPattern), absmax.map(\.bitPattern)) == nil, "nested absmax differs")
        } else {
            let absmax = try reference.tensor("\(name).absmax").array
            bnbScales = .plain(absmax)
            guard case let .plain(finch) = quantized.scales else { Issue.record("scales are nested"); return }
            #expect(firstDifference(finch.map(\.bitPattern), absmax.map(\.bitPattern)) == nil, "absmax differs")
        }

        // Dequantized values equal bitsandbytes' exactly, from Finch's quantization and from bnb's own parts.
        let expected = try reference.tensor("\(name).dequantized").array.map(\.bitPattern)
        let finch = quantized.dequantized()
        #expect(finch.shape == input.shape)
        #expect(firstDifference(finch.array.map(\.bitPattern), expected) == nil, "dequantized values differ")
        let fromBnb = try FourBitTensor(packed: packed, scales: bnbScales, shape: input.shape, format: format)
        #expect(firstDifference(fromBnb.dequantized().array.map(\.bitPattern), expected) == nil, "dequantized bnb parts differ")
        // The naive reference agrees element by element (a sample, every 97th value and the last).
        let sample = Array(stride(from: 0, to: input.count, by: 97)) + [input.count - 1]
        #expect(sample.first { quantized.referenceValue($0).bitPattern != expected[$0] } == nil, "referenceValue differs")
        // absmax() is what dequantization scales by: bitsandbytes' own for plain scales, within the 8-bit
        // nested error (≤ 1% of the largest absmax) of the original absmax for nested ones.
        let plain = try FourBitTensor(quantizing: input.data, shape: input.shape,
                                      format: FourBitFormat(type: format.type, blockSize: format.blockSize)).absmax()
        let largest = plain.max() ?? 0
        #expect(zip(quantized.absmax(), plain).allSatisfy { format.doubleQuantization ? abs($0 - $1) <= 0.01 * largest : $0 == $1 })
        #expect(quantized.byteCount == spec["bytes"] as! Int)
    }

    /// Mean |x − dequantize(quantize(x))| for randn(1024, 1024), NF4, block 64: bitsandbytes' own figure (about
    /// 0.0728) and Finch's agree to 1e-9; double quantization costs about 1e-4 more.
    @Test func nf4ErrorOnGaussianWeightsIsBitsandbytes() throws {
        let (reference, info) = try Self.reference()
        let input = try reference.tensor("input.randn-1024x1024")
        var measured: [String: Double] = [:]
        for name in ["nf4-b64", "nf4-b64-dq"] {
            let spec = try #require((info["four_bit"] as? [String: Any])?[name] as? [String: Any])
            let format = FourBitFormat(type: .nf4, blockSize: 64, doubleQuantization: name.hasSuffix("dq"))
            let restored = try FourBitTensor(quantizing: input.data, shape: input.shape, format: format).dequantized()
            let mae = (0..<input.count).reduce(0.0) { $0 + Double(abs(input[$1] - restored[$1])) } / Double(input.count)
            let bnb = spec["mean_abs_error"] as! Double
            #expect(abs(mae - bnb) < 1e-9, "\(name): Finch \(mae), bitsandbytes \(bnb)")
            #expect((0.0725...0.0731).contains(mae), "\(name): \(mae)")
            measured[name] = mae
        }
        #expect(measured["nf4-b64-dq"]! > measured["nf4-b64"]!)
    }

    @Test func doubleQuantizationHoldsAbout4point127BitsPerValue() throws {
        let (reference, _) = try Self.reference()
        let input = try reference.tensor("input.randn-1024x1024")
        let plain = try FourBitTensor(quantizing: input.data, shape: input.shape, format: FourBitFormat(type: .nf4, blockSize: 64))
        let nested = try FourBitTensor(quantizing: input.data, shape: input.shape, format: .qlora)
        #expect(plain.bitsPerValue == 4.5)
        // 4 + 8/64 + 32/(64·256) + 32/2²⁰ bits.
        #expect(abs(nested.bitsPerValue - 4.127) < 5e-4, "\(nested.bitsPerValue)")
    }

    @Test func blockwise8BitMatchesBitsandbytes() throws {
        let (reference, _) = try Self.reference()
        let input = try reference.tensor("blockwise8.input")
        let (codes, absmax) = Blockwise8Bit.quantize(input.data, count: input.count, blockSize: 256)
        let expectedCodes = try Self.bytes(reference, "blockwise8.codes")
        #expect(firstDifference(codes, expectedCodes) == nil, "codes differ")
        #expect(firstDifference(absmax.map(\.bitPattern), try reference.tensor("blockwise8.absmax").array.map(\.bitPattern)) == nil)
        let restored = Tensor(zeros: input.shape)
        Blockwise8Bit.dequantize(codes: codes, absmax: absmax, blockSize: 256, into: restored.data)
        #expect(firstDifference(restored.array.map(\.bitPattern), try reference.tensor("blockwise8.dequantized").array.map(\.bitPattern)) == nil)
    }

    /// bitsandbytes' lookup table gives the nearest code up to one table cell (2/65535 of the range).
    @Test func blockwise8TableIsTheNearestCodeUpToOneCell() throws {
        let map = Blockwise8Bit.dynamicMap
        var random = SeededRandom(seed: 9)
        var differing = 0, worstExcess: Float = 0
        let values = (0..<20_000).map { _ in random.uniform(-1, 1) * (random.nextUniform() < 0.5 ? 1 : 1e-3) }
        let (codes, absmax) = Blockwise8Bit.quantize(values, count: values.count, blockSize: values.count)
        for (v, code) in zip(values, codes) {
            let scaled = v * (1 / absmax[0])
            let nearest = Blockwise8Bit.nearestCode(scaled)
            if nearest != code { differing += 1 }
            worstExcess = max(worstExcess, abs(scaled - map[Int(code)]) - abs(scaled - map[Int(nearest)]))
        }
        #expect(worstExcess <= 2 / 65535, "the table's code is \(worstExcess) farther than the nearest")
        #expect(differing > 0 && differing < values.count / 4, "\(differing) of \(values.count)")
    }

    @Test func torchSumIsBitIdentical() throws {
        let (reference, info) = try Self.reference()
        let sums = try #require(info["sums"] as? [[String: Any]])
        #expect(sums.count >= 5)
        for entry in sums {
            let n = entry["n"] as! Int
            let x = try reference.tensor("sum.\(n).input")
            let expected = try reference.tensor("sum.\(n)")[0]
            #expect(TorchSum.sum(x.data, count: n).bitPattern == expected.bitPattern, "n = \(n)")
        }
    }

    /// The vector code lookup is the naive count of midpoints below the value, on random values, on every
    /// midpoint and code value (ties take the lower code), and the chosen code value is the nearest.
    @Test(arguments: FourBitType.allCases)
    func codeLookupIsBucketize(type: FourBitType) {
        let encoder = FourBitEncoder.of(type), code = type.codebook
        var random = SeededRandom(seed: 11)
        let midpoints = (0..<15).map { encoder.midpoints[$0] }
        let values = (0..<10_000).map { _ in random.uniform(-1, 1) } + midpoints + code + [-1, 1, 0]
        #expect(values.first { encoder.code($0) != encoder.referenceCode($0) } == nil)
        #expect(values.allSatisfy { x in code.allSatisfy { abs(x - code[Int(encoder.code(x))]) <= abs(x - $0) + 1e-7 } })
        // On a midpoint the lower of the two neighbouring (sorted) codes wins; just above it, the upper.
        let position = { (x: Float) in encoder.codeAtPosition.firstIndex(of: encoder.code(x))! }
        #expect(midpoints.indices.allSatisfy { position(midpoints[$0]) == $0 && position(midpoints[$0].nextUp) == $0 + 1 })
    }

    @Test func invalidFormatsAndPartsAreRefused() throws {
        let values = [Float](repeating: 1, count: 128)
        #expect(throws: QuantizationError.self) { try FourBitTensor(quantizing: values, shape: [128], format: FourBitFormat(blockSize: 48)) }
        #expect(throws: QuantizationError.self) { try FourBitTensor(quantizing: values, shape: [128], format: FourBitFormat(blockSize: 8192)) }
        #expect(throws: QuantizationError.self) {
            try FourBitTensor(packed: [UInt8](repeating: 0, count: 63), scales: .plain([1, 1]), shape: [128], format: FourBitFormat())
        }
        #expect(throws: QuantizationError.self) {
            try FourBitTensor(packed: [UInt8](repeating: 0, count: 64), scales: .plain([1]), shape: [128], format: FourBitFormat())
        }
        #expect(throws: QuantizationError.self) {
            try FourBitTensor(packed: [UInt8](repeating: 0, count: 64), scales: .plain([1, 1]), shape: [128], format: .qlora)
        }
    }
}
