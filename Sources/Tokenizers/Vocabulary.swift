/// Token strings to ids, keyed by their exact UTF-8 bytes.
///
/// Swift's `String` hashing and equality treat canonically equivalent strings ("é" and "e\u{301}")
/// as equal, but vocabularies list such spellings as different tokens, so a `[String: Int]` would
/// merge them. This open-addressing table compares bytes, and lets models hash a growing prefix
/// one byte at a time (`Vocabulary.hash(_:_:)`) instead of rehashing every candidate piece.
struct Vocabulary: Sendable {
    private var bytes: [UInt8] = []
    /// Entry `i` is `bytes[offsets[i]..<offsets[i + 1]]`.
    private var offsets: [Int] = [0]
    private var ids: [Int32] = []
    /// Entry index per slot, -1 when free.
    private var slots: [Int32]
    /// The byte length of the longest token.
    private(set) var longestTokenLength = 0

    /// The number of distinct tokens.
    var count: Int { ids.count }

    init(minimumCapacity: Int = 16) {
        var size = 16
        while size < minimumCapacity * 2 { size *= 2 }
        slots = [Int32](repeating: -1, count: size)
    }

    /// Builds a table from tokens in id order (a token listed twice keeps its last id).
    init(tokens: [String]) {
        self.init(minimumCapacity: tokens.count)
        for (id, token) in tokens.enumerated() { insert(token, id: id) }
    }

    /// The hash of the empty byte string; extend it with `hash(_:_:)`.
    static let emptyHash: UInt64 = 0xCBF2_9CE4_8422_2325

    /// FNV-1a: the hash of a byte string extended by one byte.
    @inline(__always)
    static func hash(_ hash: UInt64, _ byte: UInt8) -> UInt64 {
        (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    static func hash<Bytes: Sequence<UInt8>>(of bytes: Bytes) -> UInt64 {
        bytes.reduce(emptyHash, hash)
    }

    @inline(__always)
    private func slot(for hash: UInt64) -> Int {
        let mixed = (hash ^ (hash >> 29)) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: mixed >> 20) & (slots.count - 1)
    }

    /// Adds `token`, or gives it a new id when it is already present.
    mutating func insert(_ token: String, id: Int) {
        let tokenBytes = Array(token.utf8)
        let tokenHash = Vocabulary.hash(of: tokenBytes)
        var index = slot(for: tokenHash)
        while slots[index] >= 0 {
            let entry = Int(slots[index])
            if bytes[offsets[entry]..<offsets[entry + 1]].elementsEqual(tokenBytes) {
                ids[entry] = Int32(truncatingIfNeeded: id)
                return
            }
            index = (index + 1) & (slots.count - 1)
        }
        slots[index] = Int32(ids.count)
        bytes.append(contentsOf: tokenBytes)
        offsets.append(bytes.count)
        ids.append(Int32(truncatingIfNeeded: id))
        longestTokenLength = max(longestTokenLength, tokenBytes.count)
        if ids.count * 2 > slots.count { grow() }
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        for entry in 0..<ids.count {
            var index = slot(for: Vocabulary.hash(of: bytes[offsets[entry]..<offsets[entry + 1]]))
            while slots[index] >= 0 { index = (index + 1) & (slots.count - 1) }
            slots[index] = Int32(entry)
        }
    }

    /// The id of `token`, compared byte for byte.
    func id(of token: String) -> Int? {
        var token = token
        return token.withUTF8 { buffer in
            id(of: buffer, hash: Vocabulary.hash(of: buffer))
        }
    }

    /// The id of the bytes in `candidate`, whose hash the caller computed with `hash(_:_:)`.
    @inline(__always)
    func id(of candidate: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Int? {
        var index = slot(for: hash)
        while true {
            let entry = Int(slots[index])
            if entry < 0 { return nil }
            let start = offsets[entry]
            if offsets[entry + 1] - start == candidate.count {
                var equal = true
                for position in 0..<candidate.count where bytes[start + position] != candidate[position] {
                    equal = false
                    break
                }
                if equal { return Int(ids[entry]) }
            }
            index = (index + 1) & (slots.count - 1)
        }
    }
}

/// Whether a UTF-8 byte starts a character (is not a continuation byte).
@inline(__always)
func isCharacterStart(_ byte: UInt8) -> Bool { byte & 0xC0 != 0x80 }

extension String {
    /// Byte-wise prefix test (String.hasPrefix compares grapheme clusters: "##\u{301}" has no "##").
    func hasBytePrefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    /// Byte-wise equality (String == treats canonically equivalent strings as equal).
    func isByteEqual(_ other: String) -> Bool { utf8.elementsEqual(other.utf8) }

    /// Replaces every non-overlapping occurrence of `pattern`, left to right, comparing bytes.
    func replacingBytes(_ pattern: String, with replacement: String) -> String {
        let source = Array(utf8), target = Array(pattern.utf8)
        guard !target.isEmpty, source.count >= target.count else { return self }
        var result: [UInt8] = []
        result.reserveCapacity(source.count)
        var position = 0
        while position < source.count {
            if position + target.count <= source.count, source[position] == target[0],
               source[position..<position + target.count].elementsEqual(target) {
                result.append(contentsOf: replacement.utf8)
                position += target.count
            } else {
                result.append(source[position])
                position += 1
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}
