import Foundation

/// Why a tokenizer could not be loaded or trained. Every case names the file (or folder) and the problem.
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The folder has none of the files a tokenizer can be built from.
    case missingFiles(folder: String, expected: [String])
    /// A file exists but could not be read.
    case unreadableFile(path: String, reason: String)
    /// A JSON file is not valid JSON, or a key is missing or has the wrong type.
    /// `key` is a path such as `model.vocab[12]`.
    case malformed(file: String, key: String, problem: String)
    /// A component type this library does not implement (for example a WordLevel model).
    case unsupported(file: String, key: String, type: String)
    /// libsentencepiece rejected a model file or failed to train one.
    case sentencePiece(file: String, message: String)
    /// Training was asked for with invalid arguments.
    case invalidTrainingInput(String)

    public var description: String {
        switch self {
        case let .missingFiles(folder, expected):
            "no tokenizer files in \(folder): expected one of \(expected.joined(separator: ", "))"
        case let .unreadableFile(path, reason):
            "cannot read \(path): \(reason)"
        case let .malformed(file, key, problem):
            key.isEmpty ? "\(file) is malformed: \(problem)" : "\(file) is malformed at \(key): \(problem)"
        case let .unsupported(file, key, type):
            "\(file): \(key) type \"\(type)\" is not supported"
        case let .sentencePiece(file, message):
            "sentencepiece failed on \(file): \(message)"
        case let .invalidTrainingInput(message):
            "cannot train a SentencePiece model: \(message)"
        }
    }
}

/// A JSON value together with the file it came from and its key path, so every accessor can throw
/// a `TokenizerError.malformed` that says exactly which key is wrong.
struct JSONNode {
    let value: JSONValue
    let file: String
    /// The path of the enclosing value, and this value's key or index in it; the full path is
    /// only built when an error needs it (vocabularies have hundreds of thousands of entries).
    private let parentPath: String
    private let location: Location

    private enum Location {
        case root
        case key(String)
        case index(Int)
    }

    /// The key path of this value, such as `model.vocab[12]`.
    var path: String {
        switch location {
        case .root: parentPath
        case .key(let key): parentPath.isEmpty ? key : "\(parentPath).\(key)"
        case .index(let index): "\(parentPath)[\(index)]"
        }
    }

    private init(value: JSONValue, file: String, parentPath: String, location: Location) {
        self.value = value
        self.file = file
        self.parentPath = parentPath
        self.location = location
    }

    /// Reads and parses a JSON file.
    static func load(_ url: URL) throws(TokenizerError) -> JSONNode {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw .unreadableFile(path: url.path, reason: error.localizedDescription)
        }
        do {
            return JSONNode(value: try JSONValue.parse(data), file: url.lastPathComponent, parentPath: "", location: .root)
        } catch {
            throw .malformed(file: url.lastPathComponent, key: "", problem: "invalid JSON at byte \(error.offset): \(error.problem)")
        }
    }

    func malformed(_ problem: String) -> TokenizerError {
        .malformed(file: file, key: path, problem: problem)
    }

    private func child(_ value: JSONValue, _ key: String) -> JSONNode {
        JSONNode(value: value, file: file, parentPath: path, location: .key(key))
    }

    /// The value under `key`; throws when it is absent.
    func field(_ key: String) throws(TokenizerError) -> JSONNode {
        guard case .object(let object) = value else { throw malformed("expected an object, found \(value.typeName)") }
        guard let found = object.last(where: { $0.key.utf8.elementsEqual(key.utf8) })?.value else {
            throw .malformed(file: file, key: child(.null, key).path, problem: "missing key")
        }
        return child(found, key)
    }

    /// The value under `key`, or nil when it is absent or null.
    func optionalField(_ key: String) throws(TokenizerError) -> JSONNode? {
        guard case .object(let object) = value else { throw malformed("expected an object, found \(value.typeName)") }
        guard let found = object.last(where: { $0.key.utf8.elementsEqual(key.utf8) })?.value else { return nil }
        if case .null = found { return nil }
        return child(found, key)
    }

    func string() throws(TokenizerError) -> String {
        guard case .string(let text) = value else { throw malformed("expected a string, found \(value.typeName)") }
        return text
    }

    func bool() throws(TokenizerError) -> Bool {
        guard case .bool(let flag) = value else { throw malformed("expected a boolean, found \(value.typeName)") }
        return flag
    }

    func double() throws(TokenizerError) -> Double {
        guard case .number(let number) = value else { throw malformed("expected a number, found \(value.typeName)") }
        return number
    }

    func int() throws(TokenizerError) -> Int {
        let number = try double()
        guard number.rounded() == number, abs(number) < 1e15 else { throw malformed("expected an integer, found \(number)") }
        return Int(number)
    }

    func array() throws(TokenizerError) -> [JSONNode] {
        guard case .array(let items) = value else { throw malformed("expected an array, found \(value.typeName)") }
        let base = path
        return items.enumerated().map { JSONNode(value: $1, file: file, parentPath: base, location: .index($0)) }
    }

    /// The object's members in file order.
    func members() throws(TokenizerError) -> [(key: String, node: JSONNode)] {
        guard case .object(let object) = value else { throw malformed("expected an object, found \(value.typeName)") }
        let base = path
        return object.map { ($0.key, JSONNode(value: $0.value, file: file, parentPath: base, location: .key($0.key))) }
    }

    /// The `type` string of a tokenizer component.
    func componentType() throws(TokenizerError) -> String {
        try field("type").string()
    }

    func optionalString(_ key: String) throws(TokenizerError) -> String? { try optionalField(key)?.string() }
    func optionalBool(_ key: String) throws(TokenizerError) -> Bool? { try optionalField(key)?.bool() }
    func optionalInt(_ key: String) throws(TokenizerError) -> Int? { try optionalField(key)?.int() }

    /// This component's `type` is not one this library implements.
    func unsupportedType(_ type: String) -> TokenizerError {
        .unsupported(file: file, key: child(.null, "type").path, type: type)
    }

    /// The value under `key` is malformed.
    func malformed(at key: String, _ problem: String) -> TokenizerError {
        .malformed(file: file, key: child(.null, key).path, problem: problem)
    }
}
