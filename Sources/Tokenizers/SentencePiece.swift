import CSentencePiece
import Foundation

/// A loaded SentencePiece model (libsentencepiece). Encoding is a const, thread-safe call.
final class SentencePieceProcessor: @unchecked Sendable {
    private let handle: OpaquePointer
    let pieces: [String]
    let unknownId: Int
    let beginId: Int?
    let endId: Int?
    let padId: Int?

    init(contentsOf url: URL) throws(TokenizerError) {
        var message = [CChar](repeating: 0, count: 1024)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw .unreadableFile(path: url.path, reason: "no such file")
        }
        guard let handle = finch_spm_load(url.path, &message, message.count) else {
            throw .sentencePiece(file: url.path, message: decodeCString(message))
        }
        self.handle = handle
        var buffer = [CChar](repeating: 0, count: 1024)
        pieces = (0..<Int(finch_spm_piece_count(handle))).map { id in
            let length = min(Int(finch_spm_id_to_piece(handle, Int32(id), &buffer, buffer.count)), buffer.count - 1)
            guard length > 0 else { return "" }
            return buffer.withUnsafeBytes { String(decoding: $0.prefix(length), as: UTF8.self) }
        }
        unknownId = Int(finch_spm_unk_id(handle))
        func optionalId(_ id: Int32) -> Int? { id >= 0 ? Int(id) : nil }
        beginId = optionalId(finch_spm_bos_id(handle))
        endId = optionalId(finch_spm_eos_id(handle))
        padId = optionalId(finch_spm_pad_id(handle))
    }

    deinit { finch_spm_free(handle) }

    func isControl(_ id: Int) -> Bool { finch_spm_is_control(handle, Int32(id)) != 0 }

    /// The piece ids for `text` (normalization included).
    func encode(_ text: String) -> [Int] {
        var utf8 = Array(text.utf8)
        utf8.append(0)
        var ids = [Int32](repeating: 0, count: max(16, utf8.count * 2))
        var count = utf8.withUnsafeBufferPointer { text in
            text.withMemoryRebound(to: CChar.self) { finch_spm_encode(handle, $0.baseAddress!, text.count - 1, &ids, Int32(ids.count)) }
        }
        if count > ids.count {
            ids = [Int32](repeating: 0, count: Int(count))
            count = utf8.withUnsafeBufferPointer { text in
                text.withMemoryRebound(to: CChar.self) { finch_spm_encode(handle, $0.baseAddress!, text.count - 1, &ids, Int32(ids.count)) }
            }
        }
        return count <= 0 ? [] : ids.prefix(Int(count)).map(Int.init)
    }
}

/// The UTF-8 text before the first NUL of a C buffer.
private func decodeCString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)
}

/// How a SentencePiece model's piece ids map to the tokenizer's ids.
public enum SentencePieceIdLayout: Sendable {
    /// fairseq / XLM-R: `<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3, every other piece shifted up by one,
    /// and `<mask>` after the last piece.
    case fairseq
    /// The model's own ids; its control pieces (`<s>`, `</s>`, `<pad>`) become special tokens.
    case native
}

/// A whole text segment encoded by libsentencepiece (it normalizes and splits by itself).
struct SentencePieceModel: TokenModel {
    let processor: SentencePieceProcessor
    let layout: SentencePieceIdLayout
    private let pieceIds: Vocabulary

    /// fairseq's reserved tokens and the offset of every other piece.
    static let fairseqReserved = ["<s>", "<pad>", "</s>", "<unk>"]
    static let fairseqOffset = 1

    init(processor: SentencePieceProcessor, layout: SentencePieceIdLayout) {
        self.processor = processor
        self.layout = layout
        pieceIds = Vocabulary(tokens: processor.pieces)
    }

    var vocabularySize: Int {
        layout == .fairseq ? processor.pieces.count + Self.fairseqOffset : processor.pieces.count
    }

    func tokenize(_ word: String) -> [ModelToken] {
        processor.encode(word).map { pieceId in
            ModelToken(id: id(ofPiece: pieceId), text: processor.pieces.indices.contains(pieceId) ? processor.pieces[pieceId] : "")
        }
    }

    private func id(ofPiece pieceId: Int) -> Int {
        guard layout == .fairseq else { return pieceId }
        return pieceId == processor.unknownId ? 3 : pieceId + Self.fairseqOffset
    }

    func id(of token: String) -> Int? {
        if layout == .fairseq, let reserved = Self.fairseqReserved.firstIndex(where: token.isByteEqual) { return reserved }
        return pieceIds.id(of: token).map(id(ofPiece:))
    }

    func token(of id: Int) -> String? {
        if layout == .fairseq {
            if Self.fairseqReserved.indices.contains(id) { return Self.fairseqReserved[id] }
            return processor.pieces.indices.contains(id - Self.fairseqOffset) ? processor.pieces[id - Self.fairseqOffset] : nil
        }
        return processor.pieces.indices.contains(id) ? processor.pieces[id] : nil
    }
}

/// Tokenizers backed by libsentencepiece `.model` files.
public enum SentencePieceTokenizer {
    /// Loads a `.model` file. With `.fairseq` (XLM-R's `sentencepiece.bpe.model`) the special tokens
    /// are `<s>`, `<pad>`, `</s>`, `<unk>` and `<mask>` (which swallows the whitespace before it);
    /// with `.native` they are the model's control pieces. Either way a sequence is wrapped as
    /// `<s> A </s>` (pairs: `<s> A </s></s> B </s>`) and decoding turns `▁` back into spaces.
    public static func load(_ url: URL, layout: SentencePieceIdLayout = .fairseq) throws(TokenizerError) -> any Tokenizer {
        let processor = try SentencePieceProcessor(contentsOf: url)
        let model = SentencePieceModel(processor: processor, layout: layout)
        var addedTokens: [AddedToken]
        let postProcessor: TemplatePostProcessor?
        let padId: Int
        switch layout {
        case .fairseq:
            addedTokens = SentencePieceModel.fairseqReserved.enumerated().map { AddedToken(content: $1, id: $0) }
            addedTokens.append(AddedToken(content: "<mask>", id: model.vocabularySize, leftStrip: true))
            postProcessor = .roberta(cls: ("<s>", 0), sep: ("</s>", 2))
            padId = 1
        case .native:
            addedTokens = processor.pieces.indices
                .filter { processor.isControl($0) || $0 == processor.unknownId }
                .map { AddedToken(content: processor.pieces[$0], id: $0) }
            if let begin = processor.beginId, let end = processor.endId {
                postProcessor = .roberta(cls: (processor.pieces[begin], begin), sep: (processor.pieces[end], end))
            } else {
                postProcessor = nil
            }
            padId = processor.padId ?? processor.unknownId
        }
        return PipelineTokenizer(addedTokens: addedTokens, normalizer: nil, preTokenizer: nil, model: model,
                                 postProcessor: postProcessor, decoder: MetaspaceDecoder(), padId: padId)
    }
}

/// Training new SentencePiece models with libsentencepiece's trainer.
public enum SentencePieceTraining {
    /// The segmentation algorithm to train.
    public enum ModelType: String, Sendable {
        case unigram
        case bpe
    }

    /// Trains a model on `texts` (one sentence per element; newlines inside become spaces) and
    /// writes `prefix.model` and `prefix.vocab`. Ids: `<unk>`=0, `<s>`=1, `</s>`=2, `<pad>`=3.
    /// Returns the trained tokenizer (native id layout).
    ///
    /// - Parameters:
    ///   - vocabularySize: the number of pieces, control pieces included; a corpus too small for it
    ///     yields fewer rather than failing.
    ///   - characterCoverage: the share of characters the model must cover (rarer ones map to
    ///     `<unk>`); 1.0 for small alphabets, 0.9995 for large ones such as CJK.
    public static func train(texts: [String], vocabularySize: Int, modelType: ModelType = .unigram,
                             characterCoverage: Double = 1.0, to prefix: URL) throws(TokenizerError) -> any Tokenizer {
        let lines = texts.map { $0.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ") }
            .filter { !$0.allSatisfy(\.isWhitespace) }
        guard !lines.isEmpty else { throw .invalidTrainingInput("no non-blank texts") }
        guard vocabularySize > 4 else { throw .invalidTrainingInput("vocabulary size \(vocabularySize) leaves no room besides the 4 special pieces") }
        guard characterCoverage > 0 && characterCoverage <= 1 else {
            throw .invalidTrainingInput("character coverage \(characterCoverage) is not in (0, 1]")
        }
        let input = FileManager.default.temporaryDirectory
            .appendingPathComponent("finch-spm-\(UUID().uuidString).txt")
        do {
            try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
        } catch {
            throw .unreadableFile(path: input.path, reason: "cannot write the training text: \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: input) }

        let options: [(String, String)] = [
            ("input", input.path), ("model_prefix", prefix.path), ("vocab_size", String(vocabularySize)),
            ("model_type", modelType.rawValue), ("character_coverage", String(characterCoverage)),
            ("hard_vocab_limit", "false"), ("unk_id", "0"), ("bos_id", "1"), ("eos_id", "2"), ("pad_id", "3"),
            ("num_threads", "1"), ("minloglevel", "2"),
        ]
        var message = [CChar](repeating: 0, count: 2048)
        let status = withCStrings(options.map(\.0)) { keys in
            withCStrings(options.map(\.1)) { values in
                finch_spm_train(keys, values, Int32(options.count), &message, message.count)
            }
        }
        guard status == 0 else {
            throw .sentencePiece(file: prefix.path + ".model", message: decodeCString(message))
        }
        return try SentencePieceTokenizer.load(URL(fileURLWithPath: prefix.path + ".model"), layout: .native)
    }

    private static func withCStrings<Result>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> Result) -> Result {
        let pointers = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        let constPointers = pointers.map { UnsafePointer($0) }
        return constPointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
