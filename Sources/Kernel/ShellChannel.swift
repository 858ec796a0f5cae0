import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The shell channel: requests handled one at a time on the shell thread, cells included.
extension KernelServer {
    func runShell() {
        while !isShuttingDown {
            do {
                let ready = try ZMQSocket.poll([shellSocket], fileDescriptors: [shellWakeup.fileDescriptor], timeoutMilliseconds: -1)
                if !ready.fileDescriptors.isEmpty { shellWakeup.drain() }
                if !ready.sockets.isEmpty, !isShuttingDown { handleShell(try shellSocket.receive(), aborting: false) }
            } catch {
                log("shell: \(error)")
                if error.isPermanent { break }
                usleep(10_000)
            }
        }
        shellSocket.close()
        stdinLock.lock()
        stdinSocket.close()
        stdinLock.unlock()
    }

    /// Handles one shell message; while `aborting` (after a failed cell), execute requests are
    /// answered with status "aborted" instead of running.
    func handleShell(_ frames: [[UInt8]], aborting: Bool) {
        guard let request = decode(frames, channel: "shell") else { return }
        switch request.msgType {
        case "execute_request":
            // Requests that came in during a failed cell's stop-on-error window are answered after
            // its idle status (as ipykernel orders them), execute requests among them aborted.
            for queued in execute(request, aborting: aborting) { handleShell(queued, aborting: true) }
        case "kernel_info_request":
            withBusyStatus(request) { reply(request, "kernel_info_reply", kernelInfo(), on: shellSocket) }
        case "complete_request":
            withBusyStatus(request) { reply(request, "complete_reply", complete(request.content), on: shellSocket) }
        case "inspect_request":
            withBusyStatus(request) { reply(request, "inspect_reply", inspect(request.content), on: shellSocket) }
        case "is_complete_request":
            withBusyStatus(request) { reply(request, "is_complete_reply", isComplete(request.content), on: shellSocket) }
        case "history_request":
            withBusyStatus(request) { reply(request, "history_reply", historyReply(request.content), on: shellSocket) }
        case "comm_info_request":
            withBusyStatus(request) { reply(request, "comm_info_reply", ["status": "ok", "comms": [:]], on: shellSocket) }
        case "connect_request":
            withBusyStatus(request) {
                var content = ports.mapValues { JSON.int($0) }
                content["status"] = "ok"
                reply(request, "connect_reply", .object(content), on: shellSocket)
            }
        case "comm_open":
            withBusyStatus(request) {
                // No comm targets exist: close the comm at once so the front end does not wait on it.
                let target = request.content["target_name"]?.stringValue ?? "?"
                log("shell: no comm target \"\(target)\"; comm closed")
                let commID = request.content["comm_id"] ?? .string("")
                iopub.publish("comm_close", content: ["comm_id": commID, "data": [:]], parentHeader: request.headerBytes)
            }
        case "comm_msg", "comm_close":
            withBusyStatus(request) { log("shell: \(request.msgType) for an unknown comm; ignored") }
        case "shutdown_request":
            handleShutdown(request, on: shellSocket)
        case "interrupt_request":
            withBusyStatus(request) {
                interrupt()
                reply(request, "interrupt_reply", ["status": "ok"], on: shellSocket)
            }
        default:
            withBusyStatus(request) {
                logOnce("shell \(request.msgType)", "shell: unknown message type \(request.msgType); ignored (logged once)")
            }
        }
    }

    // MARK: Execution

    /// Runs the cell of an execute request (or answers "aborted" while `aborting`). Returns the shell
    /// messages to handle next, aborting: those queued behind a cell that failed with stop_on_error.
    private func execute(_ request: IncomingMessage, aborting: Bool) -> [[[UInt8]]] {
        iopub.publishStatus("busy", parentHeader: request.headerBytes)
        defer { iopub.publishStatus("idle", parentHeader: request.headerBytes) }
        if aborting || isShuttingDown {
            log("shell: execute request \(request.msgID) aborted (\(aborting ? "an earlier cell failed" : "shutting down"))")
            reply(request, "execute_reply", ["status": "aborted"], on: shellSocket)
            return []
        }

        let interruptsBefore = interruptsSoFar
        let content = request.content
        let code = content["code"]?.stringValue ?? ""
        let silent = content["silent"]?.boolValue ?? false
        let storeHistory = !silent && (content["store_history"]?.boolValue ?? true)
        let allowStdin = content["allow_stdin"]?.boolValue ?? false
        let stopOnError = content["stop_on_error"]?.boolValue ?? true
        if storeHistory {
            executionCount += 1
            history.record(line: executionCount, source: code)
        }
        let count = executionCount
        if !silent {
            iopub.publish("execute_input", content: ["code": .string(code), "execution_count": .int(count)], parentHeader: request.headerBytes)
        }

        let cell = CellContext(
            server: self, parentHeader: request.headerBytes, identities: request.identities,
            executionCount: count, allowStdin: allowStdin, silent: silent)
        cell.interruptsAtStart = setExecuting(true)
        // An interrupt that came after the request was taken but before the cell started is for this
        // cell: it does not run at all.
        let outcome = cell.interruptsAtStart != interruptsBefore
            ? .error(name: "Interrupted", value: "interrupted before the cell started", traceback: [])
            : interpreter.execute(code, context: cell)
        setExecuting(false)

        switch outcome {
        case .ok(let result):
            if let result, !silent {
                iopub.publish("execute_result", content: [
                    "execution_count": .int(count), "data": mimeData(result), "metadata": [:],
                ], parentHeader: request.headerBytes)
                if storeHistory, let text = result.data["text/plain"] { history.recordOutput(line: count, output: text) }
            }
            let payload = cell.pages.map { page -> JSON in ["source": "page", "data": mimeData(page), "start": 0] }
            let expressions = content["user_expressions"]?.objectValue ?? [:]
            reply(request, "execute_reply", [
                "status": "ok", "execution_count": .int(count), "payload": .array(payload),
                "user_expressions": evaluate(expressions),
            ], on: shellSocket)
            return []
        case .error(let name, let value, let traceback):
            let error: JSON = ["ename": .string(name), "evalue": .string(value), "traceback": .array(traceback.map { .string($0) })]
            if !silent { iopub.publish("error", content: error, parentHeader: request.headerBytes) }
            var replyContent = error.objectValue ?? [:]
            replyContent["status"] = "error"
            replyContent["execution_count"] = .int(count)
            reply(request, "execute_reply", .object(replyContent), on: shellSocket)
            return stopOnError && !silent ? messagesQueuedBehindFailure() : []
        }
    }

    /// After a failed cell: the shell messages already queued, and those arriving within
    /// `stopOnErrorWindow`, so that their execute requests are aborted and "run all" stops at the
    /// first error. The window closes before the failed cell's idle status, so a front end that
    /// waits for it never has a new cell aborted.
    private func messagesQueuedBehindFailure() -> [[[UInt8]]] {
        var messages: [[[UInt8]]] = []
        let deadline = ContinuousClock.now + .milliseconds(Int(options.stopOnErrorWindow * 1_000))
        while !isShuttingDown, messages.count < 10_000 {
            let remaining = max(0, (deadline - ContinuousClock.now).milliseconds)
            do {
                if try ZMQSocket.poll([shellSocket], timeoutMilliseconds: remaining).isEmpty {
                    if ContinuousClock.now >= deadline { break }
                    continue
                }
                messages.append(try shellSocket.receive())
            } catch {
                log("shell: \(error)")
                break
            }
        }
        return messages
    }

    /// `user_expressions` evaluated after a successful cell, each as a silent cell of its own whose
    /// output is discarded: `{name: {status, data, metadata}}` or the error's fields.
    private func evaluate(_ expressions: [String: JSON]) -> JSON {
        var results: [String: JSON] = [:]
        for (name, expression) in expressions {
            guard let code = expression.stringValue else {
                results[name] = ["status": "error", "ename": "TypeError", "evalue": "the expression is not a string", "traceback": []]
                continue
            }
            let quiet = CellContext(
                server: self, parentHeader: nil, identities: [], executionCount: executionCount, allowStdin: false, silent: true)
            setExecuting(true)
            let outcome = interpreter.execute(code, context: quiet)
            setExecuting(false)
            switch outcome {
            case .ok(let result):
                results[name] = ["status": "ok", "data": mimeData(result ?? MimeBundle(plain: "")), "metadata": [:]]
            case .error(let ename, let evalue, let traceback):
                results[name] = [
                    "status": "error", "ename": .string(ename), "evalue": .string(evalue),
                    "traceback": .array(traceback.map { .string($0) }),
                ]
            }
        }
        return .object(results)
    }

    // MARK: Introspection and history

    /// The `cursor_pos` of a request clamped to `code` (Unicode scalars; the end when absent).
    private func cursor(_ content: JSON, in code: String) -> Int {
        let length = code.unicodeScalars.count
        guard let position = content["cursor_pos"]?.intValue else { return length }
        return min(max(0, position), length)
    }

    private func complete(_ content: JSON) -> JSON {
        let code = content["code"]?.stringValue ?? ""
        let result = interpreter.complete(code, cursor: cursor(content, in: code))
        return [
            "status": "ok", "matches": .array(result.matches.map { .string($0) }),
            "cursor_start": .int(result.cursorStart), "cursor_end": .int(result.cursorEnd), "metadata": [:],
        ]
    }

    private func inspect(_ content: JSON) -> JSON {
        let code = content["code"]?.stringValue ?? ""
        let detail = content["detail_level"]?.intValue ?? 0
        let help = interpreter.inspect(code, cursor: cursor(content, in: code), detailLevel: detail)
        return ["status": "ok", "found": .bool(help != nil), "data": help.map(mimeData) ?? [:], "metadata": [:]]
    }

    private func isComplete(_ content: JSON) -> JSON {
        switch interpreter.isComplete(content["code"]?.stringValue ?? "") {
        case .complete: ["status": "complete"]
        case .incomplete(let indent): ["status": "incomplete", "indent": .string(indent)]
        case .invalid: ["status": "invalid"]
        case .unknown: ["status": "unknown"]
        }
    }

    private func historyReply(_ content: JSON) -> JSON {
        let entries: [HistoryEntry]
        switch content["hist_access_type"]?.stringValue ?? "tail" {
        case "tail":
            entries = history.tail(content["n"]?.intValue ?? 10)
        case "range":
            entries = history.range(
                session: content["session"]?.intValue ?? 0, start: content["start"]?.intValue ?? 1, stop: content["stop"]?.intValue)
        case "search":
            entries = history.search(
                pattern: content["pattern"]?.stringValue ?? "*", count: content["n"]?.intValue,
                unique: content["unique"]?.boolValue ?? false)
        case let other:
            log("shell: unknown hist_access_type \(other)")
            entries = []
        }
        let withOutput = content["output"]?.boolValue ?? false
        return [
            "status": "ok",
            "history": .array(entries.map { entry in
                let input: JSON = withOutput
                    ? [.string(entry.source), entry.output.map { .string($0) } ?? .null]
                    : .string(entry.source)
                return [.int(entry.session), .int(entry.line), input]
            }),
        ]
    }

    /// A MIME bundle as the `data` of a message: `application/json` (and `+json` types) embedded as
    /// JSON values, invalid JSON left out (and logged), everything else as strings.
    func mimeData(_ bundle: MimeBundle) -> JSON {
        var data: [String: JSON] = [:]
        for (mime, text) in bundle.data {
            if mime == "application/json" || mime.hasSuffix("+json") {
                do {
                    _ = try JSON.parse(text)
                    data[mime] = .verbatim(text)
                } catch {
                    log("output: \(mime) is not valid JSON (\(error)); left out")
                }
            } else {
                data[mime] = .string(text)
            }
        }
        return .object(data)
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded up.
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1_000 + Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }
}
