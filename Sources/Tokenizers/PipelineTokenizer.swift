/// A tokenizer assembled like Hugging Face `tokenizers`' `Tokenizer`: added tokens are matched
/// first, the rest is normalized, pre-tokenized into words and tokenized by the model; sequences
/// are truncated, then the post-processor adds special tokens.
struct PipelineTokenizer: Tokenizer {
    let addedVocabulary: AddedVocabulary
    let normalizer: (any Normalizer)?
    let preTokenizer: (any PreTokenizer)?
    let model: any TokenModel
    let postProcessor: TemplatePostProcessor?
    let decoder: (any TokenDecoder)?
    /// Apply transformers' `clean_up_tokenization` after decoding.
    let cleanUpTokenizationSpaces: Bool
    let padId: Int

    init(addedTokens: [AddedToken], normalizer: (any Normalizer)?, preTokenizer: (any PreTokenizer)?,
         model: any TokenModel, postProcessor: TemplatePostProcessor?, decoder: (any TokenDecoder)?,
         cleanUpTokenizationSpaces: Bool = false, padId: Int) {
        self.addedVocabulary = AddedVocabulary(addedTokens, normalizer: normalizer)
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.cleanUpTokenizationSpaces = cleanUpTokenizationSpaces
        self.padId = padId
    }

    var vocabularySize: Int {
        max(model.vocabularySize, (addedVocabulary.largestId ?? -1) + 1)
    }

    func id(of token: String) -> Int? {
        addedVocabulary.id(of: token) ?? model.id(of: token)
    }

    func token(of id: Int) -> String? {
        addedVocabulary.token(of: id)?.content ?? model.token(of: id)
    }

    /// The model's tokens for one text, before truncation and special tokens.
    func tokenize(_ text: String) -> TokenSequence {
        var sequence = TokenSequence()
        for segment in addedVocabulary.segments(of: text, normalizer: normalizer) {
            if let id = segment.addedTokenId {
                sequence.append(ModelToken(id: id, text: segment.text))
                continue
            }
            let piece = PreToken(text: segment.text, startsInput: segment.startsInput)
            let words = preTokenizer?.preTokenize([piece]) ?? [piece]
            for word in words where !word.text.isEmpty {
                for token in model.tokenize(word.text) { sequence.append(token) }
            }
        }
        return sequence
    }

    func encode(_ text: String, pair: String?, addSpecialTokens: Bool, maxLength: Int?) -> Encoding {
        var first = tokenize(text)
        // transformers' single-text call treats an empty pair as no pair.
        var second = pair.flatMap { $0.isEmpty ? nil : tokenize($0) }
        let template = addSpecialTokens ? postProcessor : nil
        // A limit that leaves no room for the special tokens truncates nothing, as in tokenizers.
        let added = template?.addedTokenCount(pair: second != nil) ?? 0
        if let maxLength, maxLength >= added {
            truncateLongestFirst(&first, &second, maxLength: maxLength - added)
        }
        if let postProcessor {
            return postProcessor.process(first, second, addSpecialTokens: addSpecialTokens)
        }
        return Encoding.joining(first, second, secondTypeId: 1)
    }

    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        let tokens = ids.compactMap { id -> String? in
            if let added = addedVocabulary.token(of: id) {
                return skipSpecialTokens && added.special ? nil : added.content
            }
            return model.token(of: id)
        }
        let text = decoder?.decode(tokens) ?? tokens.joined(separator: " ")
        return cleanUpTokenizationSpaces ? cleanUpTokenization(text) : text
    }
}
