import Foundation

/// Incremental detokenization, as transformers' `TextStreamer`: every pushed token re-decodes all the tokens
/// generated so far and returns the text not returned yet (counted in Unicode scalars, as TextStreamer slices
/// Python strings). Unlike TextStreamer it does not wait for a space or a newline: text goes out as soon as it is
/// complete. Held back are
/// - a trailing run of U+FFFD, which is how a decoder shows a UTF-8 sequence cut between byte tokens
///   (a Bengali letter is 3 bytes, often 3 byte-fallback tokens);
/// - a tail that could still become a stop string, so a stop string is never shown.
/// When the text contains a stop string, the text before it is the end (`stop` says which) and later pushes
/// return nothing. `finish()` returns whatever was held back.
public struct TextStreamer {
    private let decode: ([Int]) -> String
    private let stops: StopStringMatcher
    /// The tokens pushed so far.
    public private(set) var tokens: [Int] = []
    /// All the text returned so far.
    public private(set) var text = ""
    /// The stop string that ended the text, if one did.
    public private(set) var stop: StopStringMatcher.Match?
    private var returnedScalars = 0

    /// `decode` turns token ids into text (the tokenizer's decode, special tokens skipped as the caller likes).
    public init(stopStrings: [String] = [], decode: @escaping ([Int]) -> String) {
        self.decode = decode
        stops = StopStringMatcher(stopStrings)
    }

    /// Adds a generated token and returns the new printable text (often empty).
    public mutating func push(_ token: Int) -> String {
        guard stop == nil else { return "" }
        tokens.append(token)
        return emit(final: false)
    }

    /// Returns the text held back (an incomplete character at the very end is returned as U+FFFD).
    public mutating func finish() -> String {
        guard stop == nil else { return "" }
        return emit(final: true)
    }

    private mutating func emit(final: Bool) -> String {
        var decoded = decode(tokens)
        if !final {
            while decoded.unicodeScalars.last == "\u{FFFD}" { decoded.unicodeScalars.removeLast() }
        }
        let visible: String
        if let match = stops.firstMatch(in: decoded) {
            stop = match
            visible = match.textBefore
        } else {
            visible = final ? decoded : stops.safePrefix(of: decoded)
        }
        let scalars = visible.unicodeScalars
        guard scalars.count > returnedScalars else { return "" }
        var new = String.UnicodeScalarView()
        new.append(contentsOf: scalars.dropFirst(returnedScalars))
        returnedScalars = scalars.count
        let piece = String(new)
        text += piece
        return piece
    }
}
