import Foundation
import Testing
import TestSupport
@testable import FinchTokenizers

/// Finch's tokenizers against what transformers' AutoTokenizer (and tokenizers, sentencepiece)
/// produced for the same strings: Bengali, English, Banglish and edge cases.
@Suite("AutoTokenizer parity with transformers")
struct AutoTokenizerParityTests {
    @Test("picks the tokenizer transformers picks", arguments: ReferenceFixtures.modelNames)
    func vocabularyAndPadding(model: String) throws {
        let loaded = try ReferenceFixtures.load(model)
        #expect(try TokenizerSettings(folder: loaded.folder).className == loaded.reference.tokenizerClass)
        #expect(loaded.tokenizer.vocabularySize == loaded.reference.vocabularySize)
        #expect(loaded.tokenizer.padId == loaded.reference.padId)
        #expect(loaded.reference.single.count >= 500)
    }

    @Test("single strings: ids, tokens, type ids, masks", arguments: ReferenceFixtures.modelNames)
    func singleStrings(model: String) throws {
        let loaded = try ReferenceFixtures.load(model)
        var report = MismatchReport()
        for item in loaded.reference.single {
            let encoding = loaded.tokenizer.encode(item.text)
            report.check("ids", item.ids, encoding.ids, text: item.text)
            report.check("tokens", utf8Bytes(item.tokens ?? []), utf8Bytes(encoding.tokens), text: item.text)
            report.check("type ids", item.typeIds, encoding.typeIds, text: item.text)
            report.check("special tokens mask", item.specialMask, encoding.specialTokensMask, text: item.text)
            report.check("attention mask", Array(repeating: 1, count: item.ids.count), encoding.attentionMask, text: item.text)
        }
        report.record("single-string")
    }

    @Test("without special tokens", arguments: ReferenceFixtures.modelNames)
    func withoutSpecialTokens(model: String) throws {
        let loaded = try ReferenceFixtures.load(model)
        var report = MismatchReport()
        for item in loaded.reference.single {
            let encoding = loaded.tokenizer.encode(item.text, pair: nil, addSpecialTokens: false, maxLength: nil)
            report.check("ids", item.plainIds, encoding.ids, text: item.text)
        }
        report.record("no-special-tokens")
    }

    @Test("decode, with and without special tokens", arguments: ReferenceFixtures.modelNames)
    func decode(model: String) throws {
        let loaded = try ReferenceFixtures.load(model)
        var report = MismatchReport()
        for item in loaded.reference.single {
            report.check("decode", item.decoded.map { Array($0.utf8) }, Array(loaded.tokenizer.decode(item.ids).utf8), text: item.text)
            report.check("decode skipping special tokens", item.decodedSkip.map { Array($0.utf8) },
                         Array(loaded.tokenizer.decode(item.ids, skipSpecialTokens: true).utf8), text: item.text)
        }
        report.record("decode")
    }

    @Test("truncation at 128 and 16 tokens", arguments: ReferenceFixtures.modelNames)
    func truncation(model: String) throws {
        let loaded = try ReferenceFixtures.load(model)
        var report = MismatchReport()
        #expect(loaded.reference.truncated.contains { $0.maxLength == 16 && $0.ids.count == 16 })
        for item in loaded.reference.truncated {
            let encoding = loaded.tokenizer.encode(item.text, maxLength: item.maxLength)
            report.check("ids (max_length \(item.maxLength ?? 0))", item.ids, encoding.ids, text: item.text)
            report.check("special tokens mask", item.specialMask, encoding.specialTokensMask, text: item.text)
        }
        report.record("truncation")
    }

    @Test("text pairs, longest-first truncation", arguments: ReferenceFixtures.modelNames)
    func pairs(model: String) throws {
        let loaded = try ReferenceFixtures.load(model)
        var report = MismatchReport()
        for item in loaded.reference.pairs {
            let encoding = loaded.tokenizer.encode(item.text, pair: item.pair, maxLength: item.maxLength)
            let label = "pair (max_length \(item.maxLength.map(String.init) ?? "none"))"
            report.check("\(label) ids", item.ids, encoding.ids, text: item.text, pair: item.pair)
            report.check("\(label) type ids", item.typeIds, encoding.typeIds, text: item.text, pair: item.pair)
            report.check("\(label) special tokens mask", item.specialMask, encoding.specialTokensMask, text: item.text, pair: item.pair)
            report.check("\(label) tokens", utf8Bytes(item.tokens ?? []), utf8Bytes(encoding.tokens), text: item.text, pair: item.pair)
        }
        report.record("pair")
    }

    @Test("batches padded to the longest row or to max_length", arguments: ReferenceFixtures.modelNames)
    func batches(model: String) throws {
        let loaded = try ReferenceFixtures.load(model)
        var report = MismatchReport()
        for batch in loaded.reference.batches {
            let padded = loaded.tokenizer.encodeBatch(batch.texts, pairs: batch.pairs, maxLength: batch.maxLength,
                                                      padding: batch.padding == "max_length" ? .maxLength : .longest)
            let label = "batch (\(batch.padding), max_length \(batch.maxLength.map(String.init) ?? "none"))"
            report.check("\(label) shape", [batch.ids.count, batch.ids.first?.count ?? 0],
                         [padded.batchSize, padded.sequenceLength], text: batch.texts.joined(separator: " | "))
            report.check("\(label) ids", batch.ids.flatMap { $0 }, padded.ids.map(Int.init), text: batch.texts.joined(separator: " | "))
            report.check("\(label) attention mask", batch.attentionMask.flatMap { $0 }, padded.attentionMask.map(Int.init),
                         text: batch.texts.joined(separator: " | "))
            report.check("\(label) type ids", batch.typeIds.flatMap { $0 }, padded.typeIds.map(Int.init),
                         text: batch.texts.joined(separator: " | "))
        }
        report.record("batch")
    }

    @Test("tokenizer.json alone matches tokenizers' Tokenizer.from_file", arguments: ReferenceFixtures.modelNames)
    func tokenizerFile(model: String) throws {
        let loaded = try ReferenceFixtures.load(model)
        let tokenizer = try AutoTokenizer.load(tokenizerFile: loaded.folder.appendingPathComponent("tokenizer.json"))
        var report = MismatchReport()
        for item in loaded.reference.fileSingle {
            let encoding = tokenizer.encode(item.text)
            report.check("ids", item.ids, encoding.ids, text: item.text)
            report.check("tokens", utf8Bytes(item.tokens ?? []), utf8Bytes(encoding.tokens), text: item.text)
            report.check("decode", item.decoded.map { Array($0.utf8) }, Array(tokenizer.decode(item.ids).utf8), text: item.text)
        }
        for item in loaded.reference.filePairs {
            let encoding = tokenizer.encode(item.text, pair: item.pair)
            report.check("pair ids", item.ids, encoding.ids, text: item.text, pair: item.pair)
            report.check("pair type ids", item.typeIds, encoding.typeIds, text: item.text, pair: item.pair)
        }
        report.record("tokenizer.json")
    }

    /// libsentencepiece here (0.1.97) and Python's sentencepiece (0.2.3) may break exact ties
    /// between segmentations differently ("।।।" as "।" + "।।" or "।।" + "।"); such a difference
    /// must cover the same text with the same total score.
    @Test("sentencepiece.bpe.model through libsentencepiece matches sentencepiece")
    func sentencePieceModel() throws {
        let loaded = try ReferenceFixtures.load("multilingual-e5-small")
        let pieceCount = try #require(loaded.reference.sentencePieceCount)
        let tokenizer = try SentencePieceTokenizer.load(loaded.folder.appendingPathComponent("sentencepiece.bpe.model"))
        #expect(tokenizer.vocabularySize == pieceCount + 2)
        #expect(loaded.reference.sentencePiece.count > 500)
        let scores = try TokenizerJSON(contentsOf: loaded.folder.appendingPathComponent("tokenizer.json")).unigramPieces().map(\.score)
        func totalScore(_ ids: [Int]) -> Double { ids.reduce(0) { $0 + scores[$1] } }
        var report = MismatchReport()
        var ties = 0
        for item in loaded.reference.sentencePiece {
            let ids = tokenizer.encode(item.text).ids
            if ids != item.ids && tokenizer.decode(ids) == tokenizer.decode(item.ids)
                && abs(totalScore(ids) - totalScore(item.ids)) < 1e-4 {
                ties += 1
                continue
            }
            report.check("ids", item.ids, ids, text: item.text)
        }
        report.record("sentencepiece")
        #expect(ties <= 3, "\(ties) segmentations differ by equal-score ties")
    }
}
