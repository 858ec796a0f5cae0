import Foundation
import Testing
@testable import FinchTokenizers

/// Loading fails with a TokenizerError naming the file and the problem, never a crash.
@Suite("Tokenizer errors")
struct TokenizerErrorTests {
    /// A fresh folder holding `files` (name → contents).
    static func folder(_ files: [String: String]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-tokenizer-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, contents) in files {
            try contents.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return folder
    }

    static func loadError(_ files: [String: String]) throws -> TokenizerError {
        let folder = try folder(files)
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            _ = try AutoTokenizer.load(from: folder)
        } catch {
            return error
        }
        Issue.record("loading \(files.keys.sorted()) succeeded")
        return .missingFiles(folder: "", expected: [])
    }

    static let wordPieceVocab = #"{"[UNK]": 0, "hello": 1}"#

    @Test("a missing folder or one without tokenizer files")
    func missingFiles() throws {
        let missing = URL(fileURLWithPath: "/nonexistent/finch-model")
        #expect(throws: TokenizerError.unreadableFile(path: missing.path, reason: "no such folder")) {
            try AutoTokenizer.load(from: missing)
        }
        let error = try Self.loadError(["config.json": #"{"model_type": "llama"}"#])
        guard case .missingFiles(_, let expected) = error else { Issue.record("got \(error)"); return }
        #expect(expected == ["tokenizer.json", "vocab.txt", "sentencepiece.bpe.model"])
        #expect(error.description.contains("no tokenizer files in"))
    }

    @Test("invalid JSON names the file and byte offset")
    func invalidJSON() throws {
        let error = try Self.loadError(["tokenizer.json": #"{"model": {"type": "WordPiece", "#])
        guard case .malformed(let file, _, let problem) = error else { Issue.record("got \(error)"); return }
        #expect(file == "tokenizer.json")
        #expect(problem.contains("invalid JSON at byte"))
        let config = try Self.loadError(["tokenizer_config.json": "{tokenizer_class: 1}", "vocab.txt": "[UNK]\n"])
        #expect(config.description.hasPrefix("tokenizer_config.json is malformed"))
    }

    @Test("a missing or mistyped key is named by its path")
    func wrongKeys() throws {
        #expect(try Self.loadError(["tokenizer.json": "{}"])
                == .malformed(file: "tokenizer.json", key: "model", problem: "missing key"))
        #expect(try Self.loadError(["tokenizer.json": #"{"model": {"type": "WordPiece", "vocab": "oops"}}"#])
                == .malformed(file: "tokenizer.json", key: "model.vocab", problem: "expected an object, found a string"))
        #expect(try Self.loadError(["tokenizer.json": #"{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["a", -1], ["b"]]}}"#])
                == .malformed(file: "tokenizer.json", key: "model.vocab[1]", problem: "expected a [piece, score] pair"))
        #expect(try Self.loadError(["tokenizer.json": #"{"model": {"type": "WordPiece", "unk_token": "[X]", "vocab": \#(Self.wordPieceVocab)}}"#])
                == .malformed(file: "tokenizer.json", key: "model.unk_token", problem: "\"[X]\" is not in model.vocab"))
        let template = try Self.loadError(["tokenizer.json": #"""
            {"model": {"type": "WordPiece", "vocab": \#(Self.wordPieceVocab)},
             "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]"}}], "pair": [], "special_tokens": {}}}
            """#])
        #expect(template == .malformed(file: "tokenizer.json", key: "post_processor.single[0].SpecialToken.id", problem: "\"[CLS]\" is not in special_tokens"))
    }

    @Test("unsupported component types are named")
    func unsupportedTypes() throws {
        let wordLevel = try Self.loadError(["tokenizer.json": #"{"model": {"type": "WordLevel", "vocab": {}}}"#])
        #expect(wordLevel == .unsupported(file: "tokenizer.json", key: "model.type", type: "WordLevel"))
        #expect(wordLevel.description == "tokenizer.json: model.type type \"WordLevel\" is not supported")
        let untyped = try Self.loadError(["tokenizer.json": #"{"model": {"vocab": {}, "unk_token": "?"}}"#])
        #expect(untyped == .unsupported(file: "tokenizer.json", key: "model.type", type: "WordLevel"))
        let normalizer = try Self.loadError(["tokenizer.json": #"""
            {"model": {"type": "WordPiece", "vocab": \#(Self.wordPieceVocab)},
             "normalizer": {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "ByteLevel"}]}}
            """#])
        #expect(normalizer == .unsupported(file: "tokenizer.json", key: "normalizer.normalizers[1].type", type: "ByteLevel"))
        let decoder = try Self.loadError(["tokenizer.json": #"{"model": {"type": "WordPiece", "vocab": \#(Self.wordPieceVocab)}, "decoder": {"type": "CTC"}}"#])
        #expect(decoder == .unsupported(file: "tokenizer.json", key: "decoder.type", type: "CTC"))
    }

    @Test("a broken SentencePiece model or vocabulary")
    func brokenModels() throws {
        let spm = try Self.loadError(["sentencepiece.bpe.model": "not a protobuf", "tokenizer_config.json": #"{"tokenizer_class": "XLMRobertaTokenizer"}"#])
        guard case .sentencePiece(let file, let message) = spm else { Issue.record("got \(spm)"); return }
        #expect(file.hasSuffix("sentencepiece.bpe.model"))
        #expect(!message.isEmpty)
        let vocab = try Self.loadError(["vocab.txt": "hello\nworld\n"])
        #expect(vocab == .malformed(file: "vocab.txt", key: "vocab", problem: "the unknown token \"[UNK]\" is not in the vocabulary"))
        let charsmap = try Self.loadError(["tokenizer.json": #"{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["a", -1]]}, "normalizer": {"type": "Precompiled", "precompiled_charsmap": "AQID"}}"#])
        #expect(charsmap == .malformed(file: "tokenizer.json", key: "normalizer.precompiled_charsmap", problem: "charsmap has 3 bytes, fewer than its 4-byte header"))
    }

    @Test("a minimal vocab.txt folder loads as BERT")
    func vocabTxt() throws {
        let folder = try Self.folder(["vocab.txt": "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\n"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let tokenizer = try AutoTokenizer.load(from: folder)
        #expect(tokenizer.encode("Hellos!").ids == [2, 5, 6, 1, 3])
        #expect(tokenizer.padId == 0)
    }
}
