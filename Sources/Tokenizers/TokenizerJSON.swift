import Foundation

/// Reads Hugging Face `tokenizer.json` files: the components `tokenizers` serializes, each built
/// into its Swift counterpart. The file's `truncation` and `padding` settings are not applied:
/// callers choose those per call, as transformers does.
struct TokenizerJSON {
    let root: JSONNode

    static let fileName = "tokenizer.json"

    init(contentsOf url: URL) throws(TokenizerError) {
        root = try JSONNode.load(url)
    }

    init(root: JSONNode) {
        self.root = root
    }

    /// The whole pipeline exactly as the file describes it (`Tokenizer.from_file`).
    func tokenizer() throws(TokenizerError) -> PipelineTokenizer {
        let model = try self.model()
        let addedTokens = try self.addedTokens()
        let padId = try root.optionalField("padding")?.optionalInt("pad_id")
            ?? addedTokens.first { ["<pad>", "[PAD]"].contains($0.content) }?.id
            ?? model.id(of: "<pad>") ?? model.id(of: "[PAD]") ?? 0
        return PipelineTokenizer(
            addedTokens: addedTokens, normalizer: try normalizer(), preTokenizer: try preTokenizer(),
            model: model, postProcessor: try postProcessor(), decoder: try decoder(), padId: padId)
    }

    // MARK: Model

    /// The `model` section (WordPiece, Unigram or BPE).
    func model() throws(TokenizerError) -> any TokenModel {
        let node = try root.field("model")
        let vocab = try node.field("vocab")
        var type = try node.optionalString("type")
        if type == nil { type = try inferredModelType(node, vocab: vocab) }
        switch type {
        case "WordPiece":
            let entries = try vocab.members().map { entry throws(TokenizerError) in (entry.key, try entry.node.int()) }
            if let invalid = entries.first(where: { $0.1 < 0 || $0.1 > Int(Int32.max) }) {
                throw .malformed(file: root.file, key: "model.vocab.\(invalid.0)", problem: "id \(invalid.1) is out of range")
            }
            let unknown = try node.optionalString("unk_token") ?? "[UNK]"
            guard let model = WordPieceModel(
                vocabulary: entries, unknownToken: unknown,
                continuingSubwordPrefix: try node.optionalString("continuing_subword_prefix") ?? "##",
                maxInputCharactersPerWord: try node.optionalInt("max_input_chars_per_word") ?? 100)
            else {
                throw .malformed(file: root.file, key: "model.unk_token", problem: "\"\(unknown)\" is not in model.vocab")
            }
            return model
        case "BPE":
            return try bpeModel(node)
        case "Unigram":
            let pieces = try unigramPieces()
            let unknownId = try node.optionalInt("unk_id")
            if let unknownId, !pieces.indices.contains(unknownId) {
                throw .malformed(file: root.file, key: "model.unk_id", problem: "\(unknownId) is outside the \(pieces.count)-piece vocabulary")
            }
            return UnigramModel(pieces: pieces, unknownId: unknownId, byteFallback: try node.optionalBool("byte_fallback") ?? false)
        default:
            throw .unsupported(file: root.file, key: "model.type", type: type ?? "")
        }
    }

    /// `model.vocab` of a Unigram model: `[piece, score]` pairs in id order.
    func unigramPieces() throws(TokenizerError) -> [(piece: String, score: Double)] {
        let vocab = try root.field("model").field("vocab")
        guard case .array(let entries) = vocab.value else { throw vocab.malformed("expected an array, found \(vocab.value.typeName)") }
        var pieces: [(piece: String, score: Double)] = []
        pieces.reserveCapacity(entries.count)
        for entry in entries {
            // The common shape is read directly; anything else is re-read through JSONNode for the error.
            if case .array(let pair) = entry, pair.count == 2, case .string(let piece) = pair[0], case .number(let score) = pair[1] {
                pieces.append((piece, score))
                continue
            }
            let node = try vocab.array()[pieces.count]
            let pair = try node.array()
            guard pair.count == 2 else { throw node.malformed("expected a [piece, score] pair") }
            pieces.append((try pair[0].string(), try pair[1].double()))
        }
        return pieces
    }

    /// A `BPE` model: `vocab` as `{token: id}`, `merges` as `"a b"` strings or `[a, b]` pairs in rank order.
    func bpeModel(_ node: JSONNode) throws(TokenizerError) -> BPEModel {
        let vocab = try node.field("vocab")
        guard case .object(let members) = vocab.value else { throw vocab.malformed("expected an object, found \(vocab.value.typeName)") }
        var entries: [(token: String, id: Int)] = []
        entries.reserveCapacity(members.count)
        for (token, value) in members {
            guard case .number(let number) = value, number >= 0, number <= Double(Int32.max), number.rounded() == number else {
                throw vocab.malformed(at: token, "expected a token id (an integer from 0 to \(Int32.max))")
            }
            entries.append((token, Int(number)))
        }
        let mergesNode = try node.field("merges")
        guard case .array(let items) = mergesNode.value else { throw mergesNode.malformed("expected an array, found \(mergesNode.value.typeName)") }
        var merges: [(String, String)] = []
        merges.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            switch item {
            case .string(let line):
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw try mergesNode.array()[index].malformed("expected \"left right\", found \"\(line)\"") }
                merges.append((String(parts[0]), String(parts[1])))
            case .array(let pair) where pair.count == 2:
                guard case .string(let left) = pair[0], case .string(let right) = pair[1] else {
                    throw try mergesNode.array()[index].malformed("expected two token strings")
                }
                merges.append((left, right))
            default:
                throw try mergesNode.array()[index].malformed("expected a \"left right\" string or a [left, right] pair")
            }
        }
        if let dropout = try node.optionalField("dropout")?.double(), dropout != 0 {
            throw node.malformed(at: "dropout", "BPE dropout \(dropout) is not supported (only 0 or null)")
        }
        let unknownToken = try node.optionalString("unk_token")
        let fuseUnknown = try node.optionalBool("fuse_unk") ?? false, byteFallback = try node.optionalBool("byte_fallback") ?? false
        let ignoreMerges = try node.optionalBool("ignore_merges") ?? false
        let prefix = try node.optionalString("continuing_subword_prefix") ?? "", suffix = try node.optionalString("end_of_word_suffix") ?? ""
        do throws(BPEModel.BuildError) {
            return try BPEModel(
                vocabulary: entries, merges: merges, unknownToken: unknownToken, fuseUnknown: fuseUnknown, byteFallback: byteFallback,
                ignoreMerges: ignoreMerges, continuingSubwordPrefix: prefix, endOfWordSuffix: suffix)
        } catch {
            switch error {
            case let .merge(index, problem): throw .malformed(file: root.file, key: "\(mergesNode.path)[\(index)]", problem: problem)
            case let .unknownToken(token): throw node.malformed(at: "unk_token", "\"\(token)\" is not in model.vocab")
            }
        }
    }

    private func inferredModelType(_ node: JSONNode, vocab: JSONNode) throws(TokenizerError) -> String {
        if case .array = vocab.value { return "Unigram" }
        if try node.optionalField("merges") != nil { return "BPE" }
        if try node.optionalField("continuing_subword_prefix") != nil { return "WordPiece" }
        return "WordLevel"
    }

    // MARK: Added tokens

    /// `added_tokens`.
    func addedTokens() throws(TokenizerError) -> [AddedToken] {
        guard let list = try root.optionalField("added_tokens") else { return [] }
        return try list.array().map { entry throws(TokenizerError) in try Self.addedToken(entry, id: try entry.field("id").int()) }
    }

    /// One added token object (`content` plus optional flags).
    static func addedToken(_ node: JSONNode, id: Int) throws(TokenizerError) -> AddedToken {
        AddedToken(
            content: try node.field("content").string(), id: id,
            singleWord: try node.optionalBool("single_word") ?? false,
            leftStrip: try node.optionalBool("lstrip") ?? false,
            rightStrip: try node.optionalBool("rstrip") ?? false,
            normalized: try node.optionalBool("normalized") ?? false,
            special: try node.optionalBool("special") ?? false)
    }

    // MARK: Normalizers

    func normalizer() throws(TokenizerError) -> (any Normalizer)? {
        try root.optionalField("normalizer").map { node throws(TokenizerError) in try Self.normalizer(node) }
    }

    static func normalizer(_ node: JSONNode) throws(TokenizerError) -> any Normalizer {
        let type = try node.componentType()
        switch type {
        case "Sequence":
            return NormalizerSequence(normalizers: try node.field("normalizers").array().map { item throws(TokenizerError) in try normalizer(item) })
        case "BertNormalizer":
            let lowercase = try node.optionalBool("lowercase") ?? true
            return BertNormalizer(
                cleanText: try node.optionalBool("clean_text") ?? true,
                handleChineseCharacters: try node.optionalBool("handle_chinese_chars") ?? true,
                stripAccents: try node.optionalBool("strip_accents") ?? lowercase,
                lowercase: lowercase)
        case "Precompiled":
            return try precompiled(node)
        case "NFC", "NFD", "NFKC", "NFKD":
            return UnicodeNormalizer(form: UnicodeNormalizer.Form(rawValue: type)!)
        case "Lowercase":
            return LowercaseNormalizer()
        case "StripAccents":
            return StripAccentsNormalizer()
        case "Strip":
            return StripNormalizer(left: try node.optionalBool("strip_left") ?? true, right: try node.optionalBool("strip_right") ?? true)
        case "Prepend":
            return PrependNormalizer(prefix: try node.field("prepend").string())
        case "Replace":
            return ReplaceNormalizer(pattern: try pattern(node.field("pattern")), content: try node.field("content").string())
        default:
            throw node.unsupportedType(type)
        }
    }

    /// A `Precompiled` normalizer; an empty or null charsmap normalizes nothing.
    static func precompiled(_ node: JSONNode) throws(TokenizerError) -> any Normalizer {
        guard let encoded = try node.optionalString("precompiled_charsmap"), !encoded.isEmpty else {
            return NormalizerSequence(normalizers: [])
        }
        guard let data = Data(base64Encoded: encoded) else { throw node.malformed(at: "precompiled_charsmap", "not valid base64") }
        do {
            return PrecompiledNormalizer(charsmap: try PrecompiledCharsmap(Array(data)))
        } catch {
            throw node.malformed(at: "precompiled_charsmap", error.description)
        }
    }

    /// The `Precompiled` normalizer anywhere in the `normalizer` section (transformers keeps only it
    /// when it rebuilds SentencePiece-based tokenizers).
    func precompiledNormalizer() throws(TokenizerError) -> (any Normalizer)? {
        guard let node = try root.optionalField("normalizer") else { return nil }
        let candidates = try node.componentType() == "Sequence" ? try node.field("normalizers").array() : [node]
        for candidate in candidates {
            if try candidate.componentType() == "Precompiled" { return try Self.precompiled(candidate) }
        }
        return nil
    }

    private static func pattern(_ node: JSONNode) throws(TokenizerError) -> ReplaceNormalizer.Pattern {
        if let literal = try node.optionalString("String") { return .literal(literal) }
        if let expression = try node.optionalString("Regex") {
            do {
                return .regex(try RegularExpression(expression))
            } catch {
                throw node.malformed(at: "Regex", "invalid regular expression: \(error)")
            }
        }
        throw node.malformed("expected {\"String\": ...} or {\"Regex\": ...}")
    }

    // MARK: Pre-tokenizers

    func preTokenizer() throws(TokenizerError) -> (any PreTokenizer)? {
        try root.optionalField("pre_tokenizer").map { node throws(TokenizerError) in try Self.preTokenizer(node) }
    }

    static func preTokenizer(_ node: JSONNode) throws(TokenizerError) -> any PreTokenizer {
        let type = try node.componentType()
        switch type {
        case "Sequence":
            return PreTokenizerSequence(preTokenizers: try node.field("pretokenizers").array().map { item throws(TokenizerError) in try preTokenizer(item) })
        case "BertPreTokenizer":
            return BertPreTokenizer()
        case "WhitespaceSplit":
            return WhitespaceSplitPreTokenizer()
        case "Whitespace":
            return WhitespacePreTokenizer()
        case "Punctuation":
            let behavior = try node.optionalString("behavior") ?? "Isolated"
            guard let parsed = SplitBehavior(rawValue: behavior) else { throw node.malformed(at: "behavior", "unknown behavior \"\(behavior)\"") }
            return PunctuationPreTokenizer(behavior: parsed)
        case "Metaspace":
            return MetaspacePreTokenizer(replacement: try replacement(node), prependScheme: try prependScheme(node),
                                         split: try node.optionalBool("split") ?? true)
        case "ByteLevel":
            return ByteLevelPreTokenizer(addPrefixSpace: try node.optionalBool("add_prefix_space") ?? true,
                                         useRegex: try node.optionalBool("use_regex") ?? true)
        case "Split":
            let behavior = try node.field("behavior").string()
            guard let parsed = SplitBehavior(rawValue: behavior) else { throw node.malformed(at: "behavior", "unknown behavior \"\(behavior)\"") }
            return SplitPreTokenizer(pattern: try splitPattern(node.field("pattern")), behavior: parsed,
                                     invert: try node.optionalBool("invert") ?? false)
        case "Digits":
            return DigitsPreTokenizer(individualDigits: try node.optionalBool("individual_digits") ?? false)
        default:
            throw node.unsupportedType(type)
        }
    }

    /// A Split `pattern`: `{"String": literal}` or `{"Regex": source}`.
    private static func splitPattern(_ node: JSONNode) throws(TokenizerError) -> SplitPattern {
        if let literal = try node.optionalString("String") { return .literal(literal) }
        if let source = try node.optionalString("Regex") {
            do {
                return try SplitPattern(regex: source)
            } catch {
                throw node.malformed(at: "Regex", "invalid regular expression: \(error)")
            }
        }
        throw node.malformed("expected {\"String\": ...} or {\"Regex\": ...}")
    }

    private static func replacement(_ node: JSONNode) throws(TokenizerError) -> Character {
        let text = try node.optionalString("replacement") ?? "▁"
        guard text.count == 1, let character = text.first else { throw node.malformed(at: "replacement", "expected one character") }
        return character
    }

    /// `prepend_scheme`, or the older `add_prefix_space` flag (true meaning `always`).
    private static func prependScheme(_ node: JSONNode) throws(TokenizerError) -> PrependScheme {
        if let scheme = try node.optionalString("prepend_scheme") {
            guard let parsed = PrependScheme(rawValue: scheme) else {
                throw node.malformed(at: "prepend_scheme", "expected always, first or never, found \"\(scheme)\"")
            }
            return parsed
        }
        return try node.optionalBool("add_prefix_space") ?? true ? .always : .never
    }

    // MARK: Post-processor and decoder

    func postProcessor() throws(TokenizerError) -> TemplatePostProcessor? {
        try root.optionalField("post_processor").flatMap { node throws(TokenizerError) in try Self.postProcessor(node) }
    }

    /// A post-processor as a template; `ByteLevel` changes only offsets, so it adds nothing, and a
    /// `Sequence` is the one template among its processors.
    static func postProcessor(_ node: JSONNode) throws(TokenizerError) -> TemplatePostProcessor? {
        let type = try node.componentType()
        switch type {
        case "ByteLevel":
            return nil
        case "Sequence":
            var templates: [TemplatePostProcessor] = []
            for item in try node.field("processors").array() {
                if let template = try postProcessor(item) { templates.append(template) }
            }
            guard templates.count <= 1 else { throw node.malformed(at: "processors", "more than one processor adds special tokens") }
            return templates.first
        case "TemplateProcessing":
            var specialTokens: [String: (ids: [Int], tokens: [String])] = [:]
            for (name, entry) in try node.field("special_tokens").members() {
                let ids = try entry.field("ids").array().map { id throws(TokenizerError) in try id.int() }
                let tokens = try entry.field("tokens").array().map { token throws(TokenizerError) in try token.string() }
                guard ids.count == tokens.count else { throw entry.malformed("ids and tokens differ in length") }
                specialTokens[name] = (ids, tokens)
            }
            let single = try template(node.field("single"), specialTokens: specialTokens)
            let pair = try template(node.field("pair"), specialTokens: specialTokens)
            return TemplatePostProcessor(single: single, pair: pair, specialTokens: specialTokens)
        case "BertProcessing", "RobertaProcessing":
            let cls = try namedId(node.field("cls")), sep = try namedId(node.field("sep"))
            return type == "BertProcessing" ? .bert(cls: cls, sep: sep) : .roberta(cls: cls, sep: sep)
        default:
            throw node.unsupportedType(type)
        }
    }

    private static func template(_ node: JSONNode, specialTokens: [String: (ids: [Int], tokens: [String])]) throws(TokenizerError) -> [TemplatePiece] {
        try node.array().map { item throws(TokenizerError) in
            if let special = try item.optionalField("SpecialToken") {
                let name = try special.field("id").string()
                guard specialTokens[name] != nil else { throw special.malformed(at: "id", "\"\(name)\" is not in special_tokens") }
                return .special(name: name, typeId: try special.optionalInt("type_id") ?? 0)
            }
            if let sequence = try item.optionalField("Sequence") {
                let name = try sequence.field("id").string()
                guard name == "A" || name == "B" else { throw sequence.malformed(at: "id", "expected A or B, found \"\(name)\"") }
                return .sequence(first: name == "A", typeId: try sequence.optionalInt("type_id") ?? 0)
            }
            throw item.malformed("expected a SpecialToken or Sequence piece")
        }
    }

    /// A `[token, id]` pair (BertProcessing's `cls` and `sep`).
    private static func namedId(_ node: JSONNode) throws(TokenizerError) -> (String, Int) {
        let pair = try node.array()
        guard pair.count == 2 else { throw node.malformed("expected [token, id]") }
        return (try pair[0].string(), try pair[1].int())
    }

    func decoder() throws(TokenizerError) -> (any TokenDecoder)? {
        guard let node = try root.optionalField("decoder") else { return nil }
        let type = try node.componentType()
        switch type {
        case "WordPiece":
            return WordPieceDecoder(prefix: try node.optionalString("prefix") ?? "##", cleanup: try node.optionalBool("cleanup") ?? true)
        case "ByteLevel":
            return ByteLevelDecoder()
        case "Metaspace":
            return MetaspaceDecoder(replacement: try Self.replacement(node), prependScheme: try Self.prependScheme(node))
        default:
            throw node.unsupportedType(type)
        }
    }
}
