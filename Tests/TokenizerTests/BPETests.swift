import Foundation
import Testing
import TestSupport
@testable import FinchTokenizers

/// What Tests/Reference/bpe_reference.py recorded: test strings and, per tokenizer variant, the ids
/// without and with special tokens and the decode of the latter.
struct BPEReference: Sendable {
    struct Expected: Sendable {
        let ids: [Int]
        let idsSpecial: [Int]
        let decoded: String
    }

    let strings: [String]
    let variants: [String: [Expected]]
    let vocabularySize: Int

    static let loaded: Result<BPEReference, any Error> = Result {
        let root = try JSONNode.load(TestPaths.referenceFile("bpe/cases.json"))
        var variants: [String: [Expected]] = [:]
        for (name, node) in try root.field("variants").members() {
            variants[name] = try node.array().map { item in
                Expected(ids: try item.field("ids").integers(), idsSpecial: try item.field("ids_special").integers(),
                         decoded: try item.field("decoded").string())
            }
        }
        return BPEReference(strings: try root.field("strings").strings(), variants: variants,
                            vocabularySize: try root.field("vocabulary_size").int())
    }

    /// The SmolLM2 tokenizer built by the GGUF factory from the recorded GGUF metadata.
    static func ggufFactoryTokenizer() throws -> any Tokenizer {
        let meta = try JSONNode.load(TestPaths.referenceFile("bpe/smollm2-gguf/gguf_vocab.json"))
        return try AutoTokenizer.byteLevelBPE(
            ggufModel: meta.field("model").string(), pre: meta.optionalString("pre"),
            tokens: meta.field("tokens").strings(), merges: meta.field("merges").strings(),
            tokenTypes: meta.optionalField("token_type")?.integers(),
            bosId: meta.optionalInt("bos_id"), eosId: meta.optionalInt("eos_id"), padId: meta.optionalInt("pad_id"),
            unknownId: meta.optionalInt("unk_id"), addBos: meta.optionalBool("add_bos"), addEos: meta.optionalBool("add_eos"))
    }
}

@Suite("Byte-level BPE")
struct BPETests {
    /// Compares every recorded case of `variant` with what `tokenizer` produces.
    static func checkCases(_ variant: String, _ tokenizer: any Tokenizer, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reference = try BPEReference.loaded.get()
        let expected = try #require(reference.variants[variant])
        #expect(expected.count == reference.strings.count && reference.strings.count >= 600)
        var report = MismatchReport()
        for (text, case_) in zip(reference.strings, expected) {
            report.check("ids", case_.ids, tokenizer.encode(text, pair: nil, addSpecialTokens: false, maxLength: nil).ids, text: text)
            let special = tokenizer.encode(text, pair: nil, addSpecialTokens: true, maxLength: nil).ids
            report.check("ids with special tokens", case_.idsSpecial, special, text: text)
            report.check("decode", Array(case_.decoded.utf8), Array(tokenizer.decode(case_.idsSpecial).utf8), text: text)
        }
        report.record("\(variant) case", sourceLocation: sourceLocation)
    }

    @Test("SmolLM2 GGUF tokenizer saved by transformers, loaded by AutoTokenizer")
    func savedGGUFTokenizer() throws {
        let tokenizer = try AutoTokenizer.load(from: TestPaths.referenceFile("bpe/smollm2-gguf"))
        try Self.checkCases("gguf", tokenizer)
        #expect(tokenizer.vocabularySize == (try BPEReference.loaded.get().vocabularySize))
        #expect(tokenizer.padId == 2)
    }

    @Test("SmolLM2 built from GGUF metadata arrays")
    func ggufFactory() throws {
        let tokenizer = try BPEReference.ggufFactoryTokenizer()
        try Self.checkCases("gguf", tokenizer)
        #expect(tokenizer.vocabularySize == (try BPEReference.loaded.get().vocabularySize))
        #expect(tokenizer.padId == 2)
        #expect(tokenizer.id(of: "<|im_start|>") == 1)
        #expect(tokenizer.decode([1, 4093, 198, 6004, 2], skipSpecialTokens: true) == "user\nhi")
    }

    @Test("tokenizer.json variants: Llama-3 split + ignore_merges, Qwen2 split, Digits, add_prefix_space",
          arguments: ["llama3", "qwen2", "digits", "prefix"])
    func variant(_ name: String) throws {
        let tokenizer = try AutoTokenizer.load(tokenizerFile: TestPaths.referenceFile("bpe/\(name)/tokenizer.json"))
        try Self.checkCases(name, tokenizer)
    }

    @Test("the hand-written Llama-3 matcher agrees with NSRegularExpression on ASCII and Latin text")
    func handMatcherAgreesWithRegex() throws {
        let regex = SplitPattern.regex(try RegularExpression(SplitPattern.llama3Source))
        let hand = try SplitPattern(regex: SplitPattern.llama3Source)
        for text in ["Hello world, it's 12345 o'clock!\n\n  x  ", "a \n b\r\n\tc", "I'LL 'Re 99bottles", "   ", ""] {
            #expect(hand.matches(in: text).ranges == regex.matches(in: text).ranges, "\(text.debugDescription)")
        }
    }

    @Test("GGUF factory refuses what transformers would not build")
    func ggufFactoryErrors() throws {
        #expect(throws: TokenizerError.unsupported(file: "GGUF metadata", key: "tokenizer.ggml.model", type: "llama")) {
            try AutoTokenizer.byteLevelBPE(ggufModel: "llama", pre: nil, tokens: ["a"], merges: [], tokenTypes: nil,
                                           bosId: nil, eosId: nil, padId: nil, unknownId: nil, addBos: nil, addEos: nil)
        }
        #expect(throws: TokenizerError.malformed(file: "GGUF metadata", key: "tokenizer.ggml.merges[0]", problem: "\"c\" is not in the vocabulary")) {
            try AutoTokenizer.byteLevelBPE(ggufModel: "gpt2", pre: nil, tokens: ["a", "b"], merges: ["a c"], tokenTypes: nil,
                                           bosId: nil, eosId: nil, padId: nil, unknownId: nil, addBos: nil, addEos: nil)
        }
        let tokenizer = try AutoTokenizer.byteLevelBPE(
            ggufModel: "gpt2", pre: "llama-bpe", tokens: ["a", "b", "ab", "<s>"], merges: ["a b"], tokenTypes: [1, 1, 1, 3],
            bosId: 3, eosId: nil, padId: nil, unknownId: nil, addBos: true, addEos: nil)
        #expect(tokenizer.encode("abab<s>a").ids == [3, 2, 2, 3, 0])
        #expect(tokenizer.vocabularySize == 5)  // <|endoftext|> appended, as transformers does
    }

    @Test("malformed BPE tokenizer.json files name the key and the problem")
    func malformedFiles() throws {
        func loadError(_ json: String) throws -> TokenizerError {
            let folder = try TokenizerErrorTests.folder(["tokenizer.json": json])
            defer { try? FileManager.default.removeItem(at: folder) }
            do {
                _ = try AutoTokenizer.load(from: folder)
            } catch {
                return error
            }
            Issue.record("loading \(json) succeeded")
            return .missingFiles(folder: "", expected: [])
        }
        let unknownMerge = try loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a x"]}}"#)
        #expect(unknownMerge == .malformed(file: "tokenizer.json", key: "model.merges[1]", problem: "\"x\" is not in the vocabulary"))
        #expect(unknownMerge.description == "tokenizer.json is malformed at model.merges[1]: \"x\" is not in the vocabulary")
        let missingMerged = try loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}}"#)
        #expect(missingMerged == .malformed(file: "tokenizer.json", key: "model.merges[0]", problem: "the merged token \"ab\" is not in the vocabulary"))
        let missingVocab = try loadError(#"{"model": {"type": "BPE", "merges": []}}"#)
        #expect(missingVocab == .malformed(file: "tokenizer.json", key: "model.vocab", problem: "missing key"))
        let badMerge = try loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]}}"#)
        #expect(badMerge == .malformed(file: "tokenizer.json", key: "model.merges[0]", problem: "expected \"left right\", found \"a b c\""))
        let unknownToken = try loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}}"#)
        #expect(unknownToken == .malformed(file: "tokenizer.json", key: "model.unk_token", problem: "\"<unk>\" is not in model.vocab"))
    }

    @Test("unknown characters: dropped without unk_token, fused with fuse_unk, bytes with byte_fallback")
    func unknownCharacters() throws {
        let vocab: [(token: String, id: Int)] = [("<unk>", 0), ("a", 1), ("<0xC3>", 2), ("<0xA9>", 3)]
        let dropping = try BPEModel(vocabulary: vocab, merges: [])
        #expect(dropping.tokenize("axxa").map(\.id) == [1, 1])
        let fused = try BPEModel(vocabulary: vocab, merges: [], unknownToken: "<unk>", fuseUnknown: true)
        #expect(fused.tokenize("axxa").map(\.id) == [1, 0, 1])
        let unfused = try BPEModel(vocabulary: vocab, merges: [], unknownToken: "<unk>")
        #expect(unfused.tokenize("axxa").map(\.id) == [1, 0, 0, 1])
        let bytes = try BPEModel(vocabulary: vocab, merges: [], unknownToken: "<unk>", byteFallback: true)
        #expect(bytes.tokenize("aéx").map(\.id) == [1, 2, 3, 0])
    }
}
