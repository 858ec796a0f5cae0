#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the kernel reports what it drops or cannot do (bad signatures, malformed messages,
/// unknown message types): standard error by default, a closure in tests. Never the notebook.
public struct KernelLog: Sendable {
    private let sink: @Sendable (String) -> Void

    /// A log that hands each line to `sink`.
    public init(_ sink: @escaping @Sendable (String) -> Void) { self.sink = sink }

    /// Lines go to standard error, prefixed with `[finch kernel]`.
    public static let standardError = KernelLog { line in
        let bytes = Array("[finch kernel] \(line)\n".utf8)
        bytes.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// Lines are dropped.
    public static let silent = KernelLog { _ in }

    /// Reports `line`.
    public func callAsFunction(_ line: String) { sink(line) }
}
