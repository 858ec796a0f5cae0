import FinchLanguage
import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// Delivers SIGINT (Ctrl-C in a terminal while a command runs, `kill -INT`) to a handler on a thread of
/// its own instead of ending the process. Keep the object alive as long as the handler should run; when
/// it goes, SIGINT ends the process again. One may exist at a time.
///
/// The signal handler only writes a byte to a pipe (async-signal-safe); a thread reading the pipe calls
/// `handler`. A dispatch signal source does not work here: libdispatch on Linux reads signals through a
/// signalfd, which only sees a signal that every thread blocks, and OpenBLAS starts its threads (with
/// SIGINT unblocked) before any Swift code runs; with SIGINT ignored (`SIG_IGN`) the kernel drops it.
public final class InterruptSignal: @unchecked Sendable {
    private let reader: Thread

    public init(handler: @escaping @Sendable () -> Void) {
        precondition(interruptPipeWriteEnd < 0, "one InterruptSignal at a time")
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { fatalError("pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        interruptPipeWriteEnd = ends[1]
        let descriptor = ends[0]
        reader = Thread {
            var byte: UInt8 = 0
            while true {
                let count = read(descriptor, &byte, 1)
                if count == 1 {
                    handler()
                } else if count == 0 || errno != EINTR {
                    close(descriptor)
                    return
                }
            }
        }
        reader.name = "finch-sigint"
        reader.start()
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

    deinit {
        signal(SIGINT, SIG_DFL)
        let writeEnd = interruptPipeWriteEnd
        interruptPipeWriteEnd = -1
        close(writeEnd)  // the reader thread sees the end of the pipe, closes its end and returns
    }
}

/// The pipe the SIGINT handler writes to (-1 when no `InterruptSignal` exists).
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
