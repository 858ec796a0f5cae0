import Foundation

/// A Markdown document read as a literate Finch script: prose, other code blocks, and ```finch fenced
/// blocks (the cells), plus any output sections an earlier `finch weave` wrote (recognised by their
/// markers and dropped, so weaving is idempotent).
public struct LiterateDocument: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        /// Markdown lines, as written (other code blocks included).
        case prose([String])
        /// A finch block: its source, the 1-based line of its opening fence in the file, and its fence
        /// lines as written (``` or ~~~, any length), so the document is written back as it was.
        case cell(source: String, fenceLine: Int, opening: String = "```finch", closing: String = "```")
    }

    public var parts: [Part]

    /// The marker lines around woven output.
    static let outputStart = "<!-- finch output -->"
    static let outputEnd = "<!-- /finch output -->"

    public init(parts: [Part]) { self.parts = parts }

    /// Splits Markdown text into prose and finch cells. An unclosed finch fence is an error at its line.
    public init(markdown: String, name: String) throws(Diagnostic) {
        let lines = markdown.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.map(String.init)
        var parts: [Part] = []
        var prose: [String] = []
        var index = 0
        func flushProse() {
            if !prose.isEmpty { parts.append(.prose(prose)); prose = [] }
        }
        while index < lines.count {
            let line = lines[index]
            if line.trimmingCharacters(in: .whitespaces) == Self.outputStart {
                // Output of an earlier weave: skip to its end marker.
                guard let end = lines[index...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == Self.outputEnd }) else {
                    throw Diagnostic("woven output opened here is never closed with \(Self.outputEnd)",
                                     at: SourceRange(start: SourceLocation(line: index + 1, column: 1), end: SourceLocation(line: index + 1, column: line.count + 1)))
                }
                // The blank line the weaver put before the section goes with it.
                if prose.last == "" { prose.removeLast() }
                index = end + 1
                continue
            }
            if let fence = Self.fence(line) {
                let closing = lines[(index + 1)...].firstIndex { Self.closes($0, fence) }
                if fence.info == "finch" {
                    guard let closing else {
                        throw Diagnostic("the ```finch block opened here is never closed",
                                         at: SourceRange(start: SourceLocation(line: index + 1, column: 1), end: SourceLocation(line: index + 1, column: line.count + 1)))
                    }
                    flushProse()
                    parts.append(.cell(source: lines[(index + 1)..<closing].joined(separator: "\n"), fenceLine: index + 1,
                                       opening: line, closing: lines[closing]))
                    index = closing + 1
                    continue
                }
                // Another language's block: prose, copied through unread.
                let end = closing ?? lines.count - 1
                prose += lines[index...end]
                index = end + 1
                continue
            }
            prose.append(line)
            index += 1
        }
        flushProse()
        self.parts = parts
        _ = name
    }

    /// The cells as sources that diagnostics number with the Markdown file's own lines.
    public func cellSources(name: String) -> [SourceText] {
        parts.compactMap {
            if case let .cell(source, fenceLine, _, _) = $0 { SourceText(name: name, text: source, lineOffset: fenceLine) } else { nil }
        }
    }

    /// The document without woven output (what the author wrote).
    public var markdown: String {
        parts.map { part in
            switch part {
            case .prose(let lines): lines.joined(separator: "\n")
            case let .cell(source, _, opening, closing): opening + "\n" + source + "\n" + closing
            }
        }.joined(separator: "\n")
    }

    /// Backticks enough to fence `text`: one more than its longest run of backticks, at least three.
    static func fence(around text: String) -> String {
        var longest = 0, run = 0
        for c in text {
            run = c == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        return String(repeating: "`", count: max(3, longest + 1))
    }

    private struct Fence { let marker: Character; let length: Int; let info: String }

    /// An opening fence: three or more backticks or tildes, then an info string.
    private static func fence(_ line: String) -> Fence? {
        let trimmed = line.drop { $0 == " " }
        guard line.count - trimmed.count <= 3, let marker = trimmed.first, marker == "`" || marker == "~" else { return nil }
        let length = trimmed.prefix { $0 == marker }.count
        guard length >= 3 else { return nil }
        let info = trimmed.dropFirst(length).trimmingCharacters(in: .whitespaces)
        if marker == "`", info.contains("`") { return nil }
        return Fence(marker: marker, length: length, info: String(info.split(separator: " ").first ?? ""))
    }

    private static func closes(_ line: String, _ fence: Fence) -> Bool {
        guard line.prefix(while: { $0 == " " }).count <= 3 else { return false }
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return trimmed.count >= fence.length && trimmed.allSatisfy { $0 == fence.marker }
    }
}
