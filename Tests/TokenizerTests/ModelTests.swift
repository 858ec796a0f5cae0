import Foundation
import Testing
@testable import FinchTokenizers

/// WordPiece and Unigram on tiny hand-made vocabularies (no fixtures needed).
@Suite("Models on tiny vocabularies")
struct ModelTests {
    /// BERT's own example vocabulary: "UNwant\u{E9}d,running" → un ##want ##ed , runn ##ing.
    static func bertTokenizer() throws -> PipelineTokenizer {
        let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ",", "a", "##b"]
        let model = try #require(WordPieceModel(vocabulary: tokens.enumerated().map { ($1, $0) }, maxInputCharactersPerWord: 12))
        return PipelineTokenizer(
            addedTokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].enumerated().map { AddedToken(content: $1, id: $0) },
            normalizer: BertNormalizer(), preTokenizer: BertPreTokenizer(), model: model,
            postProcessor: .bert(cls: ("[CLS]", 2), sep: ("[SEP]", 3)), decoder: WordPieceDecoder(), padId: 0)
    }

    @Test("WordPiece: greedy longest match with ## continuations")
    func wordPiece() throws {
        let tokenizer = try Self.bertTokenizer()
        let encoding = tokenizer.encode("UNwant\u{E9}d,running")
        #expect(encoding.tokens == ["[CLS]", "un", "##want", "##ed", ",", "runn", "##ing", "[SEP]"])
        #expect(encoding.ids == [2, 8, 5, 6, 11, 9, 10, 3])
        #expect(encoding.specialTokensMask == [1, 0, 0, 0, 0, 0, 0, 1])
        #expect(tokenizer.decode(encoding.ids, skipSpecialTokens: true) == "unwanted, running")
    }

    @Test("WordPiece: unknown words, unsegmentable words and over-long words become [UNK]")
    func wordPieceUnknown() throws {
        let tokenizer = try Self.bertTokenizer()
        #expect(tokenizer.encode("xyz", pair: nil, addSpecialTokens: false, maxLength: nil).ids == [1])
        #expect(tokenizer.encode("wantx", pair: nil, addSpecialTokens: false, maxLength: nil).tokens == ["[UNK]"])
        #expect(tokenizer.encode("abbbbbbbbbbb", pair: nil, addSpecialTokens: false, maxLength: nil).ids == [12] + Array(repeating: 13, count: 11))
        #expect(tokenizer.encode("abbbbbbbbbbbb", pair: nil, addSpecialTokens: false, maxLength: nil).ids == [1])
        #expect(tokenizer.encode("", pair: nil, addSpecialTokens: false, maxLength: nil).ids.isEmpty)
    }

    @Test("WordPiece: pairs, truncation and padding")
    func wordPiecePairs() throws {
        let tokenizer = try Self.bertTokenizer()
        let encoding = tokenizer.encode("want want want", pair: "running", maxLength: 6)
        // Budget 3 after the specials: the longer first text keeps 2 tokens, the pair 1.
        #expect(encoding.ids == [2, 4, 4, 3, 9, 3])
        #expect(encoding.typeIds == [0, 0, 0, 0, 1, 1])
        let batch = tokenizer.encodeBatch(["want", "want want"])
        #expect(batch.sequenceLength == 4)
        #expect(batch.ids == [2, 4, 3, 0, 2, 4, 4, 3])
        #expect(batch.attentionMask == [1, 1, 1, 0, 1, 1, 1, 1])
        #expect(Array(batch.row(1)) == [2, 4, 4, 3])
        let fixed = tokenizer.encodeBatch(["want"], maxLength: 5, padding: .maxLength)
        #expect(fixed.ids == [2, 4, 3, 0, 0])
    }

    @Test("longest-first truncation splits the budget like tokenizers")
    func longestFirst() {
        func lengths(_ first: Int, _ second: Int, _ budget: Int) -> [Int] {
            var a = TokenSequence(ids: Array(repeating: 0, count: first), tokens: Array(repeating: "", count: first))
            var b: TokenSequence? = TokenSequence(ids: Array(repeating: 0, count: second), tokens: Array(repeating: "", count: second))
            truncateLongestFirst(&a, &b, maxLength: budget)
            return [a.count, b!.count]
        }
        // The cases of tokenizers' own truncate_encodings_longest_first test (max_length 7).
        #expect(lengths(0, 8, 7) == [0, 7])
        #expect(lengths(2, 8, 7) == [2, 5])
        #expect(lengths(4, 4, 7) == [3, 4])
        #expect(lengths(4, 8, 7) == [3, 4])
        #expect(lengths(8, 2, 7) == [5, 2])
        #expect(lengths(8, 4, 7) == [4, 3])
        #expect(lengths(8, 8, 7) == [3, 4])
        #expect(lengths(8, 8, 0) == [0, 0])
    }

    static let unigramPieces: [(piece: String, score: Double)] = [
        ("<unk>", 0), ("a", -2), ("b", -2), ("ab", -3), ("c", -2.5), ("abc", -10), ("▁", -1), ("▁a", -1.5),
        ("<0x78>", -5), ("<0x79>", -5),
    ]

    @Test("Unigram: Viterbi picks the best-scoring segmentation")
    func unigramViterbi() {
        let model = UnigramModel(pieces: Self.unigramPieces, unknownId: 0)
        #expect(model.segment(Array("abc".utf8)) == ["ab", "c"])  // -5.5 beats a+b+c (-6.5) and abc (-10)
        #expect(model.tokenize("▁ab").map(\.id) == [7, 2])  // ▁a + b (-3.5) beats ▁ + ab (-4)
        #expect(model.tokenize("").isEmpty)
    }

    @Test("Unigram: unknown characters fuse into one unknown token carrying the original text")
    func unigramUnknown() {
        let model = UnigramModel(pieces: Self.unigramPieces, unknownId: 0)
        #expect(model.tokenize("axyzb") == [ModelToken(id: 1, text: "a"), ModelToken(id: 0, text: "xyz"), ModelToken(id: 2, text: "b")])
        #expect(model.tokenize("😀😀") == [ModelToken(id: 0, text: "😀😀")])
        let withoutUnknown = UnigramModel(pieces: Self.unigramPieces, unknownId: nil)
        #expect(withoutUnknown.tokenize("axb").map(\.id) == [1, 2])
    }

    @Test("Unigram: byte fallback spells unknown pieces as <0xNN> when every byte has a token")
    func unigramByteFallback() {
        let model = UnigramModel(pieces: Self.unigramPieces, unknownId: 0, byteFallback: true)
        #expect(model.tokenize("axy").map(\.text) == ["a", "<0x78>", "<0x79>"])
        #expect(model.tokenize("axz").map(\.text) == ["a", "xz"])
        #expect(model.tokenize("axz").map(\.id) == [1, 0])
    }

    @Test("Vocabulary keeps canonically equivalent spellings apart")
    func vocabularyIsByteExact() {
        let vocabulary = Vocabulary(tokens: ["\u{E9}", "e\u{301}", "e"])
        #expect(vocabulary.id(of: "\u{E9}") == 0)
        #expect(vocabulary.id(of: "e\u{301}") == 1)
        #expect(vocabulary.id(of: "é!") == nil)
        #expect(vocabulary.count == 3)
    }
}
