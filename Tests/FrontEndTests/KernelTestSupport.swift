import FinchKernel
import FinchREPL
import Foundation
import Testing

/// A small language for the kernel tests. Cells:
/// `6*7` → 42 · `print TEXT` → stdout · `warn TEXT` → stderr · `fail` → an error · `slow` → runs until
/// interrupted (30 s at most) · `ask` → asks for input and greets it · `ask after interrupt` → waits for
/// an interrupt, then asks for input · `progress` → one display updated
/// three times · `help` → a pager payload · `json` → an application/json display · `clear` →
/// clear_output · `count` → how many cells ran before.
final class TestInterpreter: KernelInterpreter, @unchecked Sendable {
    private let lock = NSLock()
    private var interrupted = false
    private var executed: [String] = []
    private var interruptCalls = 0

    /// Every code string `execute` received, in order.
    var executedCodes: [String] {
        lock.lock()
        defer { lock.unlock() }
        return executed
    }

    /// How many times `interrupt()` was called.
    var interruptCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return interruptCalls
    }

    var languageInfo: KernelLanguageInfo {
        KernelLanguageInfo(
            name: "testlang", version: "1.2.3", mimetype: "text/x-testlang", fileExtension: ".tl", pygmentsLexer: "text",
            codemirrorMode: "shell", implementation: "testkernel", implementationVersion: "0.1", banner: "Test language banner",
            helpLinks: [("Docs", "https://example.org/docs")])
    }

    func execute(_ code: String, context: ExecutionContext) -> ExecutionOutcome {
        lock.lock()
        executed.append(code)
        let before = executed.count - 1
        lock.unlock()
        // The flag is cleared when the cell ends, so an interrupt just as it starts is not lost.
        defer { lock.withLock { interrupted = false } }

        switch code {
        case "6*7":
            return .ok(result: MimeBundle(plain: "42"))
        case "fail":
            return .error(name: "FinchError", value: "unknown command fail", traceback: ["fail", "^^^^ unknown command"])
        case "slow":
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                lock.lock()
                let stop = interrupted
                lock.unlock()
                if stop { return .error(name: "Interrupted", value: "the cell was interrupted", traceback: []) }
                Thread.sleep(forTimeInterval: 0.005)
            }
            return .ok(result: nil)
        case "ask":
            do {
                let name = try context.input(prompt: "name? ", password: false)
                return .ok(result: MimeBundle(plain: "hello \(name)"))
            } catch {
                return .error(name: "InputUnavailable", value: error.reason, traceback: [])
            }
        case "ask after interrupt":
            // Ignores the interrupt, then asks: the wait must end at once, without an input_request.
            while !(lock.withLock { interrupted }) { Thread.sleep(forTimeInterval: 0.005) }
            do {
                return .ok(result: MimeBundle(plain: try context.input(prompt: "late? ", password: false)))
            } catch {
                return .error(name: "InputUnavailable", value: error.reason, traceback: [])
            }
        case "progress":
            context.display(MimeBundle(plain: "step 0/3"), displayID: "progress-1")
            for step in 1...3 { context.updateDisplay(MimeBundle(plain: "step \(step)/3"), displayID: "progress-1") }
            return .ok(result: nil)
        case "help":
            context.page(MimeBundle(["text/plain": "help text", "text/html": "<b>help</b>"]))
            return .ok(result: nil)
        case "json":
            context.display(MimeBundle(["text/plain": "{a: [1, 2]}", "application/json": #"{"a": [1, 2], "b": "খুব"}"#]), displayID: nil)
            return .ok(result: nil)
        case "clear":
            context.clearOutput(wait: true)
            return .ok(result: nil)
        case "count":
            return .ok(result: MimeBundle(plain: "\(before)"))
        default:
            if code.hasPrefix("print ") {
                context.stream(.stdout, String(code.dropFirst(6)) + "\n")
                return .ok(result: nil)
            }
            if code.hasPrefix("warn ") {
                context.stream(.stderr, String(code.dropFirst(5)) + "\n")
                return .ok(result: nil)
            }
            return .ok(result: nil)
        }
    }

    func complete(_ code: String, cursor: Int) -> CompletionResult {
        let prefix = String(String.UnicodeScalarView(code.unicodeScalars.prefix(cursor)))
        let word = prefix.split(separator: " ", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        let matches = ["data", "data_load", "dropout", "lora"].filter { $0.hasPrefix(word) }
        return CompletionResult(matches: matches, cursorStart: cursor - word.unicodeScalars.count, cursorEnd: cursor)
    }

    func inspect(_ code: String, cursor: Int, detailLevel: Int) -> MimeBundle? {
        code.hasPrefix("lora") ? MimeBundle(plain: "lora r=16 alpha=32 (detail \(detailLevel))") : nil
    }

    func isComplete(_ code: String) -> Completeness {
        if code.hasSuffix("[") { return .incomplete(indent: "  ") }
        if code.contains("= ]") { return .invalid }
        return .complete
    }

    func interrupt() {
        lock.lock()
        interrupted = true
        interruptCalls += 1
        lock.unlock()
    }
}

/// Lines the kernel logged, collected for assertions.
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var log: KernelLog { KernelLog { [self] line in lock.lock(); lines.append(line); lock.unlock() } }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
}

/// A kernel running in this process on ephemeral loopback ports, with `TestInterpreter`.
final class RunningKernel: @unchecked Sendable {
    static let key = "kernel-test-key"

    let server: KernelServer
    let interpreter = TestInterpreter()
    let logLines = LogLines()
    let historyFile: URL
    private let lock = NSLock()
    private var shutdownRequest: ShutdownRequest?
    private let finished = DispatchSemaphore(value: 0)
    /// SIGINT → the kernel's interrupt, while this kernel runs (as `finch kernel` sets it up).
    private var interruptSignal: InterruptSignal?

    /// Starts a kernel; `historyFile` defaults to a new temporary file.
    init(historyFile: URL? = nil, stopOnErrorWindow: Double = 0.02, handleSignals: Bool = false) throws {
        self.historyFile = historyFile ?? temporaryDirectory().appendingPathComponent("history.jsonl")
        let options = KernelServer.Options(
            history: KernelHistory(file: self.historyFile, log: logLines.log), stopOnErrorWindow: stopOnErrorWindow,
            shutdownGrace: 2, log: logLines.log)
        server = try KernelServer(connection: KernelConnection(key: Self.key), interpreter: interpreter, options: options)
        if handleSignals { interruptSignal = InterruptSignal { [server] in server.interrupt() } }
        let thread = Thread { [self] in
            let request = server.run()
            lock.lock()
            shutdownRequest = request
            lock.unlock()
            finished.signal()
        }
        thread.start()
    }

    /// Waits until `run()` returned; its result, or nil after `timeout` seconds.
    func waitForExit(timeout: Double = 5) -> ShutdownRequest? {
        guard finished.wait(timeout: .now() + timeout) == .success else { return nil }
        finished.signal()
        lock.lock()
        defer { lock.unlock() }
        return shutdownRequest
    }

    /// Stops the kernel (if still running) and waits for it.
    func stop() {
        server.requestShutdown()
        _ = waitForExit()
        interruptSignal = nil
    }
}

/// A fresh temporary directory.
func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("finch-kernel-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A received message, parsed.
struct TestMessage {
    var identities: [[UInt8]]
    var header: JSON
    var parentHeader: JSON
    var metadata: JSON
    var content: JSON
    var msgType: String { header["msg_type"]?.stringValue ?? "" }
    var parentID: String { parentHeader["msg_id"]?.stringValue ?? "" }
}

/// A front end for the tests: DEALER sockets for shell, control and stdin (shell and stdin share a
/// routing id, as jupyter_client's do), SUB for iopub and REQ for the heartbeat; signs what it sends
/// and checks the signatures of what it receives.
final class TestClient {
    let session = UUID().uuidString.lowercased()
    let signer = MessageSigner(key: RunningKernel.key)
    let context: ZMQContext
    let shell: ZMQSocket
    let control: ZMQSocket
    let stdin: ZMQSocket
    let iopub: ZMQSocket
    let heartbeat: ZMQSocket
    private var sentCount = 0

    /// Connects to `endpoints` and waits for the iopub subscription to be welcomed.
    init(_ endpoints: KernelEndpoints, waitForWelcome: Bool = true) throws {
        context = try ZMQContext()
        shell = try ZMQSocket(context, type: .dealer)
        control = try ZMQSocket(context, type: .dealer)
        stdin = try ZMQSocket(context, type: .dealer)
        iopub = try ZMQSocket(context, type: .sub)
        heartbeat = try ZMQSocket(context, type: .req)
        for socket in [shell, control, stdin, iopub, heartbeat] { try socket.setLinger(milliseconds: 0) }
        try shell.setRoutingID(Array(session.utf8))
        try stdin.setRoutingID(Array(session.utf8))
        try shell.connect(endpoints.shell)
        try control.connect(endpoints.control)
        try stdin.connect(endpoints.stdin)
        try iopub.subscribe()
        try iopub.connect(endpoints.iopub)
        try heartbeat.connect(endpoints.heartbeat)
        if waitForWelcome {
            let welcome = try #require(try receive(on: iopub, timeout: 5_000), "no iopub_welcome")
            #expect(welcome.msgType == "iopub_welcome")
            #expect(welcome.content["subscription"] == "")
        }
    }

    /// The frames of a signed request (`signature` replaces the real one when given).
    func frames(_ msgType: String, _ content: JSON, signature: String? = nil) -> (frames: [[UInt8]], msgID: String) {
        sentCount += 1
        let msgID = "\(session)-\(sentCount)"
        let header: JSON = [
            "msg_id": .string(msgID), "msg_type": .string(msgType), "session": .string(session), "username": "tester",
            "date": .string(Timestamp.now()), "version": "5.4",
        ]
        let parts = [header.serialized, Array("{}".utf8), Array("{}".utf8), content.serialized]
        let signed = signature ?? signer.signature(for: parts)
        return ([Array("<IDS|MSG>".utf8), Array(signed.utf8)] + parts, msgID)
    }

    /// Sends a signed request of type `msgType` on `socket`; returns its msg_id.
    @discardableResult
    func send(_ msgType: String, _ content: JSON = [:], on socket: ZMQSocket) throws -> String {
        let (frames, msgID) = frames(msgType, content)
        try socket.send(frames)
        return msgID
    }

    /// An execute request with the usual fields.
    @discardableResult
    func execute(
        _ code: String, silent: Bool = false, storeHistory: Bool = true, allowStdin: Bool = false, stopOnError: Bool = true,
        userExpressions: [String: JSON] = [:]
    ) throws -> String {
        try send("execute_request", [
            "code": .string(code), "silent": .bool(silent), "store_history": .bool(storeHistory),
            "user_expressions": .object(userExpressions), "allow_stdin": .bool(allowStdin), "stop_on_error": .bool(stopOnError),
        ], on: shell)
    }

    /// The next message on `socket` within `timeout` ms (nil when none came); its signature must verify.
    func receive(on socket: ZMQSocket, timeout: Int = 5_000) throws -> TestMessage? {
        guard try ZMQSocket.poll([socket], timeoutMilliseconds: timeout) == [0] else { return nil }
        let frames = try socket.receive()
        let delimiter = try #require(frames.firstIndex(of: Array("<IDS|MSG>".utf8)))
        let parts = Array(frames[(delimiter + 1)...])
        try #require(parts.count >= 5)
        #expect(signer.isValid(signature: parts[0], for: Array(parts[1...4])), "the kernel's signature must verify")
        return TestMessage(
            identities: Array(frames[..<delimiter]), header: try JSON.parse(parts[1]), parentHeader: try JSON.parse(parts[2]),
            metadata: try JSON.parse(parts[3]), content: try JSON.parse(parts[4]))
    }

    /// The reply to `msgID` on `socket` (other replies are skipped); fails the test after `timeout` ms.
    func reply(to msgID: String, on socket: ZMQSocket, timeout: Int = 5_000) throws -> TestMessage {
        let deadline = ContinuousClock.now + .milliseconds(timeout)
        while ContinuousClock.now < deadline {
            let left = max(1, Int((deadline - ContinuousClock.now) / .milliseconds(1)))
            guard let message = try receive(on: socket, timeout: left) else { break }
            if message.parentID == msgID { return message }
        }
        Issue.record("no reply to \(msgID) within \(timeout) ms")
        throw TestTimeout()
    }

    /// The iopub messages caused by `msgID`, from its busy status through its idle status.
    func iopubMessages(for msgID: String, timeout: Int = 5_000) throws -> [TestMessage] {
        var messages: [TestMessage] = []
        let deadline = ContinuousClock.now + .milliseconds(timeout)
        while ContinuousClock.now < deadline {
            let left = max(1, Int((deadline - ContinuousClock.now) / .milliseconds(1)))
            guard let message = try receive(on: iopub, timeout: left) else { break }
            guard message.parentID == msgID else { continue }
            messages.append(message)
            if message.msgType == "status", message.content["execution_state"] == "idle" { return messages }
        }
        Issue.record("no idle status for \(msgID) within \(timeout) ms; got \(messages.map(\.msgType))")
        throw TestTimeout()
    }
}

/// A wait in a test ran out (already recorded as an issue).
struct TestTimeout: Error {}
