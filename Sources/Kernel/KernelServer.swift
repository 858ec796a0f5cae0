import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a kernel was asked to stop.
public struct ShutdownRequest: Sendable, Equatable {
    /// Whether the front end will start a new kernel in its place (`shutdown_request`'s `restart`).
    public var restart: Bool

    public init(restart: Bool) { self.restart = restart }
}

/// The endpoints a kernel's sockets are bound to, with the actual ports.
public struct KernelEndpoints: Sendable, Equatable {
    public var shell: String
    public var iopub: String
    public var stdin: String
    public var control: String
    public var heartbeat: String
}

/// A Jupyter kernel (messaging protocol 5.4) serving a `KernelInterpreter` over ZeroMQ.
///
/// Each channel has its own thread and is the only user of its socket: shell (requests and cell
/// execution, with stdin for `input_request`), control (`kernel_info`, `interrupt`, `shutdown`, so
/// they work while a cell runs), iopub (see `IOPubChannel`) and the heartbeat. Messages with a bad
/// signature, malformed parts or unknown types are logged and dropped; nothing a client sends
/// stops the kernel except `shutdown_request`.
///
/// ```swift
/// let server = try KernelServer(connectionFile: url, interpreter: interpreter)
/// let request = server.run()       // blocks until a shutdown_request
/// ```
public final class KernelServer: @unchecked Sendable {
    /// Settings beyond the connection.
    public struct Options: Sendable {
        /// The cell history (and where it persists).
        public var history: KernelHistory
        /// After a cell fails with `stop_on_error`, execute requests that arrive within this many
        /// seconds (besides those already queued) are aborted too, as ipykernel's
        /// `stop_on_error_timeout` does.
        public var stopOnErrorWindow: Double
        /// How long `run` waits, after a shutdown request, for a running cell to stop.
        public var shutdownGrace: Double
        /// Where dropped messages and failures are reported.
        public var log: KernelLog

        public init(
            history: KernelHistory = KernelHistory(file: KernelHistory.defaultFile()), stopOnErrorWindow: Double = 0.02,
            shutdownGrace: Double = 2, log: KernelLog = .standardError
        ) {
            self.history = history
            self.stopOnErrorWindow = stopOnErrorWindow
            self.shutdownGrace = shutdownGrace
            self.log = log
        }
    }

    /// The language the kernel runs.
    public let interpreter: KernelInterpreter
    /// The endpoints the sockets are bound to.
    public let endpoints: KernelEndpoints
    /// The kernel's session id (the `session` of every header it sends).
    public var session: String { codec.session }

    let options: Options
    let log: KernelLog
    let codec: MessageCodec
    let iopub: IOPubChannel
    let history: KernelHistory
    private let heartbeat: Heartbeat
    private let context: ZMQContext
    let shellSocket: ZMQSocket
    private let controlSocket: ZMQSocket
    let stdinSocket: ZMQSocket
    let ports: [String: Int]

    /// Wakes the shell thread's poll at shutdown.
    let shellWakeup = Wakeup()
    /// Wakes the control thread's poll at shutdown.
    private let controlWakeup = Wakeup()
    /// Wakes a wait for `input_reply` at an interrupt or shutdown.
    let inputWakeup = Wakeup()
    /// Serializes `input_request`s on the stdin socket.
    let stdinLock = NSLock()

    private let stateLock = NSLock()
    private var isExecuting = false
    private var interruptCount = 0
    private var shutdown: ShutdownRequest?
    private let shutdownRequested = DispatchSemaphore(value: 0)
    private var parentWatch: DispatchSourceTimer?
    private var loggedOnce: Set<String> = []

    /// Shell-thread state: the execution counter.
    var executionCount = 0

    /// A kernel bound to the endpoints of `connection`; `run()` starts serving.
    /// - Throws: `UnsupportedSignatureScheme`, or `ZMQError` when an endpoint cannot be bound.
    public init(connection: KernelConnection, interpreter: KernelInterpreter, options: Options = Options()) throws {
        let signer = try MessageSigner(scheme: connection.signatureScheme, key: connection.key)
        self.interpreter = interpreter
        self.options = options
        self.log = options.log
        self.history = options.history
        codec = MessageCodec(signer: signer)
        let context = try ZMQContext()
        self.context = context

        func bind(_ type: ZMQSocketType, port: Int) throws -> ZMQSocket {
            let socket = try ZMQSocket(context, type: type)
            try socket.bind(connection.endpoint(port: port))
            return socket
        }
        shellSocket = try bind(.router, port: connection.shellPort)
        controlSocket = try bind(.router, port: connection.controlPort)
        // jupyter_client's KernelManager and its clients share one session, hence one routing id on
        // control: the newest connection must take it over (as ipykernel does), or a client's
        // control channel would be refused.
        try controlSocket.setRouterHandover(true)
        stdinSocket = try bind(.router, port: connection.stdinPort)
        let iopubSocket = try bind(.xpub, port: connection.iopubPort)
        let heartbeatSocket = try bind(.rep, port: connection.heartbeatPort)
        let bound = KernelEndpoints(
            shell: try shellSocket.lastEndpoint(), iopub: try iopubSocket.lastEndpoint(), stdin: try stdinSocket.lastEndpoint(),
            control: try controlSocket.lastEndpoint(), heartbeat: try heartbeatSocket.lastEndpoint())
        func port(_ endpoint: String) -> Int { Int(endpoint.split(separator: ":").last ?? "") ?? 0 }
        endpoints = bound
        ports = [
            "shell_port": port(bound.shell), "iopub_port": port(bound.iopub), "stdin_port": port(bound.stdin),
            "control_port": port(bound.control), "hb_port": port(bound.heartbeat),
        ]
        iopub = try IOPubChannel(socket: iopubSocket, codec: codec, log: options.log)
        heartbeat = Heartbeat(socket: heartbeatSocket, log: options.log)
    }

    deinit {
        parentWatch?.cancel()
    }

    /// A kernel for the connection file at `connectionFile`.
    public convenience init(connectionFile: URL, interpreter: KernelInterpreter, options: Options = Options()) throws {
        try self.init(connection: KernelConnection(contentsOf: connectionFile), interpreter: interpreter, options: options)
    }

    /// Serves until a `shutdown_request` (or `requestShutdown`), then waits up to
    /// `Options.shutdownGrace` seconds for a running cell to stop, closes the sockets after their last
    /// messages left, and returns the request. Call it once.
    public func run() -> ShutdownRequest {
        iopub.start()
        heartbeat.start()
        // Cells run on the shell thread: give it room for deeply nested code.
        let shellFinished = startThread(named: "finch-shell", stackSize: 64 << 20) { [self] in runShell() }
        let controlFinished = startThread(named: "finch-control") { [self] in runControl() }
        shutdownRequested.wait()

        let shellStopped = shellFinished.wait(timeout: .now() + options.shutdownGrace) == .success
        if !shellStopped { log("shutdown: the running cell did not stop within \(options.shutdownGrace) s") }
        _ = controlFinished.wait(timeout: .now() + 1)
        heartbeat.stop()
        iopub.stop()
        if shellStopped {
            // Every socket is closed: terminating the context delivers the last replies before exit.
            let context = self.context
            let terminated = startThread(named: "finch-zmq-term") { context.terminate() }
            _ = terminated.wait(timeout: .now() + 2)
        }
        stateLock.lock()
        defer { stateLock.unlock() }
        return shutdown ?? ShutdownRequest(restart: false)
    }

    /// Interrupts the running cell, as `interrupt_request` and SIGINT do: calls the interpreter's
    /// `interrupt()` and ends a wait for `input_reply`. Does nothing to the interpreter when no
    /// cell runs. Safe from any thread.
    public func interrupt() {
        stateLock.lock()
        interruptCount += 1
        let running = isExecuting
        stateLock.unlock()
        inputWakeup.signal()
        if running { interpreter.interrupt() }
    }

    /// Asks `run()` to return, as a `shutdown_request` does: interrupts a running cell and stops the
    /// channels. Safe from any thread; the first request wins.
    public func requestShutdown(restart: Bool = false) {
        stateLock.lock()
        let first = shutdown == nil
        if first {
            shutdown = ShutdownRequest(restart: restart)
            interruptCount += 1  // a cell about to start must not start
        }
        let running = isExecuting
        stateLock.unlock()
        guard first else { return }
        inputWakeup.signal()
        shellWakeup.signal()
        controlWakeup.signal()
        if running { interpreter.interrupt() }
        shutdownRequested.signal()
    }

    /// Shuts the kernel down when its parent process (the Jupyter server or front end that started
    /// it) is gone, checked every `interval` seconds, as ipykernel does: a front end killed without
    /// a shutdown request leaves no orphaned kernel. `parent` is the process to watch; nothing is
    /// watched when it is init (PID 1), which never goes away.
    public func stopWhenOrphaned(parent: pid_t = getppid(), interval: Double = 1) {
        guard parent > 1 else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in
            guard let self, getppid() != parent else { return }
            log("the parent process \(parent) is gone; shutting down")
            requestShutdown()
        }
        timer.resume()
        stateLock.lock()
        parentWatch = timer
        stateLock.unlock()
    }

    /// Whether shutdown has been requested.
    var isShuttingDown: Bool {
        stateLock.lock()
        defer { stateLock.unlock() }
        return shutdown != nil
    }

    /// The number of interrupts so far (a wait for input compares it before and after).
    var interruptsSoFar: Int {
        stateLock.lock()
        defer { stateLock.unlock() }
        return interruptCount
    }

    /// Marks whether the interpreter's `execute` is running (so interrupts reach it only then);
    /// returns the number of interrupts so far, which a cell compares to notice its own.
    @discardableResult
    func setExecuting(_ executing: Bool) -> Int {
        stateLock.lock()
        defer { stateLock.unlock() }
        isExecuting = executing
        return interruptCount
    }

    /// Logs `line` the first time `key` comes up (a client that repeats an unsupported request, such
    /// as a resource monitor polling, does not flood the log).
    func logOnce(_ key: String, _ line: String) {
        stateLock.lock()
        let first = loggedOnce.insert(key).inserted
        stateLock.unlock()
        if first { log(line) }
    }

    // MARK: Messages

    /// Verifies and parses `frames` received on `channel`; nil (after logging why) when dropped.
    func decode(_ frames: [[UInt8]], channel: String) -> IncomingMessage? {
        do {
            return try codec.decode(frames)
        } catch {
            log("\(channel): dropped a message: \(error)")
            return nil
        }
    }

    /// Sends `content` as the reply of type `msgType` to `request` on `socket`.
    func reply(_ request: IncomingMessage, _ msgType: String, _ content: JSON, on socket: ZMQSocket) {
        let frames = codec.encode(msgType, content: content, parentHeader: request.headerBytes, identities: request.identities)
        do {
            try socket.send(frames)
        } catch {
            log("cannot send \(msgType): \(error)")
        }
    }

    /// Publishes busy, runs `body`, publishes idle (every request is bracketed so).
    func withBusyStatus(_ request: IncomingMessage, _ body: () -> Void) {
        iopub.publishStatus("busy", parentHeader: request.headerBytes)
        body()
        iopub.publishStatus("idle", parentHeader: request.headerBytes)
    }

    /// `kernel_info_reply` content.
    func kernelInfo() -> JSON {
        let info = interpreter.languageInfo
        return [
            "status": "ok",
            "protocol_version": .string(kernelProtocolVersion),
            "implementation": .string(info.implementation),
            "implementation_version": .string(info.implementationVersion),
            "language_info": [
                "name": .string(info.name),
                "version": .string(info.version),
                "mimetype": .string(info.mimetype),
                "file_extension": .string(info.fileExtension),
                "pygments_lexer": .string(info.pygmentsLexer),
                "codemirror_mode": .string(info.codemirrorMode),
                "nbconvert_exporter": "script",
            ],
            "banner": .string(info.banner),
            "help_links": .array(info.helpLinks.map { ["text": .string($0.text), "url": .string($0.url)] }),
            "debugger": false,
        ]
    }

    /// Answers a `shutdown_request` (on shell or control), tells other clients on iopub, and stops.
    func handleShutdown(_ request: IncomingMessage, on socket: ZMQSocket) {
        let restart = request.content["restart"]?.boolValue ?? false
        let content: JSON = ["status": "ok", "restart": .bool(restart)]
        withBusyStatus(request) {
            reply(request, "shutdown_reply", content, on: socket)
            iopub.publish("shutdown_reply", content: content, parentHeader: request.headerBytes)
        }
        requestShutdown(restart: restart)
    }

    // MARK: Control

    private func runControl() {
        while !isShuttingDown {
            do {
                let ready = try ZMQSocket.poll([controlSocket], fileDescriptors: [controlWakeup.fileDescriptor], timeoutMilliseconds: -1)
                if !ready.fileDescriptors.isEmpty { controlWakeup.drain() }
                if !ready.sockets.isEmpty { handleControl(try controlSocket.receive()) }
            } catch {
                log("control: \(error)")
                if error.isPermanent { break }
                usleep(10_000)
            }
        }
        controlSocket.close()
    }

    private func handleControl(_ frames: [[UInt8]]) {
        guard let request = decode(frames, channel: "control") else { return }
        switch request.msgType {
        case "kernel_info_request":
            withBusyStatus(request) { reply(request, "kernel_info_reply", kernelInfo(), on: controlSocket) }
        case "interrupt_request":
            withBusyStatus(request) {
                interrupt()
                reply(request, "interrupt_reply", ["status": "ok"], on: controlSocket)
            }
        case "shutdown_request":
            handleShutdown(request, on: controlSocket)
        default:
            withBusyStatus(request) {
                logOnce("control \(request.msgType)", "control: unsupported message type \(request.msgType); ignored (logged once)")
            }
        }
    }
}
