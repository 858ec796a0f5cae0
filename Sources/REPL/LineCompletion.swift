/// Completion candidates for the line being edited: `matches` replace the line's Unicode scalars
/// `start..<end` (what the language's `complete(code, cursor:)` answers, in line coordinates).
public struct LineCompletion: Sendable, Equatable {
    public var matches: [String]
    public var start: Int
    public var end: Int

    public init(matches: [String], start: Int, end: Int) {
        self.matches = matches
        self.start = start
        self.end = end
    }
}

/// What pressing TAB does to a line: replace `start..<end` (Unicode scalars) with `insertion`, and, when
/// several candidates remain, list them below the line.
public struct CompletionEdit: Sendable, Equatable {
    public var start: Int
    public var end: Int
    public var insertion: String
    /// The candidates to show below the line (empty when one match was inserted).
    public var listing: [String]

    /// The edit for `completion` on `line` with the cursor at `cursor`, or nil when nothing matches.
    ///
    /// A single match is inserted whole, followed by a space when it ends a word outside a string (not after
    /// `key=`, a folder's `/` or inside quotes). Several matches insert their longest common prefix (when it
    /// is longer than what was typed) and are listed.
    public static func plan(line: String, cursor: Int, completion: LineCompletion) -> CompletionEdit? {
        let scalars = Array(line.unicodeScalars)
        let start = max(0, min(completion.start, scalars.count))
        let end = max(start, min(completion.end, scalars.count))
        let typed = String(String.UnicodeScalarView(scalars[start..<end]))
        let matches = completion.matches
        guard let first = matches.first else { return nil }
        if matches.count == 1 {
            let insideString = scalars[..<start].filter { $0 == "\"" }.count % 2 == 1
            let endsWord = first.unicodeScalars.last.map { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" } ?? false
            let nextIsSpace = end < scalars.count && scalars[end] == " "
            let suffix = endsWord && !insideString && !nextIsSpace ? " " : ""
            return CompletionEdit(start: start, end: end, insertion: first + suffix, listing: [])
        }
        let prefix = commonPrefix(matches)
        let insertion = prefix.unicodeScalars.count > typed.unicodeScalars.count && prefix.hasPrefix(typed) ? prefix : typed
        return CompletionEdit(start: start, end: end, insertion: insertion, listing: matches)
    }

    /// The longest run of Unicode scalars every string starts with.
    static func commonPrefix(_ strings: [String]) -> String {
        guard var prefix = strings.first.map({ Array($0.unicodeScalars) }) else { return "" }
        for string in strings.dropFirst() {
            let scalars = Array(string.unicodeScalars)
            var count = 0
            while count < min(prefix.count, scalars.count), prefix[count] == scalars[count] { count += 1 }
            prefix.removeLast(prefix.count - count)
        }
        return String(String.UnicodeScalarView(prefix))
    }

    /// `items` in columns across `width` characters, filled down then across like `ls` (one item a
    /// line when the widest does not fit twice). Lines end without trailing spaces; no final newline.
    public static func columns(_ items: [String], width: Int) -> String {
        guard !items.isEmpty else { return "" }
        let cell = (items.map(\.count).max() ?? 0) + 2
        let perLine = max(1, min(items.count, (max(width, 1) + 2) / cell))
        let lines = (items.count + perLine - 1) / perLine
        var out: [String] = []
        for line in 0..<lines {
            var text = ""
            for column in 0..<perLine {
                let index = column * lines + line
                guard index < items.count else { break }
                let item = items[index]
                let isLast = column == perLine - 1 || (column + 1) * lines + line >= items.count
                text += isLast ? item : item + String(repeating: " ", count: cell - item.count)
            }
            out.append(text)
        }
        return out.joined(separator: "\n")
    }
}
