import Foundation

/// Loads the tokenizer of a Hugging Face model folder the way transformers 5's
/// `AutoTokenizer.from_pretrained` does, producing the same ids.
///
/// The tokenizer class comes from `tokenizer_config.json` (`tokenizer_class`), else `config.json`
/// (`tokenizer_class`, then `model_type`). Like transformers 5, two classes rebuild their pipeline
/// from settings instead of taking tokenizer.json whole:
/// - `BertTokenizer`: WordPiece over tokenizer.json's (or vocab.txt's) vocabulary, a Bert
///   normalizer configured by `do_lower_case`, `strip_accents` and `tokenize_chinese_chars`, the
///   Bert pre-tokenizer, and `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` (B with type id 1).
/// - `XLMRobertaTokenizer`: Unigram over tokenizer.json's pieces (unknown id 3) with only its
///   `Precompiled` normalizer, then whitespace splitting and Metaspace (so trailing spaces leave no
///   stray `▁`), and `<s> A </s>` / `<s> A </s></s> B </s>`. Without tokenizer.json,
///   `sentencepiece.bpe.model` is run by libsentencepiece in the fairseq id layout.
/// Any other class uses tokenizer.json as written. Special tokens come from
/// `added_tokens_decoder` (else tokenizer.json's `added_tokens`) plus the named ones (`pad_token`, ...).
public enum AutoTokenizer {
    /// The files a folder may hold, in the order they are tried.
    static let tokenizerFiles = [TokenizerJSON.fileName, "vocab.txt", "sentencepiece.bpe.model"]

    /// Loads the tokenizer in `folder`.
    public static func load(from folder: URL) throws(TokenizerError) -> any Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .unreadableFile(path: folder.path, reason: "no such folder")
        }
        let settings = try TokenizerSettings(folder: folder)
        let tokenizerJSON = try settings.file(TokenizerJSON.fileName).map { url throws(TokenizerError) in try TokenizerJSON(contentsOf: url) }
        switch try settings.className {
        case "BertTokenizer", "DistilBertTokenizer":
            return try bert(settings, tokenizerJSON: tokenizerJSON)
        case "XLMRobertaTokenizer":
            if let tokenizerJSON { return try xlmRoberta(settings, tokenizerJSON: tokenizerJSON) }
            if let model = settings.file("sentencepiece.bpe.model") { return try SentencePieceTokenizer.load(model, layout: .fairseq) }
        default:
            if let tokenizerJSON { return try generic(settings, tokenizerJSON: tokenizerJSON) }
            if settings.file("vocab.txt") != nil { return try bert(settings, tokenizerJSON: nil) }
            if let model = settings.file("sentencepiece.bpe.model") { return try SentencePieceTokenizer.load(model, layout: .fairseq) }
        }
        throw .missingFiles(folder: folder.path, expected: tokenizerFiles)
    }

    /// Loads a `tokenizer.json` exactly as written, as `tokenizers`' `Tokenizer.from_file` does
    /// (without transformers' class-specific rebuilding, and ignoring its truncation and padding).
    public static func load(tokenizerFile url: URL) throws(TokenizerError) -> any Tokenizer {
        try TokenizerJSON(contentsOf: url).tokenizer()
    }

    /// transformers' `BertTokenizer`.
    private static func bert(_ settings: TokenizerSettings, tokenizerJSON: TokenizerJSON?) throws(TokenizerError) -> PipelineTokenizer {
        let defaults = ["unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"]
        let unknown = try settings.specialToken("unk_token", default: defaults["unk_token"])?.content ?? "[UNK]"
        let entries: [(token: String, id: Int)]
        let vocabularyFile: String
        if let tokenizerJSON {
            vocabularyFile = TokenizerJSON.fileName
            entries = try tokenizerJSON.root.field("model").field("vocab").members().map { entry throws(TokenizerError) in (entry.key, try entry.node.int()) }
        } else {
            guard let url = settings.file("vocab.txt") else { throw .missingFiles(folder: settings.folder.path, expected: tokenizerFiles) }
            vocabularyFile = "vocab.txt"
            entries = try readVocabularyLines(url).enumerated().map { ($1, $0) }
        }
        guard let model = WordPieceModel(vocabulary: entries, unknownToken: unknown) else {
            throw .malformed(file: vocabularyFile, key: "vocab", problem: "the unknown token \"\(unknown)\" is not in the vocabulary")
        }
        let lowercase = try settings.bool("do_lower_case") ?? true
        let normalizer = BertNormalizer(
            cleanText: true, handleChineseCharacters: try settings.bool("tokenize_chinese_chars") ?? true,
            stripAccents: try settings.bool("strip_accents") ?? lowercase, lowercase: lowercase)
        let special = try settings.addedTokens(model: model, tokenizerJSON: tokenizerJSON, defaults: defaults)
        let cls = special.named["cls_token"] ?? AddedToken(content: "[CLS]", id: 2)
        let sep = special.named["sep_token"] ?? AddedToken(content: "[SEP]", id: 3)
        return PipelineTokenizer(
            addedTokens: special.all, normalizer: normalizer, preTokenizer: BertPreTokenizer(), model: model,
            postProcessor: .bert(cls: (cls.content, cls.id), sep: (sep.content, sep.id)),
            decoder: WordPieceDecoder(), cleanUpTokenizationSpaces: try settings.cleanUpTokenizationSpaces,
            padId: special.named["pad_token"]?.id ?? 0)
    }

    /// transformers' `XLMRobertaTokenizer` built from tokenizer.json.
    private static func xlmRoberta(_ settings: TokenizerSettings, tokenizerJSON: TokenizerJSON) throws(TokenizerError) -> PipelineTokenizer {
        let defaults = ["bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                        "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"]
        let pieces = try tokenizerJSON.unigramPieces()
        guard pieces.count > 3 else {
            throw .malformed(file: TokenizerJSON.fileName, key: "model.vocab", problem: "XLM-R needs the unknown piece at id 3, but there are only \(pieces.count) pieces")
        }
        let model = UnigramModel(pieces: pieces, unknownId: 3)
        let scheme: PrependScheme = try settings.bool("add_prefix_space") ?? true ? .always : .never
        let special = try settings.addedTokens(model: model, tokenizerJSON: tokenizerJSON, defaults: defaults)
        let begin = special.named["bos_token"] ?? AddedToken(content: "<s>", id: 0)
        let end = special.named["eos_token"] ?? AddedToken(content: "</s>", id: 2)
        return PipelineTokenizer(
            addedTokens: special.all, normalizer: try tokenizerJSON.precompiledNormalizer(),
            preTokenizer: PreTokenizerSequence(preTokenizers: [WhitespaceSplitPreTokenizer(), MetaspacePreTokenizer(prependScheme: scheme)]),
            model: model, postProcessor: .roberta(cls: (begin.content, begin.id), sep: (end.content, end.id)),
            decoder: MetaspaceDecoder(prependScheme: scheme), cleanUpTokenizationSpaces: try settings.cleanUpTokenizationSpaces,
            padId: special.named["pad_token"]?.id ?? 1)
    }

    /// Any other class: tokenizer.json as written, plus the configured special tokens.
    private static func generic(_ settings: TokenizerSettings, tokenizerJSON: TokenizerJSON) throws(TokenizerError) -> PipelineTokenizer {
        let base = try tokenizerJSON.tokenizer()
        let special = try settings.addedTokens(model: base.model, tokenizerJSON: tokenizerJSON, defaults: [:])
        return PipelineTokenizer(
            addedTokens: special.all, normalizer: base.normalizer, preTokenizer: base.preTokenizer, model: base.model,
            postProcessor: base.postProcessor, decoder: base.decoder,
            cleanUpTokenizationSpaces: try settings.cleanUpTokenizationSpaces,
            padId: special.named["pad_token"]?.id ?? base.padId)
    }

    /// vocab.txt: one token per line, the line number being its id.
    private static func readVocabularyLines(_ url: URL) throws(TokenizerError) -> [String] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw .unreadableFile(path: url.path, reason: error.localizedDescription)
        }
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
    }
}

/// The settings transformers reads from a model folder: tokenizer_config.json, config.json and
/// special_tokens_map.json.
struct TokenizerSettings {
    let folder: URL
    let tokenizerConfig: JSONNode?
    let modelConfig: JSONNode?
    let specialTokensMap: JSONNode?

    init(folder: URL) throws(TokenizerError) {
        self.folder = folder
        func load(_ name: String) throws(TokenizerError) -> JSONNode? {
            let url = folder.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: url.path) ? try JSONNode.load(url) : nil
        }
        tokenizerConfig = try load("tokenizer_config.json")
        modelConfig = try load("config.json")
        specialTokensMap = try load("special_tokens_map.json")
    }

    func file(_ name: String) -> URL? {
        let url = folder.appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// The tokenizer class without transformers 4's `Fast` suffix, or nil when nothing names one.
    var className: String? {
        get throws(TokenizerError) {
            let modelTypes = ["bert": "BertTokenizer", "distilbert": "BertTokenizer", "xlm-roberta": "XLMRobertaTokenizer"]
            var name = try tokenizerConfig?.optionalString("tokenizer_class")
            if name == nil { name = try modelConfig?.optionalString("tokenizer_class") }
            if name == nil { name = try modelConfig?.optionalString("model_type").flatMap { modelTypes[$0] } }
            guard let name else { return nil }
            return name.hasSuffix("Fast") ? String(name.dropLast(4)) : name
        }
    }

    func bool(_ key: String) throws(TokenizerError) -> Bool? {
        try tokenizerConfig?.optionalBool(key)
    }

    var cleanUpTokenizationSpaces: Bool {
        get throws(TokenizerError) {
            let flag = try bool("clean_up_tokenization_spaces")
            return flag ?? false
        }
    }

    /// A named special token (`unk_token`, ...) from tokenizer_config.json, else
    /// special_tokens_map.json, else `defaultContent`; a string or an AddedToken object.
    func specialToken(_ name: String, default defaultContent: String?) throws(TokenizerError) -> AddedToken? {
        var node = try tokenizerConfig?.optionalField(name)
        if node == nil { node = try specialTokensMap?.optionalField(name) }
        guard let node else { return defaultContent.map { AddedToken(content: $0, id: -1) } }
        if case .string(let content) = node.value { return AddedToken(content: content, id: -1) }
        return try TokenizerJSON.addedToken(node, id: -1)
    }

    /// The added tokens transformers registers, and the named special tokens among them.
    func addedTokens(model: any TokenModel, tokenizerJSON: TokenizerJSON?, defaults: [String: String])
        throws(TokenizerError) -> (all: [AddedToken], named: [String: AddedToken]) {
        var tokens: [AddedToken] = []
        if let decoder = try tokenizerConfig?.optionalField("added_tokens_decoder") {
            for (key, entry) in try decoder.members() {
                guard let id = Int(key) else { throw entry.malformed("the key is not an integer id") }
                tokens.append(try TokenizerJSON.addedToken(entry, id: id))
            }
            tokens.sort { $0.id < $1.id }
        } else if let tokenizerJSON {
            tokens = try tokenizerJSON.addedTokens()
        }
        var named: [String: AddedToken] = [:]
        for name in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] {
            guard var token = try specialToken(name, default: defaults[name]) else { continue }
            if let existing = tokens.first(where: { $0.content.isByteEqual(token.content) }) {
                named[name] = existing
                continue
            }
            let nextId = max(model.vocabularySize, (tokens.map(\.id).max() ?? -1) + 1)
            token.id = model.id(of: token.content) ?? nextId
            token.special = true
            tokens.append(token)
            named[name] = token
        }
        return (tokens, named)
    }
}
