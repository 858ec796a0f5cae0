import FinchLanguage
import FuzzSupport

/// Checks one input as a whole cell and its first line as a single statement: lexer, parser, completeness
/// check and diagnostic rendering. Errors must point inside the input and render with the cell's name, and a
/// text must be complete exactly when it parses (the invariants of Tests/LanguageTests/ParserFuzzTests.swift).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLanguage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: fuzzBytes(data, size), as: UTF8.self)
    check(text)
    if let firstLine = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first, firstLine.count < text.count {
        check(String(firstLine))
    }
    return 0
}

private func check(_ text: String) {
    let source = SourceText(name: "cell[1]", text: text, lineOffset: 0)
    let lineLengths = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.map(\.count)
    func isInside(_ location: SourceLocation) -> Bool {
        location.line >= 1 && location.line <= lineLengths.count && location.column >= 1 && location.column <= lineLengths[location.line - 1] + 1
    }
    func isInside(_ range: SourceRange) -> Bool { isInside(range.start) && isInside(range.end) && range.start <= range.end }

    do {
        let tokens = try Lexer.tokenize(text)
        // A line break's token ends just past the break, one column further than any character of the line.
        for token in tokens where !(token.kind == .endOfLine ? isInside(token.range.start) : isInside(token.range)) {
            fuzzCheck(false, "token \(token) outside \(text.debugDescription)")
        }
    } catch {
        fuzzCheck(error.range.map(isInside) ?? true, "lexer error \(error) outside \(text.debugDescription)")
    }
    let parses: Bool
    do {
        let statements = try Parser.parse(source)
        for statement in statements { fuzzCheck(isInside(statement.range), "statement range \(statement.range) outside \(text.debugDescription)") }
        parses = true
    } catch {
        parses = false
        guard let range = error.range else { return fuzzCheck(false, "parser error \(error) without a place") }
        fuzzCheck(isInside(range), "parser error \(error) outside \(text.debugDescription)")
        let rendered = error.rendered(in: source)
        fuzzCheck(rendered.hasPrefix("cell[1]:\(range.start.line):\(range.start.column): error: "), "bad rendering \(rendered.debugDescription)")
        let shifted = error.rendered(in: SourceText(name: "notes.md", text: text, lineOffset: 40))
        fuzzCheck(shifted.hasPrefix("notes.md:\(range.start.line + 40):"), "line offset not applied: \(shifted.debugDescription)")
    }
    let completeness = InputCompleteness.check(text)
    fuzzCheck(parses == (completeness == .complete), "parses: \(parses) but completeness is \(completeness) for \(text.debugDescription)")
}

/// The entry point SwiftPM links in place of `main`: libFuzzer's loop over `fuzzLanguage`.
@_cdecl("FuzzLanguage_main")
public func fuzzLanguageMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzLanguage)
}
