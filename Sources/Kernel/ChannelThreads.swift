import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts `body` on a new thread called `name` with a stack of `stackSize` bytes; the semaphore is
/// signalled when `body` returns.
func startThread(named name: String, stackSize: Int = 8 << 20, _ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let finished = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        finished.signal()
    }
    thread.name = name
    thread.stackSize = stackSize
    thread.start()
    return finished
}

/// A pipe that wakes a thread blocked in `ZMQSocket.poll`: any thread calls `signal()`, and the
/// poller watches `fileDescriptor` next to its sockets, then calls `drain()`.
final class Wakeup: @unchecked Sendable {
    /// The read end, to watch with `ZMQSocket.poll(_:fileDescriptors:timeoutMilliseconds:)`.
    let fileDescriptor: Int32
    private let writeDescriptor: Int32

    init() {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { fatalError("pipe() failed: errno \(errno)") }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        fileDescriptor = ends[0]
        writeDescriptor = ends[1]
    }

    deinit {
        close(fileDescriptor)
        close(writeDescriptor)
    }

    /// Makes `fileDescriptor` readable (safe from any thread; a full pipe is already readable).
    func signal() {
        var byte: UInt8 = 1
        while write(writeDescriptor, &byte, 1) < 0 && errno == EINTR {}
    }

    /// Reads everything signalled so far, so that the descriptor stops being readable.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 { continue }
            if count < 0 && errno == EINTR { continue }
            return
        }
    }
}
