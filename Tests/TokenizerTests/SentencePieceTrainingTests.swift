import Foundation
import Testing
import TestSupport
@testable import FinchTokenizers

/// Training SentencePiece models with libsentencepiece on Bengali comments from ../shared/data.
@Suite("SentencePiece training")
struct SentencePieceTrainingTests {
    /// The text column of the first `count` rows of a bengali-absa file.
    static func bengaliLines(_ count: Int, file: String = "cricket_train") throws -> [String] {
        let url = TestPaths.data.appendingPathComponent("bengali-absa/\(file).tsv")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MissingFixture("\(url.path) is missing; ../shared/data must be checked out beside the repository")
        }
        let rows = try String(contentsOf: url, encoding: .utf8).split(whereSeparator: \.isNewline).dropFirst()
        return rows.prefix(count).compactMap { row in
            let columns = row.split(separator: "\t", omittingEmptySubsequences: false)
            return columns.count > 1 ? String(columns[1]) : nil
        }
    }

    static func temporaryPrefix() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch spm \(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder.appendingPathComponent("bengali model")
    }

    /// What SentencePiece's default normalization does to ordinary text: runs of spaces collapse.
    static func collapsingSpaces(_ text: String) -> String {
        text.split(separator: " ").joined(separator: " ")
    }

    @Test("trains, reloads, and round-trips Bengali text", arguments: [SentencePieceTraining.ModelType.unigram, .bpe])
    func roundTrip(modelType: SentencePieceTraining.ModelType) throws {
        let lines = try Self.bengaliLines(400)
        #expect(lines.count == 400)
        let prefix = try Self.temporaryPrefix()
        defer { try? FileManager.default.removeItem(at: prefix.deletingLastPathComponent()) }
        let tokenizer = try SentencePieceTraining.train(texts: lines, vocabularySize: 600, modelType: modelType,
                                                        characterCoverage: 1.0, to: prefix)
        #expect(FileManager.default.fileExists(atPath: prefix.path + ".model"))
        #expect(tokenizer.vocabularySize <= 600 && tokenizer.vocabularySize > 100)
        #expect(tokenizer.padId == 3)
        #expect(tokenizer.id(of: "<unk>") == 0)
        for line in lines.prefix(50) {
            let encoding = tokenizer.encode(line)
            #expect(encoding.ids.first == 1 && encoding.ids.last == 2)
            #expect(encoding.ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize })
            #expect(!encoding.ids.dropFirst().dropLast().contains(0), "no <unk> in training text: \(line)")
            #expect(tokenizer.decode(encoding.ids, skipSpecialTokens: true) == Self.collapsingSpaces(line))
        }
        let reloaded = try SentencePieceTokenizer.load(URL(fileURLWithPath: prefix.path + ".model"), layout: .native)
        #expect(reloaded.encode(lines[7]).ids == tokenizer.encode(lines[7]).ids)
    }

    @Test("rejects unusable training input with a clear message")
    func invalidInput() throws {
        let prefix = try Self.temporaryPrefix()
        defer { try? FileManager.default.removeItem(at: prefix.deletingLastPathComponent()) }
        #expect(throws: TokenizerError.invalidTrainingInput("no non-blank texts")) {
            try SentencePieceTraining.train(texts: ["", "  "], vocabularySize: 100, to: prefix)
        }
        #expect(throws: TokenizerError.self) {
            try SentencePieceTraining.train(texts: ["abc"], vocabularySize: 3, to: prefix)
        }
        #expect(throws: TokenizerError.self) {
            try SentencePieceTraining.train(texts: ["abc"], vocabularySize: 100, characterCoverage: 1.5, to: prefix)
        }
    }
}
