import FinchLanguage
import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// Delivers SIGINT (Ctrl-C in a terminal while a command runs, `kill -INT`) to a handler on a thread of
/// its own instead of ending the process. Keep the object alive as long as the handler should run; when
/// the last one goes, SIGINT ends the process again. Several may exist (the REPL, the kernel, tests):
/// each signal reaches every live handler.
///
/// The signal handler only writes a byte to a pipe (async-signal-safe); a thread reading the pipe calls
/// the handlers. A dispatch signal source does not work here: libdispatch on Linux reads signals through
/// a signalfd, which only sees a signal that every thread blocks, and OpenBLAS starts its threads (with
/// SIGINT unblocked) before any Swift code runs; with SIGINT ignored (`SIG_IGN`) the kernel drops it.
public final class InterruptSignal: @unchecked Sendable {
    private let id: Int

    public init(handler: @escaping @Sendable () -> Void) {
        id = SignalPipe.shared.add(handler)
    }

    deinit { SignalPipe.shared.remove(id) }
}

/// The one pipe and reader thread behind every `InterruptSignal`, and the handlers they registered.
private final class SignalPipe: @unchecked Sendable {
    static let shared = SignalPipe()
    private let lock = NSLock()
    private var handlers: [Int: @Sendable () -> Void] = [:]
    private var nextID = 0

    private init() {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { fatalError("pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        interruptPipeWriteEnd = ends[1]
        let descriptor = ends[0]
        let reader = Thread { [self] in
            var byte: UInt8 = 0
            while true {
                if read(descriptor, &byte, 1) == 1 {
                    for handler in lock.withLock({ Array(handlers.values) }) { handler() }
                } else if errno != EINTR {
                    return
                }
            }
        }
        reader.name = "finch-sigint"
        reader.start()
    }

    func add(_ handler: @escaping @Sendable () -> Void) -> Int {
        lock.withLock {
            if handlers.isEmpty { installHandler() }
            nextID += 1
            handlers[nextID] = handler
            return nextID
        }
    }

    func remove(_ id: Int) {
        lock.withLock {
            handlers[id] = nil
            if handlers.isEmpty { signal(SIGINT, SIG_DFL) }
        }
    }

    private func installHandler() {
        var action = sigaction()
        #if canImport(Glibc)
        action.__sigaction_handler.sa_handler = interruptSignalHandler
        #else
        action.__sigaction_u.__sa_handler = interruptSignalHandler
        #endif
        sigemptyset(&action.sa_mask)
        action.sa_flags = Int32(SA_RESTART)
        sigaction(SIGINT, &action, nil)
    }
}

/// The pipe the SIGINT handler writes to.
nonisolated(unsafe) private var interruptPipeWriteEnd: Int32 = -1

/// The SIGINT handler: one byte into the pipe, nothing else (it may run on any thread, at any moment).
private let interruptSignalHandler: @convention(c) (Int32) -> Void = { _ in
    let saved = errno
    var byte: UInt8 = 1
    _ = write(interruptPipeWriteEnd, &byte, 1)
    errno = saved
}

/// Whether a cell is running, and how to stop it from another thread (a signal handler's queue).
public final class RunningCell: @unchecked Sendable {
    private let lock = NSLock()
    private var interpreter: Interpreter?
    private var onInterrupt: (@Sendable () -> Void)?

    /// Runs `body` (which runs a cell of `interpreter`) marked as running; `onInterrupt` is called when
    /// `interrupt()` stops it.
    func run<T>(_ interpreter: Interpreter, onInterrupt: (@Sendable () -> Void)? = nil, _ body: () throws -> T) rethrows -> T {
        lock.withLock { (self.interpreter, self.onInterrupt) = (interpreter, onInterrupt) }
        defer { lock.withLock { (self.interpreter, self.onInterrupt) = (nil, nil) } }
        return try body()
    }

    init() {}

    /// Interrupts the running cell (it stops within a second); false when none runs.
    @discardableResult
    public func interrupt() -> Bool {
        lock.withLock {
            guard let interpreter else { return false }
            interpreter.interrupt()
            onInterrupt?()
            return true
        }
    }
}
