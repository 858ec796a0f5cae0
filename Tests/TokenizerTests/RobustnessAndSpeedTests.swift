import Foundation
import Testing
import TestSupport
@testable import FinchTokenizers

/// Hostile input never crashes, and a 2,000-row data set tokenizes quickly.
@Suite("Robustness and speed")
struct RobustnessAndSpeedTests {
    /// Deterministic pseudo-random text mixing every kind of scalar: controls, combining marks,
    /// surrogate-adjacent and private-use code points, noncharacters, emoji, Bengali, whitespace.
    static func hostileStrings() -> [String] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt32 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt32(truncatingIfNeeded: state >> 33)
        }
        let pools: [ClosedRange<UInt32>] = [0...0x7F, 0x80...0x24F, 0x300...0x36F, 0x980...0x9FF, 0x200B...0x200F,
                                            0xD7F0...0xD7FF, 0xE000...0xE0FF, 0xFFF0...0xFFFF, 0x1F300...0x1FAFF,
                                            0x10FFF0...0x10FFFF, 0x4E00...0x4EFF]
        var strings = ["", " ", "\u{0}", String(repeating: "\u{301}", count: 300), String(repeating: "a", count: 20_000),
                       String(repeating: " \t\n", count: 500), "<mask><mask> <s></s>[CLS][SEP][MASK]", "▁▁▁",
                       String(repeating: "👨‍👩‍👧‍👦", count: 200)]
        for _ in 0..<300 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int(next() % 40) {
                let pool = pools[Int(next() % UInt32(pools.count))]
                if let scalar = Unicode.Scalar(pool.lowerBound + next() % (pool.upperBound - pool.lowerBound + 1)) {
                    scalars.append(scalar)
                }
            }
            strings.append(String(scalars))
        }
        return strings
    }

    static func check(_ tokenizer: any Tokenizer) {
        for text in hostileStrings() {
            for maxLength in [nil, 0, 1, 5, -3] as [Int?] {
                let encoding = tokenizer.encode(text, pair: text.isEmpty ? nil : "pair \(text)", addSpecialTokens: true, maxLength: maxLength)
                #expect(encoding.ids.count == encoding.tokens.count && encoding.ids.count == encoding.typeIds.count)
                #expect(encoding.ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize })
                _ = tokenizer.decode(encoding.ids + [-1, Int.max, tokenizer.vocabularySize], skipSpecialTokens: false)
            }
        }
    }

    @Test("hostile input on tiny WordPiece and Unigram tokenizers")
    func tinyTokenizers() throws {
        Self.check(try ModelTests.bertTokenizer())
        let unigram = PipelineTokenizer(
            addedTokens: [AddedToken(content: "<unk>", id: 0)], normalizer: BertNormalizer(lowercase: false),
            preTokenizer: MetaspacePreTokenizer(), model: UnigramModel(pieces: ModelTests.unigramPieces, unknownId: 0),
            postProcessor: nil, decoder: MetaspaceDecoder(), padId: 0)
        Self.check(unigram)
    }

    @Test("hostile input on the real models", arguments: ReferenceFixtures.modelNames)
    func realModels(model: String) throws {
        Self.check(try ReferenceFixtures.tokenizer(model))
    }

    /// 2,000 rows of bengali-absa (cricket, then restaurant) through each real tokenizer in one batch:
    /// every row encodes, within max_length, padded to one length. (Speed belongs to a benchmark, not here.)
    @Test("tokenizes the 2,000-row Bengali set as one padded batch", arguments: ReferenceFixtures.modelNames)
    func wholeDataSet(model: String) throws {
        let tokenizer = try ReferenceFixtures.tokenizer(model)
        var rows: [String] = []
        for name in ["cricket_train", "restaurant_train"] {
            rows += try SentencePieceTrainingTests.bengaliLines(2_000, file: name)
        }
        rows = Array(rows.prefix(2_000))
        #expect(rows.count == 2_000)
        let batch = tokenizer.encodeBatch(rows, maxLength: 128)
        #expect(batch.batchSize == 2_000 && batch.sequenceLength <= 128)
        #expect(batch.ids.count == 2_000 * batch.sequenceLength)
        #expect((0..<2_000).allSatisfy { batch.attentionMask[$0 * batch.sequenceLength] == 1 })
    }
}
