import Synchronization

/// A flag that another thread (a Ctrl-C handler, a Jupyter interrupt) sets to ask long work to stop;
/// the work checks it between steps and inside long loops and stops at a consistent point.
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func cancel() { flag.store(true, ordering: .releasing) }
    public func reset() { flag.store(false, ordering: .releasing) }
    public var isCancelled: Bool { flag.load(ordering: .acquiring) }
}
