extension AutoTokenizer {
    /// The split regex transformers puts before ByteLevel for a GGUF `tokenizer.ggml.pre` value
    /// (`GGUF_PRE_TOKENIZER_SPLITS`); other values keep GPT-2's ByteLevel regex.
    static let ggufPreTokenizerSplits: [String: String] = {
        let tekken = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let gpt4o = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        var table: [String: String] = ["tekken": tekken, "qwen35": SplitPattern.qwen35Source]
        for name in ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano", "dbrx", "smaug-bpe"] {
            table[name] = SplitPattern.llama3Source
        }
        for name in ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"] { table[name] = SplitPattern.qwen2Source }
        for name in ["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"] { table[name] = gpt4o }
        return table
    }()

    /// The tokenizer transformers builds from a GGUF file's byte-level BPE metadata
    /// (`AutoTokenizer.from_pretrained(folder, gguf_file: …)` with `tokenizer.ggml.model` "gpt2"):
    /// - the vocabulary, each token respelled in the byte-level alphabet when it has other characters,
    ///   and the merges (`"left right"`), as a BPE model without an unknown token;
    /// - GPT-2's ByteLevel pre-tokenizer, or, for a `pre` such as "llama-bpe" or "qwen2", that
    ///   model's Split regex followed by ByteLevel without its regex; the ByteLevel decoder;
    /// - added tokens: `<|endoftext|>` (GPT2Tokenizer's default unk/bos/eos, appended when the
    ///   vocabulary lacks it), control tokens (type 3) spelled in the alphabet as special tokens,
    ///   user-defined ones (type 4) as plain added tokens, then the BOS/EOS/UNK/PAD tokens by id;
    /// - BOS and EOS added around each sequence when `addBos` / `addEos` say so.
    /// The pad id falls back to the EOS id, then 0.
    public static func byteLevelBPE(
        ggufModel: String, pre: String?, tokens: [String], merges: [String], tokenTypes: [Int]?,
        bosId: Int?, eosId: Int?, padId: Int?, unknownId: Int?, addBos: Bool?, addEos: Bool?
    ) throws(TokenizerError) -> any Tokenizer {
        let file = "GGUF metadata"
        guard ggufModel == "gpt2" else { throw .unsupported(file: file, key: "tokenizer.ggml.model", type: ggufModel) }
        let spelled = tokens.map { ByteLevelAlphabet.spells($0) ? $0 : ByteLevelAlphabet.encode($0.utf8) }
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (index, merge) in merges.enumerated() {
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw .malformed(file: file, key: "tokenizer.ggml.merges[\(index)]", problem: "expected \"left right\", found \"\(merge)\"")
            }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        let model: BPEModel
        do throws(BPEModel.BuildError) {
            model = try BPEModel(vocabulary: spelled.enumerated().map { ($1, $0) }, merges: pairs)
        } catch {
            guard case let .merge(index, problem) = error else { throw .malformed(file: file, key: "tokenizer.ggml.tokens", problem: "\(error)") }
            throw .malformed(file: file, key: "tokenizer.ggml.merges[\(index)]", problem: problem)
        }
        for (name, id) in [("bos", bosId), ("eos", eosId), ("padding", padId), ("unknown", unknownId)] {
            if let id, !tokens.indices.contains(id) {
                throw .malformed(file: file, key: "tokenizer.ggml.\(name)_token_id", problem: "\(id) is outside the \(tokens.count)-token vocabulary")
            }
        }

        var added: [AddedToken] = []
        func register(_ content: String, special: Bool) {
            guard !added.contains(where: { $0.content.isByteEqual(content) }) else { return }
            let nextId = max(model.vocabularySize, (added.map(\.id).max() ?? -1) + 1)
            added.append(AddedToken(content: content, id: model.id(of: content) ?? nextId, special: special))
        }
        register("<|endoftext|>", special: true)
        let types = tokenTypes ?? []
        for (token, type) in zip(tokens, types) where type == 3 && ByteLevelAlphabet.spells(token) { register(token, special: true) }
        for (token, type) in zip(tokens, types) where type == 4 && model.id(of: token) != nil { register(token, special: false) }
        for id in [bosId, eosId, unknownId, padId].compactMap({ $0 }) { register(tokens[id], special: true) }

        var preTokenizer: any PreTokenizer = ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: true)
        if let pre, let source = ggufPreTokenizerSplits[pre] {
            let pattern: SplitPattern
            do {
                pattern = try SplitPattern(regex: source)
            } catch {
                throw .malformed(file: file, key: "tokenizer.ggml.pre", problem: "the split regex for \"\(pre)\" does not compile: \(error)")
            }
            preTokenizer = PreTokenizerSequence(preTokenizers: [
                SplitPreTokenizer(pattern: pattern, behavior: .isolated), ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: false),
            ])
        }
        func addedToken(_ id: Int?, when enabled: Bool?) -> (String, Int)? {
            guard enabled ?? false, let id, let token = added.first(where: { $0.content.isByteEqual(tokens[id]) }) else { return nil }
            return (token.content, token.id)
        }
        let bos = addedToken(bosId, when: addBos), eos = addedToken(eosId, when: addEos)
        return PipelineTokenizer(
            addedTokens: added, normalizer: nil, preTokenizer: preTokenizer, model: model,
            postProcessor: .bosEos(bos: bos, eos: eos), decoder: ByteLevelDecoder(), padId: padId ?? eosId ?? 0)
    }
}

extension TemplatePostProcessor {
    /// transformers' `update_post_processor`: `[bos] $A [eos]` and `[bos] $A [eos] [bos] $B [eos]`,
    /// the second half with type id 1.
    static func bosEos(bos: (String, Int)?, eos: (String, Int)?) -> TemplatePostProcessor {
        func half(_ first: Bool, typeId: Int) -> [TemplatePiece] {
            (bos.map { [.special(name: $0.0, typeId: typeId)] } ?? []) + [.sequence(first: first, typeId: typeId)]
                + (eos.map { [.special(name: $0.0, typeId: typeId)] } ?? [])
        }
        var specialTokens: [String: (ids: [Int], tokens: [String])] = [:]
        for token in [bos, eos].compactMap({ $0 }) { specialTokens[token.0] = ([token.1], [token.0]) }
        return TemplatePostProcessor(single: half(true, typeId: 0), pair: half(true, typeId: 0) + half(false, typeId: 1),
                                     specialTokens: specialTokens)
    }
}
