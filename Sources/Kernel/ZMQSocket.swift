import CZeroMQ
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libzmq call: what was attempted, on which endpoint, and libzmq's own explanation.
public struct ZMQError: Error, CustomStringConvertible {
    /// The operation that failed, such as `bind`, `connect`, `send` or `poll`.
    public let operation: String
    /// The endpoint involved, when there is one.
    public let endpoint: String?
    /// The `errno` value libzmq reported.
    public let code: Int32

    /// libzmq's text for `code` (`zmq_strerror`).
    public var message: String { String(cString: zmq_strerror(code)) }

    /// Whether the socket is closed or its context terminated (`ENOTSOCK`, `ETERM`): retrying cannot help.
    public var isPermanent: Bool { code == ENOTSOCK || code == ZMQ_HAUSNUMERO + 53 }

    public var description: String {
        let target = endpoint.map { " \($0)" } ?? ""
        return "zmq \(operation)\(target) failed: \(message) (errno \(code))"
    }

    init(_ operation: String, endpoint: String? = nil, code: Int32 = zmq_errno()) {
        self.operation = operation
        self.endpoint = endpoint
        self.code = code
    }
}

/// A libzmq context. Contexts are thread-safe; each socket keeps its context alive, and the
/// context's deinit waits for its sockets' lingering messages (see `ZMQSocket.defaultLinger`).
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var isTerminated = false

    /// A new context with libzmq's default I/O threads.
    public init() throws(ZMQError) {
        guard let handle = zmq_ctx_new() else { throw ZMQError("ctx_new") }
        self.handle = handle
    }

    deinit { terminate() }

    /// Terminates the context now (idempotent): waits until every socket of the context is closed and
    /// has delivered its lingering messages. Call it before a process exits so that its last replies
    /// leave; it blocks as long as some socket stays open.
    public func terminate() {
        lock.lock()
        defer { lock.unlock() }
        guard !isTerminated else { return }
        isTerminated = true
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}

/// The kinds of libzmq socket the kernel and its tests use.
public enum ZMQSocketType: Sendable {
    case router, dealer, pub, sub, xpub, rep, req

    var rawValue: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .xpub: ZMQ_XPUB
        case .rep: ZMQ_REP
        case .req: ZMQ_REQ
        }
    }
}

/// A libzmq socket sending and receiving multipart messages as arrays of byte frames.
///
/// Like libzmq sockets, a `ZMQSocket` must be used by one thread at a time. It closes on deinit,
/// which in optimized builds may come right after its last use: messages it sent are still delivered
/// for up to its linger time.
public final class ZMQSocket {
    /// The linger a new socket starts with, in milliseconds: closing a socket leaves its unsent
    /// messages this long to reach their peers (libzmq's own default, -1, would let a context wait
    /// forever for a peer that is gone).
    public static let defaultLinger: Int32 = 1_000

    /// The socket's type.
    public let type: ZMQSocketType
    private let context: ZMQContext
    private var handle: UnsafeMutableRawPointer?

    /// A new socket of `type` in `context`.
    public init(_ context: ZMQContext, type: ZMQSocketType) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.rawValue) else { throw ZMQError("socket") }
        self.context = context
        self.type = type
        self.handle = handle
        try setLinger(milliseconds: Self.defaultLinger)
    }

    deinit { close() }

    /// Closes the socket now (idempotent); later calls on it fail with `ENOTSOCK`.
    public func close() {
        if let handle { zmq_close(handle) }
        handle = nil
    }

    /// Binds to `endpoint`, such as `tcp://127.0.0.1:5555` or `tcp://127.0.0.1:*` for an ephemeral port.
    public func bind(_ endpoint: String) throws(ZMQError) {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError("bind", endpoint: endpoint) }
    }

    /// Connects to `endpoint`.
    public func connect(_ endpoint: String) throws(ZMQError) {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError("connect", endpoint: endpoint) }
    }

    /// The endpoint last bound or connected, with the actual port after binding to `*`.
    public func lastEndpoint() throws(ZMQError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else {
            throw ZMQError("getsockopt(ZMQ_LAST_ENDPOINT)")
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// How long closing the socket waits to deliver unsent messages: 0 drops them, -1 waits forever.
    public func setLinger(milliseconds: Int32) throws(ZMQError) {
        try setOption(ZMQ_LINGER, milliseconds, name: "ZMQ_LINGER")
    }

    /// The identity a ROUTER peer sees for this socket; set before connecting.
    public func setRoutingID(_ id: [UInt8]) throws(ZMQError) {
        try setOption(ZMQ_ROUTING_ID, bytes: id, name: "ZMQ_ROUTING_ID")
    }

    /// Subscribes a SUB socket to messages whose first frame starts with `prefix` (empty: all).
    public func subscribe(_ prefix: [UInt8] = []) throws(ZMQError) {
        try setOption(ZMQ_SUBSCRIBE, bytes: prefix, name: "ZMQ_SUBSCRIBE")
    }

    /// Whether an XPUB socket passes every subscription message on, repeated topics included (by
    /// default it passes only the first subscription to each topic).
    public func setXPubVerbose(_ verbose: Bool) throws(ZMQError) {
        try setOption(ZMQ_XPUB_VERBOSE, verbose ? 1 : 0, name: "ZMQ_XPUB_VERBOSE")
    }

    /// Whether a ROUTER socket hands an identity over to a new peer that connects with it (a client
    /// that reconnects), instead of ignoring the newcomer while the old connection lingers.
    public func setRouterHandover(_ handover: Bool) throws(ZMQError) {
        try setOption(ZMQ_ROUTER_HANDOVER, handover ? 1 : 0, name: "ZMQ_ROUTER_HANDOVER")
    }

    /// Sends `frames` as one multipart message, blocking while the socket cannot accept it.
    public func send(_ frames: [[UInt8]]) throws(ZMQError) {
        precondition(!frames.isEmpty, "a ZeroMQ message has at least one frame")
        for (index, frame) in frames.enumerated() {
            let flags = index == frames.count - 1 ? 0 : ZMQ_SNDMORE
            while true {
                let sent = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
                if sent >= 0 { break }
                let code = zmq_errno()
                if code != EINTR { throw ZMQError("send", code: code) }
            }
        }
    }

    /// Receives one multipart message, blocking until it arrives (use `poll` to wait with a timeout).
    public func receive() throws(ZMQError) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        repeat {
            while zmq_msg_recv(&message, handle, 0) < 0 {
                let code = zmq_errno()
                if code != EINTR { throw ZMQError("receive", code: code) }
            }
            let size = zmq_msg_size(&message)
            if size == 0 {
                frames.append([])
            } else {
                let data = UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: size)
                frames.append(Array(data))
            }
        } while zmq_msg_more(&message) == 1
        return frames
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) until some of `sockets` have a message to
    /// receive, and returns their indices in `sockets` (empty on timeout or when a signal interrupts).
    public static func poll(_ sockets: [ZMQSocket], timeoutMilliseconds: Int) throws(ZMQError) -> [Int] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let ready = zmq_poll(&items, Int32(items.count), timeoutMilliseconds)
        if ready < 0 {
            let code = zmq_errno()
            if code == EINTR { return [] }
            throw ZMQError("poll", code: code)
        }
        return items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
    }

    /// Waits like `poll(_:timeoutMilliseconds:)`, watching `fileDescriptors` for reading too (such as
    /// the read end of a pipe another thread writes to wake the poller). Returns the indices of the
    /// ready sockets in `sockets` and of the ready descriptors in `fileDescriptors`.
    public static func poll(
        _ sockets: [ZMQSocket], fileDescriptors: [Int32], timeoutMilliseconds: Int
    ) throws(ZMQError) -> (sockets: [Int], fileDescriptors: [Int]) {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        items += fileDescriptors.map { zmq_pollitem_t(socket: nil, fd: $0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let ready = zmq_poll(&items, Int32(items.count), timeoutMilliseconds)
        if ready < 0 {
            let code = zmq_errno()
            if code == EINTR { return ([], []) }
            throw ZMQError("poll", code: code)
        }
        let isReady = { (index: Int) in items[index].revents & Int16(ZMQ_POLLIN) != 0 }
        return (sockets.indices.filter(isReady), fileDescriptors.indices.filter { isReady(sockets.count + $0) })
    }

    private func setOption(_ option: Int32, _ value: Int32, name: String) throws(ZMQError) {
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) == 0 else {
            throw ZMQError("setsockopt(\(name))")
        }
    }

    private func setOption(_ option: Int32, bytes: [UInt8], name: String) throws(ZMQError) {
        let result = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard result == 0 else { throw ZMQError("setsockopt(\(name))") }
    }
}
