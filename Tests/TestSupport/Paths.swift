import Foundation

/// Where tests find the things they compare against: the repository, ../shared, the models that
/// `../shared/models/get-models.sh` prepared, and the reference outputs that `Tests/Reference/*.py`
/// computed with transformers (see scripts/setup).
public enum TestPaths {
    /// The repository root (two folders above this file's folder).
    public static let repository: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared` beside the repository.
    public static let shared: URL = repository.deletingLastPathComponent().appendingPathComponent("shared")

    /// `../shared/data`.
    public static let data: URL = shared.appendingPathComponent("data")

    /// `$FINCH_MODELS`, else `~/.cache/finch/models` (get-models.sh's default).
    public static let models: URL = {
        if let path = ProcessInfo.processInfo.environment["FINCH_MODELS"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return FileManager.default.homeDirectoryForCurrentUser
            .appendingPathComponent(".cache/finch/models")
    }()

    /// `$FINCH_REFERENCE`, else `.reference` in the repository (written by scripts/setup).
    public static let reference: URL = {
        if let path = ProcessInfo.processInfo.environment["FINCH_REFERENCE"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return repository.appendingPathComponent(".reference")
    }()

    /// A model folder by name; throws a message saying how to prepare it when it is missing.
    public static func model(_ name: String) throws -> URL {
        let url = models.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent(".complete").path) else {
            throw MissingFixture("model \(name) is not in \(models.path); run `bash scripts/setup` (or ../shared/models/get-models.sh)")
        }
        return url
    }

    /// A reference output by relative path; throws a message saying how to produce it when it is missing.
    public static func referenceFile(_ relativePath: String) throws -> URL {
        let url = reference.appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MissingFixture("reference output \(url.path) is missing; run `bash scripts/setup` to compute it with transformers")
        }
        return url
    }
}

/// A fixture the tests need is not there. Tests fail (never skip) with this message.
public struct MissingFixture: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
