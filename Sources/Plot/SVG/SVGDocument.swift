/// A standalone SVG 1.1 document built element by element. Coordinates are written with at most two
/// decimals and attributes in a fixed order, so the same chart always gives the same bytes. Styles are
/// scoped under the `finch-chart` class, so an SVG inlined into a notebook page styles only itself.
struct SVGDocument {
    enum Anchor: String { case start, middle, end }

    let width: Int
    let height: Int
    let title: String
    private var body: [String] = []
    private var depth = 1

    init(width: Int, height: Int, title: String) {
        self.width = max(1, width)
        self.height = max(1, height)
        self.title = title
    }

    mutating func open(_ cssClass: String) {
        append("<g class=\"\(cssClass)\">")
        depth += 1
    }

    mutating func close() {
        depth -= 1
        append("</g>")
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, class cssClass: String, stroke: String? = nil) {
        append("<line class=\"\(cssClass)\" x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\"\(paint("stroke", stroke))/>")
    }

    /// A rectangle; `tooltip` becomes a nested `<title>` that browsers show on hover.
    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, class cssClass: String,
                       fill: String? = nil, tooltip: String? = nil) {
        let head = "<rect class=\"\(cssClass)\" x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(max(0, w)))\" height=\"\(n(max(0, h)))\"\(paint("fill", fill))"
        if let tooltip { append(head + "><title>\(escapeXML(tooltip))</title></rect>") } else { append(head + "/>") }
    }

    mutating func circle(_ cx: Double, _ cy: Double, r: Double, class cssClass: String, fill: String? = nil) {
        append("<circle class=\"\(cssClass)\" cx=\"\(n(cx))\" cy=\"\(n(cy))\" r=\"\(n(r))\"\(paint("fill", fill))/>")
    }

    mutating func path(_ d: String, class cssClass: String, stroke: String? = nil, fill: String? = nil) {
        append("<path class=\"\(cssClass)\" d=\"\(d)\"\(paint("stroke", stroke))\(paint("fill", fill))/>")
    }

    /// Text at (x, y) (the baseline), optionally rotated by `rotate` degrees about that point. A `fill`
    /// goes in a style attribute, since the style sheet's text colour would override a presentation attribute.
    mutating func text(_ content: String, _ x: Double, _ y: Double, class cssClass: String,
                       anchor: Anchor = .start, rotate: Double? = nil, fill: String? = nil) {
        let turn = rotate.map { " transform=\"rotate(\(n($0)) \(n(x)) \(n(y)))\"" } ?? ""
        let anchorAttribute = anchor == .start ? "" : " text-anchor=\"\(anchor.rawValue)\""
        let ink = fill.map { " style=\"fill: \($0)\"" } ?? ""
        append("<text class=\"\(cssClass)\" x=\"\(n(x))\" y=\"\(n(y))\"\(anchorAttribute)\(turn)\(ink)>\(escapeXML(content))</text>")
    }

    /// The finished document.
    func rendered() -> String {
        var lines = [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" class=\"finch-chart\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\">",
            "  <title>\(escapeXML(title.isEmpty ? "Chart" : title))</title>",
            "  <style>",
        ]
        lines += SVGDocument.styleSheet.map { "    " + $0 }
        lines.append("  </style>")
        lines.append("  <rect class=\"background\" x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\"/>")
        lines += body
        lines.append("</svg>")
        return lines.joined(separator: "\n") + "\n"
    }

    private mutating func append(_ element: String) {
        body.append(String(repeating: "  ", count: depth) + element)
    }

    private func n(_ value: Double) -> String { NumberFormat.coordinate(value.isFinite ? value : 0) }

    private func paint(_ attribute: String, _ value: String?) -> String {
        value.map { " \(attribute)=\"\($0)\"" } ?? ""
    }

    private static let styleSheet = [
        ".finch-chart .background { fill: #ffffff; }",
        ".finch-chart text { font-family: system-ui, -apple-system, \"Segoe UI\", Roboto, \"Helvetica Neue\", Arial, \"Noto Sans\", \"Noto Sans Bengali\", \"Liberation Sans\", sans-serif; font-size: 11px; fill: #333333; }",
        ".finch-chart .title { font-size: 15px; font-weight: 600; fill: #111111; }",
        ".finch-chart .axis-label { font-size: 12px; fill: #444444; }",
        ".finch-chart .tick-label { fill: #555555; }",
        ".finch-chart .grid { stroke: #ebebeb; stroke-width: 1; }",
        ".finch-chart .axis { stroke: #888888; stroke-width: 1; }",
        ".finch-chart .series { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }",
        ".finch-chart .series-point { stroke: #ffffff; stroke-width: 1; }",
        ".finch-chart .annotation { stroke: #c0392b; stroke-width: 1.5; stroke-dasharray: 5 4; fill: none; }",
        ".finch-chart .annotation-point { fill: #c0392b; stroke: #ffffff; stroke-width: 1.5; }",
        ".finch-chart .annotation-label { fill: #c0392b; font-weight: 600; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; stroke-linejoin: round; }",
        ".finch-chart .marker { stroke: #555555; stroke-width: 1.2; stroke-dasharray: 4 3; }",
        ".finch-chart .marker-label { fill: #333333; font-size: 10px; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; stroke-linejoin: round; }",
        ".finch-chart .value-label { font-size: 10px; fill: #444444; }",
        ".finch-chart .cell { stroke: #ffffff; stroke-width: 1; }",
        ".finch-chart .cell-count { font-size: 12px; font-weight: 600; }",
        ".finch-chart .cell-share { font-size: 9px; }",
        ".finch-chart .note { font-size: 10px; font-style: italic; fill: #888888; }",
    ]
}

/// `text` with the five XML special characters escaped and characters XML 1.0 forbids replaced by U+FFFD.
func escapeXML(_ text: String) -> String {
    var result = ""
    result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&apos;"
        case "\t", "\n", "\r": result.unicodeScalars.append(scalar)
        default:
            let value = scalar.value
            let allowed = value >= 0x20 && value != 0xFFFE && value != 0xFFFF
            result.unicodeScalars.append(allowed ? scalar : "\u{FFFD}")
        }
    }
    return result
}

/// Rough rendered width of `text` in pixels at `fontSize`, for layout: proportional Latin widths,
/// 0 for combining marks, a full em for wide characters, 0.7 em for other scripts (Bengali and so on).
func estimatedWidth(_ text: String, fontSize: Double) -> Double {
    var ems = 0.0
    for scalar in text.unicodeScalars {
        let columns = TextWidth.of(scalar)
        if columns == 0 { continue }
        if columns == 2 { ems += 1; continue }
        guard scalar.isASCII else { ems += 0.7; continue }
        switch scalar {
        case "i", "l", "j", ".", ",", ":", ";", "'", "|", "!", "I": ems += 0.3
        case " ", "f", "t", "r", "(", ")", "[", "]", "-": ems += 0.36
        case "m", "w", "M", "W", "%", "@": ems += 0.85
        case "A"..."Z": ems += 0.68
        default: ems += 0.56
        }
    }
    return ems * fontSize
}

/// `text` cut with "…" so that its estimated width at `fontSize` stays within `pixels`.
func fitted(_ text: String, pixels: Double, fontSize: Double) -> String {
    guard estimatedWidth(text, fontSize: fontSize) > pixels else { return text }
    var result = ""
    for character in text {
        if estimatedWidth(result + String(character) + "…", fontSize: fontSize) > pixels { break }
        result.append(character)
    }
    return result + "…"
}
