/// A grid of terminal cells. Each cell holds one grapheme cluster; a wide cluster (East Asian, or a
/// Bengali consonant with a spacing vowel sign) fills as many cells as it has columns, the extra ones
/// left empty, so every row renders to exactly as many columns as the grid is wide.
struct TextGrid {
    let rows: Int
    let columns: Int
    private var cells: [[String]]

    init(rows: Int, columns: Int) {
        self.rows = max(0, rows)
        self.columns = max(0, columns)
        cells = Array(repeating: Array(repeating: " ", count: self.columns), count: self.rows)
    }

    subscript(row: Int, column: Int) -> String {
        get { contains(row, column) ? cells[row][column] : "" }
        set { if contains(row, column) { cells[row][column] = newValue } }
    }

    func isBlank(_ row: Int, _ column: Int) -> Bool { contains(row, column) && cells[row][column] == " " }

    /// Writes `text` from (row, column) rightwards, clipped at the right edge.
    mutating func write(_ text: String, row: Int, column: Int) {
        var at = column
        for character in text {
            let span = TextWidth.of(String(character))
            if span == 0 { continue }
            if at + span > columns { break }
            if at >= 0 {
                self[row, at] = String(character)
                for extra in 1..<max(1, span) { self[row, at + extra] = "" }
            }
            at += span
        }
    }

    /// One rendered row, trailing spaces kept (the caller trims whole lines).
    func line(_ row: Int) -> String { contains(row, 0) ? cells[row].joined() : "" }

    private func contains(_ row: Int, _ column: Int) -> Bool {
        row >= 0 && row < rows && column >= 0 && column < columns
    }
}

/// Braille dots, 2 across and 4 down per cell, for drawing lines at twice the column and four times
/// the row resolution of a terminal.
struct BrailleCanvas {
    let rows: Int
    let columns: Int
    private var masks: [UInt8]

    init(rows: Int, columns: Int) {
        self.rows = max(0, rows)
        self.columns = max(0, columns)
        masks = Array(repeating: 0, count: self.rows * self.columns)
    }

    /// Dot positions: x in 0..<2·columns, y in 0..<4·rows (0 at the top).
    var dotWidth: Int { columns * 2 }
    var dotHeight: Int { rows * 4 }

    mutating func set(_ x: Int, _ y: Int) {
        guard x >= 0, y >= 0, x < dotWidth, y < dotHeight else { return }
        let bits: [[UInt8]] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]]
        masks[(y / 4) * columns + x / 2] |= bits[x % 2][y % 4]
    }

    /// A straight run of dots from one point to another (Bresenham).
    mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) {
        var (x, y) = (x0, y0)
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var error = dx + dy
        while true {
            set(x, y)
            if x == x1 && y == y1 { return }
            let twice = 2 * error
            if twice >= dy { error += dy; x += sx }
            if twice <= dx { error += dx; y += sy }
        }
    }

    /// The braille character for a cell, or nil where no dot is set.
    func character(row: Int, column: Int) -> String? {
        let mask = masks[row * columns + column]
        guard mask != 0, let scalar = Unicode.Scalar(0x2800 + UInt32(mask)) else { return nil }
        return String(Character(scalar))
    }

    /// Copies every non-empty cell onto `grid`.
    func draw(onto grid: inout TextGrid) {
        for row in 0..<min(rows, grid.rows) {
            for column in 0..<min(columns, grid.columns) {
                if let glyph = character(row: row, column: column) { grid[row, column] = glyph }
            }
        }
    }
}

/// Lines joined into one block: trailing spaces trimmed, a final newline.
func joinedLines(_ lines: [String]) -> String {
    lines.map { line in
        var trimmed = Substring(line)
        while trimmed.last == " " { trimmed.removeLast() }
        return String(trimmed)
    }.joined(separator: "\n") + "\n"
}

/// `items` joined with " · " into lines of at most `width` columns, the first starting with `prefix`;
/// an item wider than a line is cut.
func wrapped(_ items: [String], width: Int, prefix: String = "") -> [String] {
    var lines: [String] = []
    var current = prefix
    for item in items {
        let candidate = current == prefix ? current + item : current + " · " + item
        if TextWidth.of(candidate) <= width || current == prefix {
            current = candidate
        } else {
            lines.append(current)
            current = item
        }
    }
    if current != prefix { lines.append(current) }
    return lines.map { TextWidth.truncate($0, to: width) }
}
