import Foundation
import FinchPlot

/// Builds outputs from charts and tables: plain text (Unicode charts, aligned tables) plus SVG or HTML.
public enum Render {
    /// Width and height of text charts in the terminal.
    static let textSize = (width: 72, height: 16)

    public static func chart(_ chart: LineChart, json: JSONValue? = nil) -> Output {
        chartOutput(chart.text(width: textSize.width, height: textSize.height), chart.svg(), json)
    }

    public static func chart(_ chart: BarChart, json: JSONValue? = nil) -> Output {
        chartOutput(chart.text(width: textSize.width, height: textSize.height), chart.svg(), json)
    }

    public static func chart(_ chart: Heatmap, json: JSONValue? = nil) -> Output {
        chartOutput(chart.text(width: textSize.width, height: textSize.height), chart.svg(), json)
    }

    public static func chart(_ chart: Histogram, json: JSONValue? = nil) -> Output {
        chartOutput(chart.text(width: textSize.width, height: textSize.height), chart.svg(), json)
    }

    /// A chart as Unicode text, SVG, and HTML holding the SVG as an image (what notebook front ends show).
    private static func chartOutput(_ text: String, _ svg: String, _ json: JSONValue?) -> Output {
        Output(plain: text, html: HTML.image(svg: svg), svg: svg, json: json)
    }

    /// A table as aligned text and as HTML, with an optional line above it.
    public static func table(columns: [String], rows: [[String]], title: String? = nil, json: JSONValue? = nil) -> Output {
        let text = TextTable.render(columns: columns, rows: rows)
        return Output(plain: title.map { $0 + "\n" + text } ?? text,
                      html: HTML.table(columns: columns, rows: rows, caption: title), json: json,
                      table: OutputTable(columns: columns, rows: rows, title: title))
    }

    /// Name–value pairs: aligned text lines without a header, and a two-column HTML table.
    public static func properties(_ rows: [[String]], json: JSONValue? = nil) -> Output {
        let width = rows.map { $0[0].count }.max() ?? 0
        return Output(plain: rows.map { $0[0].padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0[1] }.joined(separator: "\n"),
                      html: "<table class=\"finch\"><tbody>" + rows.map { "<tr><th style=\"text-align:left\">\(HTML.escape($0[0]))</th><td>\(HTML.escape($0[1]))</td></tr>" }.joined() + "</tbody></table>",
                      json: json, table: OutputTable(columns: ["property", "value"], rows: rows))
    }

    /// Bytes as "43.1 MB" (decimal units, as PyTorch and pip print sizes).
    public static func bytes(_ count: Int) -> String {
        let value = Double(count)
        if value >= 1e9 { return String(format: "%.2f GB", value / 1e9) }
        if value >= 1e6 { return String(format: "%.1f MB", value / 1e6) }
        if value >= 1e3 { return String(format: "%.1f kB", value / 1e3) }
        return "\(count) B"
    }

    /// `0.8215` with `digits` decimals.
    public static func fixed(_ x: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", x) }

    /// 148226 → "148,226", as PEFT prints counts.
    public static func grouped(_ value: Int) -> String {
        let digits = Array(String(abs(value)))
        let body = digits.enumerated().map { index, digit in
            index > 0 && (digits.count - index) % 3 == 0 ? ",\(digit)" : String(digit)
        }.joined()
        return value < 0 ? "-" + body : body
    }

    /// Seconds as "42.1 s", "3 min 05 s", "1 h 02 min".
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let whole = Int(seconds.rounded())
        if whole < 3600 { return String(format: "%d min %02d s", whole / 60, whole % 60) }
        return String(format: "%d h %02d min", whole / 3600, (whole % 3600) / 60)
    }

    /// A learning rate or other small number: "2.00e-04".
    public static func scientific(_ x: Double) -> String { String(format: "%.2e", x) }
}

/// Sends a progress display at most four times a second, and always the last update.
final class ProgressDisplay {
    private let id: String
    private let invocation: Invocation
    private var lastSent: UInt64 = 0
    private var sentAny = false
    static let minimumInterval: UInt64 = 250_000_000
    nonisolated(unsafe) private static var counter = 0

    init(_ invocation: Invocation) {
        self.invocation = invocation
        ProgressDisplay.counter += 1
        id = "finch-progress-\(ProcessInfo.processInfo.processIdentifier)-\(ProgressDisplay.counter)"
    }

    /// Shows `output` unless the last update was under a quarter second ago; `render` is only called then.
    func update(finished: Bool = false, _ render: () -> Output) {
        let now = DispatchTime.now().uptimeNanoseconds
        guard finished || !sentAny || now - lastSent >= Self.minimumInterval else { return }
        lastSent = now
        sentAny = true
        invocation.emit(.progress(id: id, output: render(), finished: finished))
    }
}
