import Foundation

/// What a statement shows: plain text always, and where a notebook can do better, HTML, an SVG chart and
/// the JSON form (snake_case keys named like the options and metrics).
public struct Output: Sendable, Equatable {
    /// Plain text: what the REPL prints and `text/plain` in a notebook. Charts are drawn with Unicode blocks.
    public var plain: String
    public var html: String?
    public var svg: String?
    public var json: JSONValue?
    /// The rows of a tabular output, for front ends that write tables themselves (woven Markdown).
    public var table: OutputTable?
    /// For an output with a chart: its text without the Unicode chart (woven Markdown shows the SVG).
    public var caption: String?

    public init(plain: String, html: String? = nil, svg: String? = nil, json: JSONValue? = nil, table: OutputTable? = nil,
                caption: String? = nil) {
        self.plain = plain
        self.html = html
        self.svg = svg
        self.json = json
        self.table = table
        self.caption = caption
    }

    /// A value's output: its plain text and JSON.
    public init(_ value: Value) {
        self.init(plain: value.plainText, json: value.json)
    }
}

/// A table as data: a header row and rows of cells.
public struct OutputTable: Sendable, Equatable {
    public var columns: [String]
    public var rows: [[String]]
    public var title: String?
    public init(columns: [String], rows: [[String]], title: String? = nil) {
        self.columns = columns
        self.rows = rows
        self.title = title
    }
}

/// Events a running cell reports to its front end, in order.
public enum LanguageEvent: Sendable, Equatable {
    /// A statement's output, shown as it happens (the cell's last value is returned instead).
    case output(Output)
    /// Text from `print` (to standard output or standard error).
    case stream(toStandardError: Bool, text: String)
    /// Long work in progress: the display `id` shows `output`, replaced at each update; `finished` marks
    /// the last update. Updates come at most four times a second.
    case progress(id: String, output: Output, finished: Bool)
    /// Clear what the cell has shown so far (`clear`).
    case clear
    /// Help to show beside the notebook (the pager), from `command?`; a terminal prints it.
    case page(Output)
}

/// Small HTML helpers for rendered tables.
public enum HTML {
    /// An SVG chart as an `<img>` with a data: URI. Notebook front ends sanitize inline `<svg>` out of the
    /// HTML of untrusted notebooks (JupyterLab then shows only the chart's text labels); an image survives.
    public static func image(svg: String) -> String {
        "<img src=\"data:image/svg+xml;base64,\(Data(svg.utf8).base64EncodedString())\"/>"
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A table with a header row; cells are escaped. Numeric-looking cells are right-aligned, others left
    /// (notebook front ends differ: JupyterLab right-aligns every cell unless told); a header takes the
    /// alignment of its column's cells.
    public static func table(columns: [String], rows: [[String]], caption: String? = nil) -> String {
        func isNumeric(_ cell: String) -> Bool {
            Double(cell.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "%", with: "")) != nil
        }
        func aligned(_ tag: String, _ text: String, right: Bool) -> String {
            "<\(tag) style=\"text-align:\(right ? "right" : "left")\">\(escape(text))</\(tag)>"
        }
        let numericColumns = columns.indices.map { column in
            rows.contains { $0.indices.contains(column) && !$0[column].isEmpty }
                && rows.allSatisfy { !$0.indices.contains(column) || $0[column].isEmpty || isNumeric($0[column]) }
        }
        var out = "<table class=\"finch\">"
        if let caption { out += "<caption>\(escape(caption))</caption>" }
        out += "<thead><tr>" + columns.enumerated().map { aligned("th", $1, right: numericColumns[$0]) }.joined() + "</tr></thead><tbody>"
        for row in rows {
            out += "<tr>" + row.map { aligned("td", $0, right: isNumeric($0)) }.joined() + "</tr>"
        }
        return out + "</tbody></table>"
    }
}

/// Plain-text tables with aligned columns.
public enum TextTable {
    /// Columns padded to their widest cell (counted in Characters); numbers right-aligned.
    public static func render(columns: [String], rows: [[String]]) -> String {
        let all = [columns] + rows
        let widths = columns.indices.map { c in all.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: max(0, widths[c] - cell.count))
                let numeric = Double(cell.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "%", with: "")) != nil
                return numeric ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return ([line(columns)] + rows.map(line)).joined(separator: "\n")
    }
}
