import Foundation

/// The heartbeat: a REP socket on its own thread that echoes every message at once, whatever the
/// rest of the kernel is doing.
final class Heartbeat: @unchecked Sendable {
    private let socket: ZMQSocket
    private let log: KernelLog
    private let wakeup = Wakeup()
    private let lock = NSLock()
    private var stopping = false
    private var finished: DispatchSemaphore?

    init(socket: ZMQSocket, log: KernelLog) {
        self.socket = socket
        self.log = log
    }

    /// Starts echoing on the heartbeat thread.
    func start() {
        finished = startThread(named: "finch-heartbeat") { [self] in run() }
    }

    /// Stops the thread and closes the socket; waits at most `timeout` seconds.
    func stop(timeout: Double = 1) {
        lock.lock()
        stopping = true
        lock.unlock()
        wakeup.signal()
        _ = finished?.wait(timeout: .now() + timeout)
    }

    private func run() {
        while true {
            lock.lock()
            let done = stopping
            lock.unlock()
            if done { break }
            do {
                let ready = try ZMQSocket.poll([socket], fileDescriptors: [wakeup.fileDescriptor], timeoutMilliseconds: -1)
                if !ready.sockets.isEmpty { try socket.send(try socket.receive()) }
                if !ready.fileDescriptors.isEmpty { wakeup.drain() }
            } catch {
                log("heartbeat: \(error)")
                if error.isPermanent { break }
            }
        }
        socket.setLingerIgnoringErrors(0)
        socket.close()
    }
}

extension ZMQSocket {
    /// Sets the linger where failure does not matter (a socket about to close).
    func setLingerIgnoringErrors(_ milliseconds: Int32) {
        do { try setLinger(milliseconds: milliseconds) } catch {}
    }
}
