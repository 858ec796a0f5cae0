import Foundation
import Testing
import TestSupport
@testable import FinchTokenizers

/// tokenizer.json pipelines the real models do not use (NFD/NFKC/NFC, StripAccents, Lowercase,
/// Replace with strings and regexes, Strip, Prepend, Whitespace, Punctuation with each split
/// behavior, Metaspace `first`/`never`/unsplit, Bert/Roberta/Template processing, byte fallback,
/// single-word, stripping and normalized added tokens), checked against the `tokenizers` library.
@Suite("tokenizer.json pipelines against tokenizers")
struct PipelineParityTests {
    struct Pipeline {
        let name: String
        let tokenizer: any Tokenizer
        let cases: [TokenizerReference.Case]
    }

    /// Each recorded tokenizer.json, built the way `AutoTokenizer.load(tokenizerFile:)` builds one.
    static func pipelines() throws -> [Pipeline] {
        let root = try JSONNode.load(TestPaths.referenceFile("tokenizers/synthetic.json"))
        return try root.members().map { name, entry in
            Pipeline(name: name, tokenizer: try TokenizerJSON(root: entry.field("tokenizer")).tokenizer(),
                     cases: try entry.field("cases").array().map(TokenizerReference.Case.init))
        }
    }

    @Test("every recorded pipeline gives the same ids, tokens, type ids and decodes")
    func recordedPipelines() throws {
        let pipelines = try Self.pipelines()
        #expect(pipelines.count == 5)
        for pipeline in pipelines {
            let tokenizer = pipeline.tokenizer
            var report = MismatchReport()
            for item in pipeline.cases {
                let encoding = tokenizer.encode(item.text, pair: item.pair)
                report.check("ids", item.ids, encoding.ids, text: item.text, pair: item.pair)
                report.check("tokens", utf8Bytes(item.tokens ?? []), utf8Bytes(encoding.tokens), text: item.text, pair: item.pair)
                report.check("type ids", item.typeIds, encoding.typeIds, text: item.text, pair: item.pair)
                report.check("special tokens mask", item.specialMask, encoding.specialTokensMask, text: item.text, pair: item.pair)
                if let decoded = item.decoded {
                    report.check("decode", Array(decoded.utf8), Array(tokenizer.decode(item.ids).utf8), text: item.text)
                }
            }
            report.record("\(pipeline.name)")
        }
    }

    @Test("the Precompiled normalizer matches tokenizers on every string")
    func precompiledNormalizer() throws {
        let root = try JSONNode.load(TestPaths.referenceFile("tokenizers/multilingual-e5-small.json"))
        let cases = try root.field("precompiled").array().map { (text: try $0.field("text").string(), normalized: try $0.field("normalized").string()) }
        let file = try TokenizerJSON(contentsOf: TestPaths.model("multilingual-e5-small").appendingPathComponent("tokenizer.json"))
        let normalizer = try #require(try file.precompiledNormalizer())
        var report = MismatchReport()
        for item in cases {
            report.check("normalized", Array(item.normalized.unicodeScalars), Array(normalizer.normalize(item.text).unicodeScalars), text: item.text)
        }
        report.record("Precompiled")
        #expect(cases.count > 600)
    }
}
