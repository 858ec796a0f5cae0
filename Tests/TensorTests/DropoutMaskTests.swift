import Foundation
import Testing
@testable import FinchTensor

/// Keyed dropout masks: the rate they drop at, the values they keep, and that any part drawn again, on
/// any number of threads, is the same.
@Suite struct DropoutMaskTests {
    func values(_ mask: DropoutMask, offset: Int = 0, count: Int, threads: Int = 1) -> [Float] {
        var out = [Float](repeating: -1, count: count)
        out.withUnsafeMutableBufferPointer {
            mask.apply(nil, into: $0.baseAddress!, offset: offset, count: count, accumulate: false, threads: threads)
        }
        return out
    }

    @Test(arguments: [Float(0.1), 0.3, 0.5])
    func dropsAtTheRateAndScalesWhatItKeeps(rate: Float) {
        var random = SeededRandom(seed: 3)
        let count = 1 << 20
        let mask = DropoutMask(rate: rate, random: &random)
        let v = values(mask, count: count)
        let dropped = v.filter { $0 == 0 }.count
        // Binomial: within 5 standard deviations of count · rate.
        let sd = (Double(count) * Double(rate) * Double(1 - rate)).squareRoot()
        #expect(abs(Double(dropped) - Double(count) * Double(rate)) < 5 * sd, "\(dropped) of \(count) at \(rate)")
        #expect(v.allSatisfy { $0 == 0 || $0 == 1 / (1 - rate) })
        // Neighbours are not correlated: P(both dropped) ≈ rate².
        let pairs = (0..<(count - 1)).filter { v[$0] == 0 && v[$0 + 1] == 0 }.count
        #expect(abs(Double(pairs) / Double(count) - Double(rate * rate)) < 0.005)
        // Another key gives another mask, and rate 0 drops nothing.
        #expect(values(DropoutMask(rate: rate, random: &random), count: 4096) != Array(v.prefix(4096)))
        #expect(values(DropoutMask(rate: 0, key: 7), count: 4096).allSatisfy { $0 == 1 })
        // Rates a config.json may hold outside [0, 1) do not crash: 1 (and above) drops everything, below 0 nothing.
        #expect(values(DropoutMask(rate: 1, key: 7), count: 4096).allSatisfy { $0 == 0 })
        #expect(values(DropoutMask(rate: 1.5, key: 7), count: 100).allSatisfy { $0 == 0 })
        #expect(values(DropoutMask(rate: -0.2, key: 7), count: 100).allSatisfy { $0 == 1 })
    }

    @Test func anyPartOnAnyThreadCountIsTheSame() {
        let mask = DropoutMask(rate: 0.2, key: 0x1234_5678_9ABC_DEF0)
        let count = 300_001
        let whole = values(mask, count: count)
        #expect(values(mask, count: count, threads: 2) == whole)
        #expect(values(mask, count: count, threads: 3) == whole)
        #expect(values(mask, offset: 12_345, count: 100_003, threads: 2) == Array(whole[12_345..<112_348]))
        var filled = [Float](repeating: 0, count: count)
        filled.withUnsafeMutableBufferPointer { mask.fill($0.baseAddress!, count: count) }
        #expect(filled == whole)
        // apply and accumulate use the same values.
        let x = (0..<count).map { Float($0 % 97) - 48 }
        var y = [Float](repeating: 0, count: count), z = [Float](repeating: 1, count: count)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { mask.apply(x.baseAddress!, into: $0.baseAddress!, count: count) }
            z.withUnsafeMutableBufferPointer { mask.accumulate(x.baseAddress!, into: $0.baseAddress!, count: count) }
        }
        #expect(y == zip(x, whole).map { $0 * $1 })
        #expect(z == zip(x, whole).map { 1 + $0 * $1 })
    }
}
