import FinchKernel
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The kernel over real ZeroMQ sockets: requests, replies and iopub traffic as a front end sees them.
@Suite struct KernelProtocolTests {
    @Test func kernelInfoOnShellAndControlWithStatusAround() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        for socket in [client.shell, client.control] {
            let id = try client.send("kernel_info_request", on: socket)
            let reply = try client.reply(to: id, on: socket)
            #expect(reply.msgType == "kernel_info_reply")
            #expect(reply.header["version"] == "5.4")
            #expect(reply.header["session"]?.stringValue == kernel.server.session)
            #expect(reply.content["status"] == "ok")
            #expect(reply.content["protocol_version"] == "5.4")
            #expect(reply.content["implementation"] == "testkernel")
            #expect(reply.content["banner"] == "Test language banner")
            #expect(reply.content["language_info"]?["name"] == "testlang")
            #expect(reply.content["language_info"]?["file_extension"] == ".tl")
            #expect(reply.content["help_links"] == [["text": "Docs", "url": "https://example.org/docs"]])
            let statuses = try client.iopubMessages(for: id).map { $0.content["execution_state"]?.stringValue }
            #expect(statuses == ["busy", "idle"])
        }
    }

    @Test func executePublishesInputStreamResultAndCounts() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let first = try client.execute("print hello, world")
        let firstReply = try client.reply(to: first, on: client.shell)
        #expect(firstReply.msgType == "execute_reply")
        #expect(firstReply.content["status"] == "ok")
        #expect(firstReply.content["execution_count"] == 1)
        let firstOutputs = try client.iopubMessages(for: first)
        #expect(firstOutputs.map(\.msgType) == ["status", "execute_input", "stream", "status"])
        #expect(firstOutputs[0].content["execution_state"] == "busy")
        #expect(firstOutputs[1].content == ["code": "print hello, world", "execution_count": 1])
        #expect(firstOutputs[2].content == ["name": "stdout", "text": "hello, world\n"])

        let second = try client.execute("6*7")
        #expect(try client.reply(to: second, on: client.shell).content["execution_count"] == 2)
        let result = try #require(try client.iopubMessages(for: second).first { $0.msgType == "execute_result" })
        #expect(result.content == ["execution_count": 2, "data": ["text/plain": "42"], "metadata": [:]])

        // Not stored: the counter stays; silent: nothing published but status.
        let unstored = try client.execute("6*7", storeHistory: false)
        #expect(try client.reply(to: unstored, on: client.shell).content["execution_count"] == 2)
        _ = try client.iopubMessages(for: unstored)
        let silent = try client.execute("print quiet", silent: true)
        #expect(try client.reply(to: silent, on: client.shell).content["execution_count"] == 2)
        #expect(try client.iopubMessages(for: silent).map(\.msgType) == ["status", "status"])
        let third = try client.execute("warn careful")
        #expect(try client.reply(to: third, on: client.shell).content["execution_count"] == 3)
        let stderr = try client.iopubMessages(for: third).first { $0.msgType == "stream" }
        #expect(stderr?.content == ["name": "stderr", "text": "careful\n"])
    }

    @Test func errorIsPublishedAndReplied() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let id = try client.execute("fail")
        let reply = try client.reply(to: id, on: client.shell)
        #expect(reply.content["status"] == "error")
        #expect(reply.content["ename"] == "FinchError")
        #expect(reply.content["evalue"] == "unknown command fail")
        #expect(reply.content["traceback"] == ["fail", "^^^^ unknown command"])
        #expect(reply.content["execution_count"] == 1)
        let outputs = try client.iopubMessages(for: id).filter { $0.msgType != "status" && $0.msgType != "execute_input" }
        #expect(outputs.map(\.msgType) == ["error"])
        #expect(outputs.first?.content == ["ename": "FinchError", "evalue": "unknown command fail", "traceback": ["fail", "^^^^ unknown command"]])
    }

    @Test func stopOnErrorAbortsQueuedCells() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let failing = try client.execute("fail")
        let queued = try client.execute("6*7")
        let alsoQueued = try client.execute("print never")
        #expect(try client.reply(to: failing, on: client.shell).content["status"] == "error")
        let aborted = try client.reply(to: queued, on: client.shell)
        #expect(aborted.content == ["status": "aborted"])
        #expect(try client.reply(to: alsoQueued, on: client.shell).content == ["status": "aborted"])
        #expect(kernel.interpreter.executedCodes == ["fail"])
        // Aborted requests get their own busy/idle.
        #expect(try client.iopubMessages(for: queued).map { $0.content["execution_state"]?.stringValue } == ["busy", "idle"])

        // After the window, cells run again.
        Thread.sleep(forTimeInterval: 0.1)
        let later = try client.execute("6*7")
        #expect(try client.reply(to: later, on: client.shell).content["status"] == "ok")

        // stop_on_error=false: the next cell runs.
        let tolerated = try client.execute("fail", stopOnError: false)
        let next = try client.execute("6*7")
        #expect(try client.reply(to: tolerated, on: client.shell).content["status"] == "error")
        #expect(try client.reply(to: next, on: client.shell).content["status"] == "ok")
    }

    @Test func interruptStopsARunningCellWithinASecond() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let slow = try client.execute("slow")
        // Wait until it runs (its execute_input is out), then interrupt on control.
        while try client.receive(on: client.iopub)?.msgType != "execute_input" {}
        Thread.sleep(forTimeInterval: 0.05)
        let start = ContinuousClock.now
        let interrupt = try client.send("interrupt_request", on: client.control)
        #expect(try client.reply(to: interrupt, on: client.control).content == ["status": "ok"])
        let reply = try client.reply(to: slow, on: client.shell, timeout: 1_000)
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(reply.content["status"] == "error")
        #expect(reply.content["ename"] == "Interrupted")
        #expect(kernel.interpreter.interruptCount == 1)

        Thread.sleep(forTimeInterval: 0.05)
        let after = try client.execute("6*7")
        #expect(try client.reply(to: after, on: client.shell).content["status"] == "ok")
    }

    @Test func kernelInfoOnControlWhileACellRuns() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let slow = try client.execute("slow")
        while try client.receive(on: client.iopub)?.msgType != "execute_input" {}
        let info = try client.send("kernel_info_request", on: client.control)
        #expect(try client.reply(to: info, on: client.control, timeout: 1_000).content["status"] == "ok")
        let heartbeatStart = ContinuousClock.now
        try client.heartbeat.send([Array("ping".utf8)])
        #expect(try client.receive(rawOn: client.heartbeat) == [Array("ping".utf8)])
        #expect(ContinuousClock.now - heartbeatStart < .milliseconds(500))
        try client.send("interrupt_request", on: client.control)
        #expect(try client.reply(to: slow, on: client.shell, timeout: 1_000).content["ename"] == "Interrupted")
    }

    @Test func sigintInterruptsTheRunningCell() throws {
        let kernel = try RunningKernel(handleSignals: true)
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)
        Thread.sleep(forTimeInterval: 0.1)  // the signal source needs a moment after resume()

        let slow = try client.execute("slow")
        while try client.receive(on: client.iopub)?.msgType != "execute_input" {}
        kill(getpid(), SIGINT)
        let reply = try client.reply(to: slow, on: client.shell, timeout: 1_000)
        #expect(reply.content["ename"] == "Interrupted")
    }

    @Test func progressUpdatesShareOneDisplayID() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let id = try client.execute("progress")
        _ = try client.reply(to: id, on: client.shell)
        let outputs = try client.iopubMessages(for: id).filter { $0.msgType.contains("display") }
        #expect(outputs.map(\.msgType) == ["display_data", "update_display_data", "update_display_data", "update_display_data"])
        #expect(outputs.allSatisfy { $0.content["transient"]?["display_id"] == "progress-1" })
        #expect(outputs.last?.content["data"] == ["text/plain": "step 3/3"])
        #expect(outputs.allSatisfy { $0.content["metadata"] == [:] })
    }

    @Test func jsonOutputIsEmbeddedAsAValueAndPagesReachTheReply() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let json = try client.execute("json")
        _ = try client.reply(to: json, on: client.shell)
        let display = try #require(try client.iopubMessages(for: json).first { $0.msgType == "display_data" })
        #expect(display.content["data"]?["application/json"] == ["a": [1, 2], "b": "খুব"])
        #expect(display.content["transient"] == nil)

        let help = try client.execute("help")
        let reply = try client.reply(to: help, on: client.shell)
        #expect(reply.content["payload"] == [["source": "page", "data": ["text/plain": "help text", "text/html": "<b>help</b>"], "start": 0]])

        let clear = try client.execute("clear")
        _ = try client.reply(to: clear, on: client.shell)
        #expect(try client.iopubMessages(for: clear).first { $0.msgType == "clear_output" }?.content == ["wait": true])
    }

    @Test func userExpressionsAreEvaluatedQuietly() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let id = try client.execute("print x", userExpressions: ["answer": "6*7", "broken": "fail"])
        let reply = try client.reply(to: id, on: client.shell)
        #expect(reply.content["user_expressions"]?["answer"] == ["status": "ok", "data": ["text/plain": "42"], "metadata": [:]])
        #expect(reply.content["user_expressions"]?["broken"]?["status"] == "error")
        #expect(reply.content["user_expressions"]?["broken"]?["ename"] == "FinchError")
        // The expressions published nothing: one stream (the cell's own print) and no execute_result.
        let outputs = try client.iopubMessages(for: id)
        #expect(outputs.map(\.msgType) == ["status", "execute_input", "stream", "status"])
    }

    @Test func completeInspectIsCompleteAndComms() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let complete = try client.send("complete_request", ["code": "খুব dat", "cursor_pos": 7], on: client.shell)
        let completion = try client.reply(to: complete, on: client.shell)
        #expect(completion.content == ["status": "ok", "matches": ["data", "data_load"], "cursor_start": 4, "cursor_end": 7, "metadata": [:]])

        let noCursor = try client.send("complete_request", ["code": "dr"], on: client.shell)
        #expect(try client.reply(to: noCursor, on: client.shell).content["matches"] == ["dropout"])

        let inspect = try client.send("inspect_request", ["code": "lora", "cursor_pos": 2, "detail_level": 1], on: client.shell)
        let help = try client.reply(to: inspect, on: client.shell)
        #expect(help.content == ["status": "ok", "found": true, "data": ["text/plain": "lora r=16 alpha=32 (detail 1)"], "metadata": [:]])
        let nothing = try client.send("inspect_request", ["code": "zzz", "cursor_pos": 1, "detail_level": 0], on: client.shell)
        #expect(try client.reply(to: nothing, on: client.shell).content == ["status": "ok", "found": false, "data": [:], "metadata": [:]])

        let samples: [(String, JSON)] = [
            ("x = [1,\n  [", ["status": "incomplete", "indent": "  "]), ("6*7", ["status": "complete"]), ("x = ]", ["status": "invalid"]),
        ]
        for (code, expected) in samples {
            let id = try client.send("is_complete_request", ["code": .string(code)], on: client.shell)
            #expect(try client.reply(to: id, on: client.shell).content == expected)
        }

        let info = try client.send("comm_info_request", ["target_name": "jupyter.widget"], on: client.shell)
        #expect(try client.reply(to: info, on: client.shell).content == ["status": "ok", "comms": [:]])

        let open = try client.send("comm_open", ["comm_id": "c-1", "target_name": "jupyter.widget", "data": [:]], on: client.shell)
        let closed = try client.iopubMessages(for: open).first { $0.msgType == "comm_close" }
        #expect(closed?.content == ["comm_id": "c-1", "data": [:]])

        let connect = try client.send("connect_request", on: client.shell)
        let ports = try client.reply(to: connect, on: client.shell)
        #expect(ports.content["shell_port"]?.intValue.map { kernel.server.endpoints.shell.hasSuffix(":\($0)") } == true)
    }

    @Test func inputRoundTripAndRefusal() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let asking = try client.execute("ask", allowStdin: true)
        let request = try #require(try client.receive(on: client.stdin))
        #expect(request.msgType == "input_request")
        #expect(request.content == ["prompt": "name? ", "password": false])
        #expect(request.parentID == asking)
        let (frames, _) = client.frames("input_reply", ["value": "Ada Lovelace খুব"])
        var reply = frames
        // The reply's parent is the input request, as jupyter_client sends it.
        reply[3] = request.header.serialized
        reply[1] = Array(client.signer.signature(for: Array(reply[2...5])).utf8)
        try client.stdin.send(reply)
        _ = try client.reply(to: asking, on: client.shell)
        let result = try client.iopubMessages(for: asking).first { $0.msgType == "execute_result" }
        #expect(result?.content["data"] == ["text/plain": "hello Ada Lovelace খুব"])

        let refused = try client.execute("ask", allowStdin: false)
        let refusal = try client.reply(to: refused, on: client.shell)
        #expect(refusal.content["status"] == "error")
        #expect(refusal.content["ename"] == "InputUnavailable")
        #expect(refusal.content["evalue"]?.stringValue?.contains("allow_stdin") == true)
        #expect(try client.receive(on: client.stdin, timeout: 100) == nil)
    }

    @Test func interruptEndsAWaitForInput() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let asking = try client.execute("ask", allowStdin: true)
        #expect(try client.receive(on: client.stdin)?.msgType == "input_request")
        try client.send("interrupt_request", on: client.control)
        let reply = try client.reply(to: asking, on: client.shell, timeout: 1_000)
        #expect(reply.content["ename"] == "InputUnavailable")
        #expect(reply.content["evalue"]?.stringValue?.contains("interrupted") == true)
        Thread.sleep(forTimeInterval: 0.05)
        let after = try client.execute("6*7")
        #expect(try client.reply(to: after, on: client.shell).content["status"] == "ok")
    }

    @Test func interruptBeforeAnInputRequestEndsItAtOnce() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let asking = try client.execute("ask after interrupt", allowStdin: true)
        // Interrupt once the interpreter runs the cell (an earlier interrupt skips the cell).
        let deadline = ContinuousClock.now + .seconds(5)
        while kernel.interpreter.executedCodes.isEmpty, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
        try client.send("interrupt_request", on: client.control)
        let reply = try client.reply(to: asking, on: client.shell, timeout: 1_000)
        #expect(reply.content["ename"] == "InputUnavailable")
        #expect(reply.content["evalue"]?.stringValue?.contains("interrupted") == true)
        #expect(try client.receive(on: client.stdin, timeout: 100) == nil, "no input_request after the interrupt")
    }

    @Test func shutdownRepliesEchoesRestartAndStops() throws {
        let kernel = try RunningKernel()
        let client = try TestClient(kernel.server.endpoints)

        let id = try client.send("shutdown_request", ["restart": true], on: client.control)
        let reply = try client.reply(to: id, on: client.control)
        #expect(reply.content == ["status": "ok", "restart": true])
        let broadcast = try client.iopubMessages(for: id).first { $0.msgType == "shutdown_reply" }
        #expect(broadcast?.content == ["status": "ok", "restart": true])
        #expect(kernel.waitForExit() == ShutdownRequest(restart: true))
    }

    @Test func shutdownWhileACellRunsInterruptsIt() throws {
        let kernel = try RunningKernel()
        let client = try TestClient(kernel.server.endpoints)

        let slow = try client.execute("slow")
        while try client.receive(on: client.iopub)?.msgType != "execute_input" {}
        let start = ContinuousClock.now
        let id = try client.send("shutdown_request", ["restart": false], on: client.control)
        #expect(try client.reply(to: id, on: client.control).content["restart"] == false)
        #expect(try client.reply(to: slow, on: client.shell).content["ename"] == "Interrupted")
        #expect(kernel.waitForExit() == ShutdownRequest(restart: false))
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func anOrphanedKernelShutsDown() throws {
        let kernel = try RunningKernel()
        // Watching a process that is not our parent looks like a parent that went away.
        kernel.server.stopWhenOrphaned(parent: getppid() + 1, interval: 0.05)
        #expect(kernel.waitForExit(timeout: 3) == ShutdownRequest(restart: false))
        #expect(kernel.logLines.contains("parent process"))
    }

    @Test func heartbeatEchoes() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints, waitForWelcome: false)
        for payload in [Array("ping".utf8), [0, 255, 7]] {
            try client.heartbeat.send([payload])
            #expect(try client.receive(rawOn: client.heartbeat) == [payload])
        }
    }
}

extension TestClient {
    /// The raw frames of the next message on `socket` (within 5 s).
    func receive(rawOn socket: ZMQSocket) throws -> [[UInt8]] {
        try #require(ZMQSocket.poll([socket], timeoutMilliseconds: 5_000) == [0], "no message within 5 s")
        return try socket.receive()
    }
}
