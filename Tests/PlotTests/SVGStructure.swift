import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An SVG document read back with Foundation's XMLParser: every element in document order with its
/// attributes, and the text of the first `<title>`.
struct SVGStructure {
    struct Element {
        let name: String
        let attributes: [String: String]
        var classes: [String] { (attributes["class"] ?? "").split(separator: " ").map(String.init) }
    }

    let elements: [Element]
    let title: String

    /// Parses `svg`; nil (with the parser's error) when it is not well-formed XML.
    static func parse(_ svg: String) -> Result<SVGStructure, Error> {
        let collector = Collector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        guard parser.parse() else { return .failure(parser.parserError ?? CocoaError(.coderReadCorrupt)) }
        return .success(SVGStructure(elements: collector.elements, title: collector.title))
    }

    var root: Element? { elements.first }

    /// Elements named `name` that carry the class `cssClass`.
    func count(_ name: String, class cssClass: String) -> Int {
        elements.filter { $0.name == name && $0.classes.contains(cssClass) }.count
    }

    func all(_ name: String, class cssClass: String) -> [Element] {
        elements.filter { $0.name == name && $0.classes.contains(cssClass) }
    }

    private final class Collector: NSObject, XMLParserDelegate {
        var elements: [Element] = []
        var title = ""
        private var inFirstTitle = false
        private var seenTitle = false

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            elements.append(Element(name: name, attributes: attributes))
            if name == "title" && !seenTitle { inFirstTitle = true }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "title" && inFirstTitle { inFirstTitle = false; seenTitle = true }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if inFirstTitle { title += string }
        }
    }
}
