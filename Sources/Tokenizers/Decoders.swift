/// Turns token strings back into text (tokenizer.json's `decoder`).
protocol TokenDecoder: Sendable {
    func decode(_ tokens: [String]) -> String
}

/// `WordPiece`: joins tokens with spaces, gluing `##` continuations to the previous token, and
/// optionally removes the spaces BERT tokenization puts before punctuation and contractions.
struct WordPieceDecoder: TokenDecoder {
    var prefix = "##"
    var cleanup = true

    func decode(_ tokens: [String]) -> String {
        var text = ""
        for (index, token) in tokens.enumerated() {
            var piece = token
            if index != 0 {
                piece = token.hasBytePrefix(prefix) ? String(decoding: token.utf8.dropFirst(prefix.utf8.count), as: UTF8.self) : " " + token
            }
            text += cleanup ? Self.cleanUp(piece) : piece
        }
        return text
    }

    /// `tokenizers`' cleanup, applied to each token (with its leading space) separately.
    static func cleanUp(_ text: String) -> String {
        [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
         (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]
            .reduce(text) { $0.replacingBytes($1.0, with: $1.1) }
    }
}

/// `Metaspace`: turns `▁` back into spaces; the first token loses them unless the scheme is `never`.
struct MetaspaceDecoder: TokenDecoder {
    var replacement: Character = "▁"
    var prependScheme: PrependScheme = .always

    func decode(_ tokens: [String]) -> String {
        var text = ""
        let marker = String(replacement)
        for (index, token) in tokens.enumerated() {
            text += token.replacingBytes(marker, with: index == 0 && prependScheme != .never ? "" : " ")
        }
        return text
    }
}

/// transformers' `clean_up_tokenization`, applied to decoded text when the tokenizer config asks
/// for `clean_up_tokenization_spaces`.
func cleanUpTokenization(_ text: String) -> String {
    [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
     (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]
        .reduce(text) { $0.replacingBytes($1.0, with: $1.1) }
}
