import Foundation

/// Runs a literate document's cells in one session and writes the document back with each cell's
/// output beneath it: text as a fenced block, tables as Markdown tables, charts as SVG files beside the
/// document, linked as images.
public struct Weaver {
    /// One woven document: its Markdown and the figures it links (file name → SVG).
    public struct Result: Sendable {
        public var markdown: String
        public var figures: [(name: String, svg: String)]
        /// The rendered error that stopped the run, if a cell failed (its output is woven too).
        public var failure: String?
    }

    public let interpreter: Interpreter
    public init(interpreter: Interpreter) { self.interpreter = interpreter }

    /// Runs every cell of `document` (named `name` in diagnostics); figures are named
    /// `<figurePrefix>-<cell>-<n>.svg` and linked as `<figureFolder>/<file>`.
    public func weave(_ document: LiterateDocument, name: String, figureFolder: String, figurePrefix: String) -> Result {
        var parts: [String] = []
        var figures: [(String, String)] = []
        var failure: String?
        var cellNumber = 0
        for part in document.parts {
            switch part {
            case .prose(let lines):
                parts.append(lines.joined(separator: "\n"))
            case let .cell(source, fenceLine, opening, closing):
                cellNumber += 1
                parts.append(opening + "\n" + source + "\n" + closing)
                guard failure == nil else { continue }
                let host = CollectingHost()
                let result = interpreter.run(SourceText(name: name, text: source, lineOffset: fenceLine), host: host)
                var blocks = host.blocks
                if let value = result.value { blocks.append(.output(value)) }
                if let failed = result.failure {
                    blocks.append(.text(failed.rendered))
                    failure = failed.rendered
                }
                var rendered: [String] = []
                var pendingText = ""
                func flushText() {
                    if !pendingText.isEmpty {
                        let text = pendingText.trimmingCharacters(in: .newlines)
                        let fence = LiterateDocument.fence(around: text)
                        rendered.append(fence + "text\n" + text + "\n" + fence)
                        pendingText = ""
                    }
                }
                for block in blocks {
                    switch block {
                    case .text(let text):
                        pendingText += text.hasSuffix("\n") ? text : text + "\n"
                    case .stream(let text):
                        pendingText += text
                    case .output(let output):
                        if let table = output.table {
                            flushText()
                            rendered.append(Self.markdownTable(table))
                        } else if let svg = output.svg {
                            if let caption = output.caption { pendingText += caption + "\n" }
                            flushText()
                            let file = "\(figurePrefix)-\(cellNumber)-\(figures.count + 1).svg"
                            figures.append((file, svg))
                            rendered.append("![\(file)](\(figureFolder)/\(file))")
                        } else if !output.plain.isEmpty {
                            pendingText += output.plain + "\n"
                        }
                    }
                }
                flushText()
                if !rendered.isEmpty {
                    parts[parts.count - 1] += "\n\n" + LiterateDocument.outputStart + "\n" + rendered.joined(separator: "\n\n")
                        + "\n" + LiterateDocument.outputEnd
                }
            }
        }
        return Result(markdown: parts.joined(separator: "\n"), figures: figures, failure: failure)
    }

    /// `| a | b |` with a separator row; pipes in cells are escaped, numbers right-aligned.
    static func markdownTable(_ table: OutputTable) -> String {
        func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        let numeric = table.columns.indices.map { c in
            !table.rows.isEmpty && table.rows.allSatisfy { c < $0.count && Double($0[c].replacingOccurrences(of: ",", with: "")) != nil }
        }
        var lines: [String] = []
        if let title = table.title { lines += ["**\(cell(title))**", ""] }
        lines.append("| " + table.columns.map { $0.isEmpty ? " " : cell($0) }.joined(separator: " | ") + " |")
        lines.append("|" + numeric.map { $0 ? "---:" : "---" }.joined(separator: "|") + "|")
        for row in table.rows { lines.append("| " + row.map(cell).joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n")
    }

    /// `text` with the numbers that change from run to run (durations, speeds, ETAs) replaced, for
    /// `weave --check`.
    public static func maskingTimes(_ text: String) -> String {
        let patterns = [
            #"\d+ h \d+ min"#, #"\d+ min \d+ s"#, #"\d+(\.\d+)? ?(ms|s)\b"#, #"[\d.]+ samples/s"#, #"[\d.]+ tokens/s"#,
            #"ETA [^·\n]*"#, #"\d{4}-\d\d-\d\dT[\d:.]+Z?"#,
        ]
        var masked = text
        for pattern in patterns {
            masked = masked.replacingOccurrences(of: pattern, with: "…", options: .regularExpression)
        }
        return masked
    }
}

/// Collects a cell's events in order as text and outputs (progress: only each display's last update).
private final class CollectingHost: LanguageHost {
    /// Streamed text is kept as written (`generate` streams a reply a token at a time, without newlines).
    enum Block { case text(String), stream(String), output(Output) }
    var blocks: [Block] = []
    private var progressIndex: [String: Int] = [:]

    func emit(_ event: LanguageEvent) {
        switch event {
        case .output(let output): blocks.append(.output(output))
        case .stream(_, let text):
            if case .stream(let previous) = blocks.last { blocks[blocks.count - 1] = .stream(previous + text) } else { blocks.append(.stream(text)) }
        case let .progress(id, output, _):
            let block = Block.text(output.plain)
            if let index = progressIndex[id] { blocks[index] = block } else {
                progressIndex[id] = blocks.count
                blocks.append(block)
            }
        case .clear: blocks.removeAll(); progressIndex.removeAll()
        case .page(let output): blocks.append(.text(output.plain))
        }
    }

    func readLine(prompt: String) throws -> String {
        throw Diagnostic("a woven document cannot answer questions", notes: ["pass the option that avoids the question"])
    }
}
