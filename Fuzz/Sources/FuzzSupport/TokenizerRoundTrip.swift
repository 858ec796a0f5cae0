import FinchTokenizers

/// A short text in several scripts, with spaces, digits, punctuation and an emoji: what tokenizer fuzzers encode.
public let mixedScriptSample = "Hello, wörld! আমি খুব খুশি 😀 你好 123 ¿qué? \t ok"

/// Encodes `mixedScriptSample` (alone and as a truncated pair) and decodes the ids, and ids outside the vocabulary
/// (which decoding skips): nothing may crash, and the encoding's arrays must line up.
public func exerciseTokenizer(_ tokenizer: any Tokenizer) {
    for encoding in [tokenizer.encode(mixedScriptSample), tokenizer.encode(mixedScriptSample, pair: "b", maxLength: 8)] {
        fuzzCheck(encoding.tokens.count == encoding.count && encoding.typeIds.count == encoding.count
                  && encoding.attentionMask.count == encoding.count && encoding.specialTokensMask.count == encoding.count,
                  "encoding arrays differ in length: \(encoding)")
        _ = tokenizer.decode(encoding.ids)
    }
    _ = tokenizer.decode([0, 1, 2, -1, Int(Int32.max)])
}
