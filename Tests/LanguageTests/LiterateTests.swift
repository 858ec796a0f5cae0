import Foundation
import Testing
@testable import FinchLanguage
import TestSupport

@Suite struct LiterateTests {
    static let sample = """
        # A tutorial

        Some prose with a `finch` word and a Python block:

        ```python
        print("not finch")
        ```

        ```finch
        x = 6
        x * 7
        ```

        More prose.

        ```finch
        print "আমি খুব খুশি"
        ```

        """

    @Test func finchBlocksAreCellsNumberedWithTheFilesLines() throws {
        let document = try LiterateDocument(markdown: Self.sample, name: "t.md")
        let cells = document.cellSources(name: "t.md")
        #expect(cells.map(\.text) == ["x = 6\nx * 7", "print \"আমি খুব খুশি\""])
        #expect(cells.map(\.lineOffset) == [9, 16])
        #expect(document.markdown == Self.sample)
    }

    @Test func anErrorPointsAtTheMarkdownFilesLineAndColumn() throws {
        let markdown = "Intro.\n\n```finch\nx = 1\nlora r=0\n```\n"
        let cell = try #require(try LiterateDocument(markdown: markdown, name: "guide.md").cellSources(name: "guide.md").first)
        let failure = try #require(makeInterpreter().run(cell, host: RecordingHost()).failure)
        #expect(failure.rendered == "guide.md:5:8: error: 'r' is out of range: 0\nlora r=0\n       ^\nnote: expected an integer from 1 to 4096")
    }

    @Test func anUnclosedFinchFenceIsAnErrorAtItsLine() throws {
        #expect(throws: Diagnostic.self) { try LiterateDocument(markdown: "a\n```finch\nx = 1\n", name: "u.md") }
        do { _ = try LiterateDocument(markdown: "a\n```finch\nx = 1\n", name: "u.md") } catch {
            #expect(error.rendered(in: SourceText(name: "u.md", text: "a\n```finch\nx = 1\n")).hasPrefix("u.md:2:1: error: the ```finch block opened here is never closed"))
        }
    }

    @Test func weavingWritesOutputsAndWeavingAgainChangesNothing() throws {
        let document = try LiterateDocument(markdown: Self.sample, name: "t.md")
        let woven = Weaver(interpreter: makeInterpreter()).weave(document, name: "t.md", figureFolder: "t.figures", figurePrefix: "t")
        #expect(woven.failure == nil)
        #expect(woven.markdown.contains("```finch\nx = 6\nx * 7\n```\n\n<!-- finch output -->\n```text\n42\n```\n<!-- /finch output -->"))
        #expect(woven.markdown.contains("```text\nআমি খুব খুশি\n```"))
        let again = try LiterateDocument(markdown: woven.markdown, name: "t.md")
        #expect(again.markdown == Self.sample)
        let rewoven = Weaver(interpreter: makeInterpreter()).weave(again, name: "t.md", figureFolder: "t.figures", figurePrefix: "t")
        #expect(rewoven.markdown == woven.markdown)
    }

    @Test func chartsBecomeFiguresAndTablesMarkdownTables() throws {
        let document = try LiterateDocument(markdown: "```finch\nplot schedule kind=cosine steps=50 warmup=5\n```\n", name: "c.md")
        let woven = Weaver(interpreter: makeInterpreter()).weave(document, name: "c.md", figureFolder: "c.figures", figurePrefix: "c")
        #expect(woven.figures.count == 1)
        #expect(woven.figures.first?.svg.contains("<svg") == true)
        #expect(woven.markdown.contains("![c-1-1.svg](c.figures/c-1-1.svg)"))
        let table = OutputTable(columns: ["label", "rows"], rows: [["pos", "3"], ["a|b", "12"]], title: "balance")
        #expect(Weaver.markdownTable(table) == "**balance**\n\n| label | rows |\n|---|---:|\n| pos | 3 |\n| a\\|b | 12 |")
    }

    @Test func timesAndSpeedsAreMaskedForChecks() {
        #expect(Weaver.maskingTimes("trained 4 steps in 3.2 s · 12.5 samples/s · ETA 1 min 05 s") == "trained 4 steps in … · … · …")
        #expect(Weaver.maskingTimes("accuracy 0.8125") == "accuracy 0.8125")
    }

    @Test func markdownToNotebookAndBackGivesTheSameText() throws {
        let document = try LiterateDocument(markdown: Self.sample, name: "t.md")
        let cells = Notebook.cells(from: document)
        #expect(cells.map(\.kind) == [.markdown, .code, .markdown, .code])
        let json = Notebook.json(from: cells)
        let back = try Notebook.cells(fromJSON: Data(json.utf8), name: "t.ipynb")
        #expect(back == cells)
        #expect(Notebook.markdown(from: back) + "\n" == Self.sample)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let kernelspec = (object["metadata"] as? [String: Any])?["kernelspec"] as? [String: Any]
        #expect(kernelspec?["name"] as? String == "finch")
        #expect(object["nbformat"] as? Int == 4)
    }

    @Test func theProjectsNotebooksAndTutorialsRoundTrip() throws {
        let fm = FileManager.default
        for folder in ["notebooks", "tutorials"] {
            let url = TestPaths.repository.appendingPathComponent(folder)
            for name in (try? fm.contentsOfDirectory(atPath: url.path)) ?? [] {
                let file = url.appendingPathComponent(name)
                if name.hasSuffix(".ipynb") {
                    let cells = try Notebook.cells(fromJSON: Data(contentsOf: file), name: name)
                    let joined = Notebook.markdown(from: cells)
                    let markdown = joined.hasSuffix("\n") ? joined : joined + "\n"  // as `finch convert` writes it
                    let again = Notebook.cells(from: try LiterateDocument(markdown: markdown, name: name))
                    #expect(again == cells, "\(name): notebook → Markdown → notebook")
                } else if name.hasSuffix(".md"), name != "README.md" {
                    let text = try String(contentsOf: file, encoding: .utf8)
                    let source = try LiterateDocument(markdown: text, name: name).markdown
                    let cells = Notebook.cells(from: try LiterateDocument(markdown: source, name: name))
                    let back = Notebook.markdown(from: try Notebook.cells(fromJSON: Data(Notebook.json(from: cells).utf8), name: name))
                    #expect(back == source || back + "\n" == source, "\(name): Markdown → notebook → Markdown")
                }
            }
        }
    }
}
