import Foundation

/// A checkpoint file that cannot be read as asked: which file, and what is wrong with it.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file (or folder) concerned.
    public let path: String
    /// What is wrong, in words a user can act on.
    public let problem: String

    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public init(_ url: URL, _ problem: String) {
        self.init(url.path, problem)
    }

    public var description: String { "\(path): \(problem)" }
}
