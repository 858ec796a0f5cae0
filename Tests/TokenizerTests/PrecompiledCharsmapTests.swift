import Testing
@testable import FinchTokenizers

/// The precompiled charsmap parser and normalizer on a hand-built double-array trie.
@Suite("Precompiled charsmap")
struct PrecompiledCharsmapTests {
    /// Lays out a darts-clone double array for `entries` (key bytes → pool offset), the format
    /// SentencePiece stores: a unit's offset in bits 10+, bit 8 when a value hangs below it, its
    /// label in bits 0-7; value units have bit 31 set.
    static func doubleArray(_ entries: [(key: [UInt8], value: UInt32)]) -> [UInt32] {
        final class Node {
            var children: [UInt8: Node] = [:]
            var value: UInt32?
        }
        let root = Node()
        for (key, value) in entries {
            var node = root
            for byte in key {
                if node.children[byte] == nil { node.children[byte] = Node() }
                node = node.children[byte]!
            }
            node.value = value
        }
        var units = [UInt32](repeating: 0, count: 4096)
        var used: Set<Int> = [0]
        func place(_ node: Node, at position: Int) {
            var offset = 1
            while (node.value != nil && used.contains(position ^ offset))
                    || node.children.keys.contains(where: { used.contains(position ^ offset ^ Int($0)) }) {
                offset += 1
            }
            let base = position ^ offset
            units[position] |= UInt32(offset) << 10
            if let value = node.value {
                units[position] |= 1 << 8
                units[base] = 0x8000_0000 | value
                used.insert(base)
            }
            for byte in node.children.keys {
                used.insert(base ^ Int(byte))
                units[base ^ Int(byte)] = UInt32(byte)
            }
            for (byte, child) in node.children.sorted(by: { $0.key < $1.key }) { place(child, at: base ^ Int(byte)) }
        }
        place(root, at: 0)
        return units
    }

    /// A charsmap blob: rules `key → replacement`.
    static func charsmap(_ rules: [(String, String)]) -> [UInt8] {
        var pool: [UInt8] = []
        var entries: [(key: [UInt8], value: UInt32)] = []
        for (key, replacement) in rules {
            entries.append((Array(key.utf8), UInt32(pool.count)))
            pool += Array(replacement.utf8) + [0]
        }
        let units = doubleArray(entries)
        var blob = withUnsafeBytes(of: UInt32(units.count * 4).littleEndian, Array.init)
        for unit in units { blob += withUnsafeBytes(of: unit.littleEndian, Array.init) }
        return blob + pool
    }

    static let rules = [("a", "b"), ("e", "E"), ("e\u{301}", "\u{E9}"), ("\u{212B}", "\u{C5}"), ("\u{FB01}", "fi"), ("x", "")]

    @Test("looks up the shortest matching key")
    func lookup() throws {
        let charsmap = try PrecompiledCharsmap(Self.charsmap(Self.rules))
        #expect(charsmap.replacement(for: Array("a".utf8)).map(Array.init) == Array("b".utf8))
        #expect(charsmap.replacement(for: Array("\u{FB01}".utf8)).map(Array.init) == Array("fi".utf8))
        #expect(charsmap.replacement(for: Array("e\u{301}".utf8)).map(Array.init) == Array("E".utf8))
        #expect(charsmap.replacement(for: Array("z".utf8)) == nil)
        #expect(charsmap.replacement(for: Array("x".utf8)).map(Array.init) == [])
    }

    @Test("normalizes by grapheme cluster under six bytes, else by character")
    func normalize() throws {
        let normalizer = PrecompiledNormalizer(charsmap: try PrecompiledCharsmap(Self.charsmap(Self.rules)))
        #expect(normalizer.normalize("xaax") == "bb")
        #expect(normalizer.normalize("\u{212B}ngstr\u{F6}m \u{FB01}n") == "\u{C5}ngstr\u{F6}m fin")
        // A short cluster is replaced whole by its shortest matching key: the accent goes.
        #expect(normalizer.normalize("the\u{301}").unicodeScalars.elementsEqual("thE".unicodeScalars))
        // A cluster of six bytes or more is mapped character by character.
        #expect(normalizer.normalize("e\u{301}\u{301}\u{301}").unicodeScalars.elementsEqual("E\u{301}\u{301}\u{301}".unicodeScalars))
        #expect(normalizer.normalize("") == "")
    }

    @Test("rejects blobs too short or with a trie larger than the blob")
    func malformed() {
        #expect(throws: PrecompiledCharsmap.ParseError.self) { try PrecompiledCharsmap([1, 0]) }
        #expect(throws: PrecompiledCharsmap.ParseError.self) { try PrecompiledCharsmap([0xFF, 0, 0, 0, 1, 2, 3, 4]) }
        #expect(throws: PrecompiledCharsmap.ParseError.self) { try PrecompiledCharsmap([6, 0, 0, 0, 1, 2, 3, 4, 5, 6]) }
    }
}
