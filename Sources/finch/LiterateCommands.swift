import ArgumentParser
import Foundation
import FinchCheckpoint
import FinchLanguage

/// `finch weave`: run a Markdown tutorial's finch blocks and write their output beneath them.
struct Weave: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the ```finch blocks of a Markdown file and write the document back with each block's output.",
        discussion: """
        Text goes in a fenced block under the cell, tables become Markdown tables, charts SVG files in
        NAME.figures/ beside the output, linked as images. Output woven earlier is replaced, so weaving is
        repeatable. Relative paths in the cells resolve against the document's folder. With --check, nothing
        is written: the run's output is compared with the document's woven output, times and speeds aside,
        and any difference fails.
        """)

    @Argument(help: "The Markdown file.") var file: String
    @Option(name: .shortAndLong, help: "Where to write the woven document (default: the file itself).") var output: String?
    @Flag(help: "Compare a fresh run with the woven output in the file instead of writing.") var check = false

    func run() throws {
        lineBufferStandardOutput()
        let url = URL(fileURLWithPath: file)
        let text = try readText(url)
        let document: LiterateDocument
        do { document = try LiterateDocument(markdown: text, name: file) } catch {
            throw failure(error.rendered(in: SourceText(name: file, text: text)))
        }
        let destination = output.map { URL(fileURLWithPath: $0) } ?? url
        let stem = destination.deletingPathExtension().lastPathComponent
        let interpreter = Interpreter(workingDirectory: url.deletingLastPathComponent())
        let woven = Weaver(interpreter: interpreter).weave(document, name: file, figureFolder: "\(stem).figures", figurePrefix: stem)
        if check {
            // Line endings aside (a CRLF file compares as its LF form).
            let expected = Weaver.maskingTimes(text.replacingOccurrences(of: "\r\n", with: "\n"))
            let actual = Weaver.maskingTimes(woven.markdown)
            if expected != actual {
                let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
                let b = actual.split(separator: "\n", omittingEmptySubsequences: false)
                let line = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
                var message = "\(file):\(line + 1): the woven output differs from a fresh run\n"
                message += "  file: \(line < a.count ? String(a[line]) : "(end of file)")\n  run:  \(line < b.count ? String(b[line]) : "(end of output)")"
                throw failure(message)
            }
            let folder = destination.deletingLastPathComponent().appendingPathComponent("\(stem).figures")
            for (name, svg) in woven.figures {
                guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else {
                    throw failure("\(file): figure \(stem).figures/\(name) is missing; weave the file again")
                }
                if String(decoding: data, as: UTF8.self) != svg {
                    throw failure("\(file): figure \(stem).figures/\(name) differs from a fresh run")
                }
            }
            print("\(file): woven output is current (\(document.cellSources(name: file).count) cells)")
            return
        }
        let folder = destination.deletingLastPathComponent().appendingPathComponent("\(stem).figures")
        if !woven.figures.isEmpty { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        for (name, svg) in woven.figures { try AtomicFile.write(Data(svg.utf8), to: folder.appendingPathComponent(name)) }
        // Figures of an earlier weave that this one no longer links.
        let current = Set(woven.figures.map(\.name))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        where name.hasPrefix("\(stem)-") && name.hasSuffix(".svg") && !current.contains(name) {
            try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
        try AtomicFile.write(Data(woven.markdown.utf8), to: destination)
        print("wove \(document.cellSources(name: file).count) cells into \(destination.path)" + (woven.figures.isEmpty ? "" : " (\(woven.figures.count) figures in \(stem).figures/)"))
        if let stopped = woven.failure { throw failure(stopped) }
    }
}

/// `finch convert`: literate Markdown ↔ Jupyter notebook.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a literate Markdown file to a Jupyter notebook (Finch kernel) or back.",
        discussion: "Prose ↔ Markdown cells, ```finch blocks ↔ code cells. Woven output and notebook outputs are left out: the sources round-trip unchanged.")

    enum Format: String, ExpressibleByArgument { case ipynb, md }

    @Argument(help: "A .md or .ipynb file.") var file: String
    @Option(help: "ipynb or md.") var to: Format
    @Option(name: .shortAndLong, help: "Output file (default: the input with the new extension).") var output: String?

    func run() throws {
        let url = URL(fileURLWithPath: file)
        let destination = output.map { URL(fileURLWithPath: $0) } ?? url.deletingPathExtension().appendingPathExtension(to.rawValue)
        let text: String
        switch (url.pathExtension, to) {
        case ("ipynb", .md):
            let cells = try Notebook.cells(fromJSON: Data(contentsOf: url), name: file)
            let markdown = Notebook.markdown(from: cells)
            text = markdown.hasSuffix("\n") ? markdown : markdown + "\n"
        case (_, .ipynb) where url.pathExtension != "ipynb":
            let markdown = try readText(url)
            let document: LiterateDocument
            do { document = try LiterateDocument(markdown: markdown, name: file) } catch {
                throw failure(error.rendered(in: SourceText(name: file, text: markdown)))
            }
            text = Notebook.json(from: Notebook.cells(from: document))
        default:
            throw ValidationError("\(file) is already \(to.rawValue)")
        }
        try AtomicFile.write(Data(text.utf8), to: destination)
        print("wrote \(destination.path)")
    }
}

private func readText(_ url: URL) throws -> String {
    guard let data = FileManager.default.contents(atPath: url.path) else { throw failure("\(url.path): no such file") }
    guard let text = String(data: data, encoding: .utf8) else { throw failure("\(url.path): not UTF-8 text") }
    return text
}

/// An error printed as is (already `FILE:LINE:COL: error: …` or a full sentence), exit status 1.
private func failure(_ message: String) -> Error {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    return ExitCode(1)
}
