import Foundation
import Testing
import TestSupport
@testable import FinchTokenizers

/// What Tests/Reference/tokenizer_reference.py recorded from transformers and tokenizers.
///
/// Read with FinchTokenizers' own JSON parser: Foundation's decoders drop a U+FEFF that starts a
/// string (it looks like a byte-order mark), and some expected tokens are exactly that character.
struct TokenizerReference: Sendable {
    struct Case: Sendable {
        let text: String
        let pair: String?
        let maxLength: Int?
        let ids: [Int]
        let tokens: [String]?
        let typeIds: [Int]?
        let specialMask: [Int]?
        let decoded: String?
        let decodedSkip: String?
        let plainIds: [Int]?

        init(_ node: JSONNode) throws {
            text = try node.field("text").string()
            pair = try node.optionalString("pair")
            maxLength = try node.optionalInt("max_length")
            ids = try node.field("ids").integers()
            tokens = try node.optionalField("tokens")?.strings()
            typeIds = try node.optionalField("type_ids")?.integers()
            specialMask = try node.optionalField("special_mask")?.integers()
            decoded = try node.optionalString("decoded")
            decodedSkip = try node.optionalString("decoded_skip")
            plainIds = try node.optionalField("plain_ids")?.integers()
        }
    }

    struct Batch: Sendable {
        let texts: [String]
        let pairs: [String]?
        let padding: String
        let maxLength: Int?
        let ids: [[Int]]
        let attentionMask: [[Int]]
        let typeIds: [[Int]]

        init(_ node: JSONNode) throws {
            texts = try node.field("texts").strings()
            pairs = try node.optionalField("pairs")?.strings()
            padding = try node.field("padding").string()
            maxLength = try node.optionalInt("max_length")
            ids = try node.field("ids").array().map { try $0.integers() }
            attentionMask = try node.field("attention_mask").array().map { try $0.integers() }
            typeIds = try node.field("type_ids").array().map { try $0.integers() }
        }
    }

    let model: String
    let tokenizerClass: String
    let vocabularySize: Int
    let padId: Int
    /// AutoTokenizer: single strings, truncated ones, pairs and padded batches.
    let single: [Case]
    let truncated: [Case]
    let pairs: [Case]
    let batches: [Batch]
    /// `Tokenizer.from_file(tokenizer.json)`.
    let fileSingle: [Case]
    let filePairs: [Case]
    /// sentencepiece with fairseq ids (folders with a SentencePiece model).
    let sentencePieceCount: Int?
    let sentencePiece: [Case]

    init(_ root: JSONNode) throws {
        model = try root.field("model").string()
        tokenizerClass = try root.field("tokenizer_class").string()
        vocabularySize = try root.field("vocabulary_size").int()
        padId = try root.field("pad_id").int()
        let auto = try root.field("auto")
        single = try auto.field("single").array().map(Case.init)
        truncated = try auto.field("truncated").array().map(Case.init)
        pairs = try auto.field("pairs").array().map(Case.init)
        batches = try auto.field("batches").array().map(Batch.init)
        let file = try root.field("tokenizer_json")
        fileSingle = try file.field("single").array().map(Case.init)
        filePairs = try file.field("pairs").array().map(Case.init)
        let spm = try root.optionalField("sentencepiece")
        sentencePieceCount = try spm?.field("piece_count").int()
        sentencePiece = try spm?.field("single").array().map(Case.init) ?? []
    }
}

extension JSONNode {
    func integers() throws -> [Int] { try array().map { try $0.int() } }
    func strings() throws -> [String] { try array().map { try $0.string() } }
}

/// The two real models the reference covers, loaded once per test process.
enum ReferenceFixtures {
    static let modelNames = ["all-MiniLM-L6-v2", "multilingual-e5-small"]

    struct Loaded: Sendable {
        let folder: URL
        let reference: TokenizerReference
        let tokenizer: any Tokenizer
    }

    private static let tokenizers: [String: Result<(URL, any Tokenizer), any Error>] = Dictionary(uniqueKeysWithValues: modelNames.map { name in
        (name, Result { () throws -> (URL, any Tokenizer) in
            let folder = try TestPaths.model(name)
            return (folder, try AutoTokenizer.load(from: folder))
        })
    })

    private static let references: [String: Result<TokenizerReference, any Error>] = Dictionary(uniqueKeysWithValues: modelNames.map { name in
        (name, Result { try TokenizerReference(JSONNode.load(TestPaths.referenceFile("tokenizers/\(name).json"))) })
    })

    /// The AutoTokenizer of model `name`; throws MissingFixture when the model is absent.
    static func tokenizer(_ name: String) throws -> any Tokenizer {
        try tokenizers[name]!.get().1
    }

    /// The folder, reference and AutoTokenizer for `name`; throws MissingFixture when one is absent.
    static func load(_ name: String) throws -> Loaded {
        let (folder, tokenizer) = try tokenizers[name]!.get()
        return Loaded(folder: folder, reference: try references[name]!.get(), tokenizer: tokenizer)
    }
}

/// Compares cases and reports the first mismatch (text, expected, actual) plus how many failed.
struct MismatchReport {
    private(set) var failures = 0
    private var first: String?

    mutating func check<Value: Equatable>(_ label: String, _ expected: Value, _ actual: Value, text: String, pair: String? = nil) {
        guard expected != actual else { return }
        failures += 1
        if first == nil {
            let pairNote = pair.map { " pair \($0.debugDescription)" } ?? ""
            first = "\(label) differs for \(text.debugDescription)\(pairNote)\n  expected: \(expected)\n  actual:   \(actual)"
        }
    }

    func record(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        if let first {
            Issue.record("\(failures) \(what) mismatch(es); first: \(first)", sourceLocation: sourceLocation)
        }
    }
}

/// Token strings compared byte for byte (String == would accept canonically equivalent spellings).
func utf8Bytes(_ tokens: [String]) -> [[UInt8]] { tokens.map { Array($0.utf8) } }
