import Foundation

/// Completion candidates for the text before a cursor: commands, the keys of the command being written,
/// enum values after `key=`, variables, and file paths inside strings. Positions count Unicode scalars.
public struct Completions: Sendable, Equatable {
    public var matches: [String]
    /// The replaced range of the code, in Unicode scalars.
    public var start: Int
    public var end: Int
}

extension Interpreter {
    public func complete(_ code: String, cursor: Int) -> Completions {
        let scalars = Array(code.unicodeScalars)
        let cursor = max(0, min(cursor, scalars.count))
        let lineStart = scalars[..<cursor].lastIndex(of: "\n").map { $0 + 1 } ?? 0
        let line = String(String.UnicodeScalarView(scalars[lineStart..<cursor]))
        // Inside a string: complete a path.
        if let quote = openQuoteOffset(in: line) {
            let partial = String(line.unicodeScalars.dropFirst(quote + 1))
            return Completions(matches: pathMatches(partial), start: lineStart + quote + 1, end: cursor)
        }
        let wordStart = line.unicodeScalars.lastIndex { !Self.isWordScalar($0) }.map { line.unicodeScalars.distance(from: line.unicodeScalars.startIndex, to: $0) + 1 } ?? 0
        let partial = String(line.unicodeScalars.dropFirst(wordStart))
        let before = String(line.unicodeScalars.prefix(wordStart))
        let start = lineStart + wordStart
        let words = before.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        var candidates: [String]
        if before.hasSuffix("="), let key = words.last?.dropLast().split(separator: " ").last.map(String.init) {
            // key=▮ : the values the key takes.
            let spec = CommandTable.longestMatch(words)
            let kind = spec?.options.first { $0.name == key }?.kind
            candidates = values(of: kind) + variables.keys.sorted()
        } else if words.isEmpty || before.trimmingCharacters(in: .whitespaces).isEmpty {
            candidates = Array(CommandTable.firstWords).sorted() + variables.keys.sorted()
        } else if words.count == 1, CommandTable.commands(startingWith: words[0]).contains(where: { $0.words.count > 1 }) {
            // `data lo▮`, `train ▮`: subcommands, then the one-word command's keys when there is one.
            let family = CommandTable.commands(startingWith: words[0])
            candidates = family.compactMap { $0.words.count > 1 ? $0.words[1] : nil }
            if let single = family.first(where: { $0.words.count == 1 }) { candidates += single.options.map { $0.name + "=" } }
        } else if let spec = CommandTable.longestMatch(words) {
            let used = Set(words.compactMap { $0.split(separator: "=").first.map(String.init) })
            candidates = spec.options.map(\.name).filter { !used.contains($0) }.map { $0 + "=" }
            if let positional = spec.positionals.first, case .choice(let words) = positional.kind { candidates = words + candidates }
            candidates += variables.keys.sorted()
        } else {
            candidates = variables.keys.sorted()
        }
        let matches = Array(NSOrderedSet(array: candidates.filter { $0.hasPrefix(partial) })) as? [String] ?? []
        return Completions(matches: matches, start: start, end: cursor)
    }

    /// Help for the word at the cursor: a command's help, an option's line, or a variable's value.
    public func inspect(_ code: String, cursor: Int) -> Output? {
        let scalars = Array(code.unicodeScalars)
        let cursor = max(0, min(cursor, scalars.count))
        let lineStart = scalars[..<cursor].lastIndex(of: "\n").map { $0 + 1 } ?? 0
        let lineEnd = scalars[cursor...].firstIndex(of: "\n") ?? scalars.count
        var wordStart = cursor, wordEnd = cursor
        while wordStart > lineStart, Self.isWordScalar(scalars[wordStart - 1]) { wordStart -= 1 }
        while wordEnd < lineEnd, Self.isWordScalar(scalars[wordEnd]) { wordEnd += 1 }
        let word = String(String.UnicodeScalarView(scalars[wordStart..<wordEnd]))
        let lineWords = String(String.UnicodeScalarView(scalars[lineStart..<lineEnd])).split(separator: " ").map(String.init)
        guard !word.isEmpty else { return nil }
        if let spec = CommandTable.longestMatch(lineWords) {
            if spec.words.contains(word) { return Help.output(for: spec) }
            if let option = (spec.options + spec.positionals).first(where: { $0.name == word }) {
                let text = "\(spec.name) \(option.name)=…: \(option.help)\n\(option.kind.description)" + (option.defaultText.map { " (default \($0))" } ?? "")
                return Output(plain: text)
            }
        }
        if let value = variables[word] { return Output(plain: "\(word) = \(value.sourceText)", json: value.json) }
        if let spec = CommandTable.longestMatch([word]) ?? CommandTable.commands(startingWith: word).first { return Help.output(for: spec) }
        return nil
    }

    /// Whether `code` is ready to run (what a prompt or `is_complete_request` needs).
    public func isComplete(_ code: String) -> InputCompleteness { InputCompleteness.check(code) }

    private static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "_" || s == "-" || s == "."
    }

    /// The offset (in scalars) of an unclosed `"` on the line, if the cursor is inside a string.
    private func openQuoteOffset(in line: String) -> Int? {
        var open: Int?
        var escaped = false
        for (i, s) in line.unicodeScalars.enumerated() {
            if escaped { escaped = false; continue }
            if s == "\\" { escaped = true; continue }
            if s == "\"" { open = open == nil ? i : nil }
            if s == "#", open == nil { return nil }
        }
        return open
    }

    /// Files and folders starting with `partial` (folders end in "/"), relative to the working folder.
    private func pathMatches(_ partial: String) -> [String] {
        let expanded = (partial as NSString).expandingTildeInPath
        let slash = expanded.lastIndex(of: "/")
        let folderText = slash.map { String(expanded[...$0]) } ?? ""
        let namePrefix = slash.map { String(expanded[expanded.index(after: $0)...]) } ?? expanded
        let folder = folderText.isEmpty ? workingDirectory : resolve(path: folderText)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        let shownFolder = partial.lastIndex(of: "/").map { String(partial[...$0]) } ?? ""
        return names.filter { $0.hasPrefix(namePrefix) && (!$0.hasPrefix(".") || namePrefix.hasPrefix(".")) }.sorted().map { name in
            var isFolder: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path, isDirectory: &isFolder)
            return shownFolder + name + (isFolder.boolValue ? "/" : "")
        }
    }

    private func values(of kind: ValueKind?) -> [String] {
        switch kind {
        case .choice(let words)?: words
        case .bool?: ["true", "false"]
        case .list(let element)?: values(of: element)
        default: []
        }
    }
}
