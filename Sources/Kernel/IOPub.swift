import Foundation

/// The iopub channel: the single owner of the XPUB socket that broadcasts outputs and status.
///
/// Any thread may `publish`; messages are signed on the calling thread, queued, and sent in order by
/// the channel's own thread, which also answers each new subscription with an `iopub_welcome`
/// (protocol 5.5: a front end then knows its subscription is live).
final class IOPubChannel: @unchecked Sendable {
    private let socket: ZMQSocket
    private let codec: MessageCodec
    private let log: KernelLog
    private let wakeup = Wakeup()
    private let lock = NSLock()
    private var queue: [[[UInt8]]] = []
    private var stopping = false
    private var finished: DispatchSemaphore?

    /// A channel publishing on `socket` (an XPUB, or a PUB, which hears no subscriptions).
    init(socket: ZMQSocket, codec: MessageCodec, log: KernelLog) throws(ZMQError) {
        self.socket = socket
        self.codec = codec
        self.log = log
        if socket.type == .xpub { try socket.setXPubVerbose(true) }
    }

    /// Starts the channel's thread.
    func start() {
        finished = startThread(named: "finch-iopub") { [self] in run() }
    }

    /// Queues a message of type `msgType` for all subscribers; `parentHeader` is the raw header of the
    /// request that caused it (nil for none).
    func publish(_ msgType: String, content: JSON, parentHeader: [UInt8]?, metadata: JSON = [:]) {
        let topic = Array("kernel.\(codec.session).\(msgType)".utf8)
        let frames = codec.encode(msgType, content: content, parentHeader: parentHeader, metadata: metadata, identities: [topic])
        lock.lock()
        let accepted = !stopping
        if accepted { queue.append(frames) }
        lock.unlock()
        if accepted { wakeup.signal() }
    }

    /// Publishes a `status` message (`busy` or `idle`) for the request with header `parentHeader`.
    func publishStatus(_ state: String, parentHeader: [UInt8]?) {
        publish("status", content: ["execution_state": .string(state)], parentHeader: parentHeader)
    }

    /// Sends what is queued, stops the thread and closes the socket (its linger delivers the last
    /// messages); waits at most `timeout` seconds for that.
    func stop(timeout: Double = 2) {
        lock.lock()
        stopping = true
        lock.unlock()
        wakeup.signal()
        _ = finished?.wait(timeout: .now() + timeout)
    }

    private func run() {
        while true {
            do {
                let ready = try ZMQSocket.poll([socket], fileDescriptors: [wakeup.fileDescriptor], timeoutMilliseconds: -1)
                if !ready.sockets.isEmpty { welcomeSubscribers(try socket.receive()) }
                if !ready.fileDescriptors.isEmpty { wakeup.drain() }
            } catch {
                log("iopub: \(error)")
                if error.isPermanent { return }
            }
            lock.lock()
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            let done = stopping
            lock.unlock()
            for frames in batch {
                do {
                    try socket.send(frames)
                } catch {
                    log("iopub: cannot publish a message: \(error)")
                }
            }
            if done { break }
        }
        socket.close()
    }

    /// Answers each subscription frame (`\u{1}` + topic) with an `iopub_welcome` sent under that topic.
    private func welcomeSubscribers(_ frames: [[UInt8]]) {
        for frame in frames where frame.first == 1 {
            let topic = Array(frame.dropFirst())
            let content: JSON = ["subscription": .string(String(decoding: topic, as: UTF8.self))]
            let message = codec.encode("iopub_welcome", content: content, parentHeader: nil, identities: topic.isEmpty ? [] : [topic])
            do {
                try socket.send(message)
            } catch {
                log("iopub: cannot send iopub_welcome: \(error)")
            }
        }
    }
}
