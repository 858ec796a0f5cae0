/// GPT-2's byte-level alphabet (`bytes_to_unicode`): every byte is spelled as one printable
/// character, so a BPE vocabulary covers any UTF-8 text without an unknown token. Printable
/// Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the other 68 bytes become
/// U+0100, U+0101, … in byte order (the space is `Ġ`, the newline `Ċ`).
enum ByteLevelAlphabet {
    /// The character (scalar value) that spells each byte.
    static let scalarOfByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// The byte each alphabet character stands for, indexed by scalar value (< 0x144); -1 elsewhere.
    static let byteOfScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalarOfByte.enumerated() { table[Int(scalar)] = Int16(byte) }
        return table
    }()

    /// The UTF-8 encoding of each byte's character (one or two bytes), packed little-endian.
    private static let utf8OfByte: [UInt16] = scalarOfByte.map { scalar in
        scalar < 0x80 ? UInt16(scalar) : UInt16(0xC0 | scalar >> 6) | UInt16(0x80 | scalar & 0x3F) << 8
    }

    /// Spells `bytes` in the alphabet.
    static func encode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            var count = 0
            for byte in bytes {
                let packed = utf8OfByte[Int(byte)]
                buffer[count] = UInt8(truncatingIfNeeded: packed)
                count += 1
                if packed > 0xFF {
                    buffer[count] = UInt8(truncatingIfNeeded: packed >> 8)
                    count += 1
                }
            }
            return count
        }
    }

    /// The bytes `token` spells, or nil when it has a character outside the alphabet.
    static func decode(_ token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            guard scalar.value < 0x144, case let byte = byteOfScalar[Int(scalar.value)], byte >= 0 else { return nil }
            bytes.append(UInt8(byte))
        }
        return bytes
    }

    /// Whether every character of `token` is in the alphabet.
    static func spells(_ token: String) -> Bool {
        token.unicodeScalars.allSatisfy { $0.value < 0x144 && byteOfScalar[Int($0.value)] >= 0 }
    }
}

/// `ByteLevel` pre-tokenizer: optionally puts a space before each piece that lacks one, splits it
/// with GPT-2's regex (`use_regex`), and spells every word's UTF-8 bytes in the byte-level alphabet.
/// (`trim_offsets` only moves offsets, which Finch does not report.)
struct ByteLevelPreTokenizer: PreTokenizer {
    var addPrefixSpace = false
    var useRegex = true

    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        var words: [PreToken] = []
        words.reserveCapacity(pieces.count)
        for piece in pieces {
            // Like NormalizedString::prepend, nothing is prepended to empty text.
            let text = addPrefixSpace && !piece.text.isEmpty && !piece.text.hasBytePrefix(" ") ? " " + piece.text : piece.text
            guard useRegex else {
                words.append(PreToken(text: ByteLevelAlphabet.encode(text.utf8), startsInput: piece.startsInput))
                continue
            }
            let scanned = ScannedText(text, marksAreLetters: false)
            for range in scanned.matches(of: .gpt2) {
                let bytes = scanned.utf8[scanned.byteRange(range)]
                words.append(PreToken(text: ByteLevelAlphabet.encode(bytes), startsInput: piece.startsInput && range.lowerBound == 0))
            }
        }
        return words
    }
}

/// `ByteLevel` decoder: turns each token's alphabet characters back into bytes (a token with any
/// other character, such as an added token with a space, keeps its own UTF-8) and reads the bytes
/// as UTF-8, invalid sequences becoming U+FFFD as in `String::from_utf8_lossy`.
struct ByteLevelDecoder: TokenDecoder {
    func decode(_ tokens: [String]) -> String {
        var bytes: [UInt8] = []
        for token in tokens {
            if let decoded = ByteLevelAlphabet.decode(token) {
                bytes += decoded
            } else {
                bytes += token.utf8
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
