import Foundation

/// The `ExecutionContext` of one execute request: publishes the cell's outputs on iopub with the
/// request as parent, collects pager payloads for the reply, and asks for input on stdin.
final class CellContext: ExecutionContext, @unchecked Sendable {
    let executionCount: Int
    let allowStdin: Bool
    /// The kernel's interrupt count when the cell started: a later interrupt ends waits for input.
    var interruptsAtStart = 0
    private let server: KernelServer
    /// The raw header of the execute request (nil for a context with no request, such as a user
    /// expression's, which is always silent).
    private let parentHeader: [UInt8]?
    /// The routing identities of the request on shell, which are also the front end's on stdin.
    private let identities: [[UInt8]]
    /// A silent cell publishes nothing (the request's `silent`).
    private let silent: Bool
    private let lock = NSLock()
    private var collectedPages: [MimeBundle] = []

    init(
        server: KernelServer, parentHeader: [UInt8]?, identities: [[UInt8]], executionCount: Int, allowStdin: Bool, silent: Bool
    ) {
        self.server = server
        self.parentHeader = parentHeader
        self.identities = identities
        self.executionCount = executionCount
        self.allowStdin = allowStdin && parentHeader != nil
        self.silent = silent || parentHeader == nil
    }

    /// The pager payloads `page` added, in order.
    var pages: [MimeBundle] {
        lock.lock()
        defer { lock.unlock() }
        return collectedPages
    }

    func stream(_ name: StreamName, _ text: String) {
        guard !text.isEmpty else { return }
        publish("stream", ["name": .string(name.rawValue), "text": .string(text)])
    }

    func display(_ bundle: MimeBundle, displayID: String?) {
        var content: [String: JSON] = ["data": server.mimeData(bundle), "metadata": [:]]
        if let displayID { content["transient"] = ["display_id": .string(displayID)] }
        publish("display_data", .object(content))
    }

    func updateDisplay(_ bundle: MimeBundle, displayID: String) {
        publish("update_display_data", [
            "data": server.mimeData(bundle), "metadata": [:], "transient": ["display_id": .string(displayID)],
        ])
    }

    func clearOutput(wait: Bool) {
        publish("clear_output", ["wait": .bool(wait)])
    }

    func page(_ bundle: MimeBundle) {
        lock.lock()
        collectedPages.append(bundle)
        lock.unlock()
    }

    func input(prompt: String, password: Bool) throws(InputUnavailable) -> String {
        guard allowStdin, let parentHeader else {
            throw InputUnavailable(reason: "input is not available: this front end does not accept input (allow_stdin is false)")
        }
        return try server.requestInput(
            prompt: prompt, password: password, parentHeader: parentHeader, identities: identities, interruptsBefore: interruptsAtStart)
    }

    private func publish(_ msgType: String, _ content: JSON) {
        guard !silent else { return }
        server.iopub.publish(msgType, content: content, parentHeader: parentHeader)
    }
}

extension KernelServer {
    /// Sends an `input_request` on stdin to the front end that sent the running request and waits for
    /// its `input_reply`; a shutdown, or an interrupt after the cell's `interruptsBefore`, ends the
    /// wait with `InputUnavailable`.
    func requestInput(
        prompt: String, password: Bool, parentHeader: [UInt8], identities: [[UInt8]], interruptsBefore: Int
    ) throws(InputUnavailable) -> String {
        stdinLock.lock()
        defer { stdinLock.unlock() }
        inputWakeup.drain()
        if isShuttingDown { throw InputUnavailable(reason: "the kernel is shutting down") }
        if interruptsSoFar != interruptsBefore { throw InputUnavailable(reason: "interrupted while waiting for input") }

        do {
            // Replies left over from an earlier, interrupted request are stale.
            while try !ZMQSocket.poll([stdinSocket], timeoutMilliseconds: 0).isEmpty { _ = try stdinSocket.receive() }
            let request = codec.encode(
                "input_request", content: ["prompt": .string(prompt), "password": .bool(password)],
                parentHeader: parentHeader, identities: identities)
            try stdinSocket.send(request)
            let requestID = (try? JSON.parse(request[identities.count + 2]))?["msg_id"]?.stringValue ?? ""

            while true {
                let ready = try ZMQSocket.poll([stdinSocket], fileDescriptors: [inputWakeup.fileDescriptor], timeoutMilliseconds: -1)
                if !ready.fileDescriptors.isEmpty {
                    inputWakeup.drain()
                    if isShuttingDown { throw InputUnavailable(reason: "the kernel is shutting down") }
                    if interruptsSoFar != interruptsBefore { throw InputUnavailable(reason: "interrupted while waiting for input") }
                }
                guard !ready.sockets.isEmpty, let reply = decode(try stdinSocket.receive(), channel: "stdin") else { continue }
                guard reply.msgType == "input_reply" else {
                    log("stdin: unexpected \(reply.msgType) while waiting for input_reply; ignored")
                    continue
                }
                if let parentID = reply.parentHeader["msg_id"]?.stringValue, !parentID.isEmpty, parentID != requestID {
                    log("stdin: input_reply to another request; ignored")
                    continue
                }
                return reply.content["value"]?.stringValue ?? ""
            }
        } catch let error as InputUnavailable {
            throw error
        } catch {
            throw InputUnavailable(reason: "the stdin channel failed: \(error)")
        }
    }
}
