import Foundation

/// SentencePiece's `precompiled_charsmap`: a darts-clone double-array trie over UTF-8 inputs whose
/// values point into a pool of NUL-terminated replacement strings.
///
/// Layout: a little-endian UInt32 byte size of the trie, the trie's UInt32 units, then the pool.
struct PrecompiledCharsmap: Sendable {
    private let units: [UInt32]
    private let pool: [UInt8]

    enum ParseError: Error, CustomStringConvertible {
        case tooShort(Int)
        case badTrieSize(declared: Int, available: Int)

        var description: String {
            switch self {
            case .tooShort(let count): "charsmap has \(count) bytes, fewer than its 4-byte header"
            case let .badTrieSize(declared, available):
                "charsmap declares a \(declared)-byte trie but only \(available) bytes follow its header"
            }
        }
    }

    init(_ data: [UInt8]) throws(ParseError) {
        guard data.count >= 4 else { throw .tooShort(data.count) }
        let trieSize = Int(data[0]) | Int(data[1]) << 8 | Int(data[2]) << 16 | Int(data[3]) << 24
        guard trieSize % 4 == 0, trieSize <= data.count - 4 else {
            throw .badTrieSize(declared: trieSize, available: data.count - 4)
        }
        units = stride(from: 4, to: 4 + trieSize, by: 4).map { offset in
            UInt32(data[offset]) | UInt32(data[offset + 1]) << 8 | UInt32(data[offset + 2]) << 16 | UInt32(data[offset + 3]) << 24
        }
        pool = Array(data[(4 + trieSize)...])
    }

    private static func hasLeaf(_ unit: UInt32) -> Bool { (unit >> 8) & 1 == 1 }
    private static func value(_ unit: UInt32) -> Int { Int(unit & 0x7FFF_FFFF) }
    private static func label(_ unit: UInt32) -> UInt32 { unit & 0x8000_00FF }
    private static func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & 0x200) >> 6)) }

    /// The pool offset of the shortest key that is a prefix of `key`, walking the double array.
    func shortestPrefixMatch<Bytes: Collection<UInt8>>(of key: Bytes) -> Int? {
        guard let root = units.first else { return nil }
        var position = Self.offset(root)
        for byte in key {
            if byte == 0 { return nil }
            position ^= Int(byte)
            guard position < units.count else { return nil }
            let unit = units[position]
            if Self.label(unit) != UInt32(byte) { return nil }
            position ^= Self.offset(unit)
            if Self.hasLeaf(unit) {
                guard position < units.count else { return nil }
                return Self.value(units[position])
            }
        }
        return nil
    }

    /// The replacement for `chunk`: the pool string of the *shortest* key that is a prefix of it
    /// (the whole chunk is replaced even when that key is shorter), or nil when no key matches.
    func replacement<Bytes: Collection<UInt8>>(for chunk: Bytes) -> ArraySlice<UInt8>? {
        guard let start = shortestPrefixMatch(of: chunk), start <= pool.count else { return nil }
        let end = pool[start...].firstIndex(of: 0) ?? pool.count
        return pool[start..<end]
    }
}

/// The `Precompiled` normalizer, as `tokenizers` applies it: each grapheme cluster shorter than
/// six bytes is looked up whole; otherwise (or when that finds nothing) each character is.
struct PrecompiledNormalizer: Normalizer {
    let charsmap: PrecompiledCharsmap

    func normalize(_ text: String) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        var grapheme: [UInt8] = []
        for character in text {
            grapheme.removeAll(keepingCapacity: true)
            grapheme.append(contentsOf: character.utf8)
            if grapheme.count < 6, let replacement = charsmap.replacement(for: grapheme) {
                output.append(contentsOf: replacement)
                continue
            }
            var start = 0
            while start < grapheme.count {
                var end = start + 1
                while end < grapheme.count && !isCharacterStart(grapheme[end]) { end += 1 }
                let scalar = grapheme[start..<end]
                if let replacement = charsmap.replacement(for: scalar) {
                    output.append(contentsOf: replacement)
                } else {
                    output.append(contentsOf: scalar)
                }
                start = end
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
