/// The model's tokens for one input sequence, before special tokens are added.
struct TokenSequence: Sendable, Equatable {
    var ids: [Int] = []
    var tokens: [String] = []

    var count: Int { ids.count }

    mutating func append(_ token: ModelToken) {
        ids.append(token.id)
        tokens.append(token.text)
    }

    /// Keeps the first `length` tokens.
    mutating func truncate(to length: Int) {
        guard length < ids.count else { return }
        ids.removeSubrange(max(length, 0)...)
        tokens.removeSubrange(max(length, 0)...)
    }
}

/// One part of a template: a special token or one of the two input sequences, with its type id.
enum TemplatePiece: Sendable, Equatable {
    case special(name: String, typeId: Int)
    case sequence(first: Bool, typeId: Int)
}

/// Adds special tokens around the sequences (tokenizer.json's `post_processor`).
/// `BertProcessing` and `RobertaProcessing` are expressed as templates too.
struct TemplatePostProcessor: Sendable {
    let single: [TemplatePiece]
    let pair: [TemplatePiece]
    /// Special token name to the ids and token strings it expands to.
    let specialTokens: [String: (ids: [Int], tokens: [String])]

    /// BERT's `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]`, the second part with type id 1.
    static func bert(cls: (String, Int), sep: (String, Int)) -> TemplatePostProcessor {
        TemplatePostProcessor(
            single: [.special(name: cls.0, typeId: 0), .sequence(first: true, typeId: 0), .special(name: sep.0, typeId: 0)],
            pair: [.special(name: cls.0, typeId: 0), .sequence(first: true, typeId: 0), .special(name: sep.0, typeId: 0),
                   .sequence(first: false, typeId: 1), .special(name: sep.0, typeId: 1)],
            specialTokens: [cls.0: ([cls.1], [cls.0]), sep.0: ([sep.1], [sep.0])])
    }

    /// RoBERTa's `<s> A </s>` / `<s> A </s></s> B </s>`, all with type id 0.
    static func roberta(cls: (String, Int), sep: (String, Int)) -> TemplatePostProcessor {
        TemplatePostProcessor(
            single: [.special(name: cls.0, typeId: 0), .sequence(first: true, typeId: 0), .special(name: sep.0, typeId: 0)],
            pair: [.special(name: cls.0, typeId: 0), .sequence(first: true, typeId: 0), .special(name: sep.0, typeId: 0),
                   .special(name: sep.0, typeId: 0), .sequence(first: false, typeId: 0), .special(name: sep.0, typeId: 0)],
            specialTokens: [cls.0: ([cls.1], [cls.0]), sep.0: ([sep.1], [sep.0])])
    }

    /// How many tokens the template adds.
    func addedTokenCount(pair isPair: Bool) -> Int {
        (isPair ? pair : single).reduce(0) { count, piece in
            if case .special(let name, _) = piece { return count + (specialTokens[name]?.ids.count ?? 0) }
            return count
        }
    }

    /// Lays out the sequences (and, when `addSpecialTokens`, the special tokens) per the template.
    func process(_ first: TokenSequence, _ second: TokenSequence?, addSpecialTokens: Bool) -> Encoding {
        var encoding = Encoding(ids: [], tokens: [], typeIds: [], attentionMask: [], specialTokensMask: [])
        for piece in second == nil ? single : pair {
            switch piece {
            case let .sequence(isFirst, typeId):
                guard let sequence = isFirst ? first : second else { continue }
                encoding.append(sequence, typeId: typeId, special: false)
            case let .special(name, typeId):
                guard addSpecialTokens, let special = specialTokens[name] else { continue }
                encoding.append(TokenSequence(ids: special.ids, tokens: special.tokens), typeId: typeId, special: true)
            }
        }
        return encoding
    }
}

extension Encoding {
    mutating func append(_ sequence: TokenSequence, typeId: Int, special: Bool) {
        ids += sequence.ids
        tokens += sequence.tokens
        typeIds += Array(repeating: typeId, count: sequence.count)
        attentionMask += Array(repeating: 1, count: sequence.count)
        specialTokensMask += Array(repeating: special ? 1 : 0, count: sequence.count)
    }

    /// The sequences side by side with no special tokens, the second with type id `secondTypeId`
    /// (what `tokenizers` does without a post-processor).
    static func joining(_ first: TokenSequence, _ second: TokenSequence?, secondTypeId: Int) -> Encoding {
        var encoding = Encoding(ids: [], tokens: [], typeIds: [], attentionMask: [], specialTokensMask: [])
        encoding.append(first, typeId: 0, special: false)
        if let second { encoding.append(second, typeId: secondTypeId, special: false) }
        return encoding
    }
}

/// Truncates a sequence (or pair) to `maxLength` tokens in total as `tokenizers`' `LongestFirst`
/// does: a lone sequence keeps its first tokens; a pair shortens the longer one first and, when
/// both are too long, splits the budget evenly (the odd token going to the longer one).
func truncateLongestFirst(_ first: inout TokenSequence, _ second: inout TokenSequence?, maxLength: Int) {
    let maxLength = max(maxLength, 0)
    guard var other = second else {
        first.truncate(to: maxLength)
        return
    }
    guard first.count + other.count > maxLength else { return }
    var shorter = min(first.count, other.count)
    var longer: Int
    if shorter > maxLength {
        longer = shorter
    } else {
        longer = max(shorter, maxLength - shorter)
    }
    if shorter + longer > maxLength {
        shorter = maxLength / 2
        longer = shorter + maxLength % 2
    }
    if first.count > other.count {
        first.truncate(to: longer)
        other.truncate(to: shorter)
    } else {
        first.truncate(to: shorter)
        other.truncate(to: longer)
    }
    second = other
}
