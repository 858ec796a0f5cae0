import Foundation

/// Conversion between literate Markdown and Jupyter notebooks (nbformat 4.5, the Finch kernelspec):
/// prose ↔ Markdown cells, ```finch blocks ↔ code cells. Notebook → Markdown → notebook gives back the
/// same cell sources; Markdown in the form this writes (one blank line around each fence, ``` fences)
/// comes back unchanged from Markdown → notebook → Markdown (woven output aside).
public enum Notebook {
    public enum CellKind: String, Sendable { case markdown, code }

    /// A notebook cell: its kind and source.
    public struct Cell: Sendable, Equatable {
        public var kind: CellKind
        public var source: String
        public init(_ kind: CellKind, _ source: String) {
            self.kind = kind
            self.source = source
        }
    }

    /// The cells of a literate document. Prose loses the one blank line on each side that separates it
    /// from a fence (`markdown(from:)` puts it back); prose left empty (the file's final newline) is no cell.
    public static func cells(from document: LiterateDocument) -> [Cell] {
        document.parts.enumerated().compactMap { index, part in
            switch part {
            case .cell(let source, _, _, _): return Cell(.code, source)
            case .prose(var lines):
                if index > 0, lines.first == "" { lines.removeFirst() }
                if index < document.parts.count - 1, lines.last == "" { lines.removeLast() }
                return lines.isEmpty ? nil : Cell(.markdown, lines.joined(separator: "\n"))
            }
        }
    }

    /// Markdown from cells: code cells as ```finch blocks, cells separated by one blank line.
    public static func markdown(from cells: [Cell]) -> String {
        cells.map { $0.kind == .code ? fenced($0.source) : $0.source }.joined(separator: "\n\n")
    }

    /// The notebook's JSON (outputs empty, execution counts null), with Finch's kernelspec.
    public static func json(from cells: [Cell]) -> String {
        let cellValues: [JSONValue] = cells.enumerated().map { index, cell in
            var pairs: [(String, JSONValue)] = [("cell_type", .string(cell.kind.rawValue)), ("id", .string(String(format: "cell-%03d", index + 1))),
                                                ("metadata", .object([])), ("source", sourceLines(cell.source))]
            if cell.kind == .code { pairs.insert(contentsOf: [("execution_count", .null), ("outputs", .array([]))], at: 1) }
            return .object(pairs)
        }
        let metadata: JSONValue = .object([
            ("kernelspec", .object([("display_name", "Finch"), ("language", "finch"), ("name", "finch")])),
            ("language_info", .object([("file_extension", ".finch"), ("mimetype", "text/x-finch"), ("name", "finch")])),
        ])
        return pretty(.object([("cells", .array(cellValues)), ("metadata", metadata), ("nbformat", 4), ("nbformat_minor", 5)])) + "\n"
    }

    /// The cells of a notebook's JSON; raw cells are kept as Markdown.
    public static func cells(fromJSON data: Data, name: String) throws -> [Cell] {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let cells = root["cells"] as? [[String: Any]] else {
            throw Diagnostic("\(name) is not a Jupyter notebook (no \"cells\" list)")
        }
        return try cells.enumerated().map { index, cell in
            let source: String
            if let lines = cell["source"] as? [String] { source = lines.joined() } else if let text = cell["source"] as? String { source = text } else {
                throw Diagnostic("\(name): cell \(index + 1) has no source")
            }
            return Cell(cell["cell_type"] as? String == "code" ? .code : .markdown, source)
        }
    }

    /// A finch block whose fence is longer than any run of backticks in the source, so it closes where it should.
    static func fenced(_ source: String) -> String {
        let fence = LiterateDocument.fence(around: source)
        return fence + "finch\n" + source + "\n" + fence
    }

    /// nbformat's multi-line string: lines with their newlines.
    private static func sourceLines(_ text: String) -> JSONValue {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) + "\n" }
        if let last = lines.last { lines[lines.count - 1] = String(last.dropLast()) }
        if lines.last == "" { lines.removeLast() }
        return .array(lines.map { .string($0) })
    }

    /// JSON with one-space indentation, as Jupyter writes notebooks.
    static func pretty(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + " "
        switch value {
        case .array(let items) where !items.isEmpty:
            return "[\n" + items.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let pairs) where !pairs.isEmpty:
            return "{\n" + pairs.map { inner + JSONValue.string($0.0).text + ": " + pretty($0.1, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "}"
        default:
            return value.text
        }
    }
}
