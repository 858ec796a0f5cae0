import FinchKernel
import Foundation
import Testing

/// What a careless or hostile client may send: the kernel drops it, logs why, and keeps serving.
@Suite struct KernelRobustnessTests {
    /// Asserts that the kernel still answers kernel_info on shell.
    func expectAlive(_ client: TestClient) throws {
        let id = try client.send("kernel_info_request", on: client.shell)
        #expect(try client.reply(to: id, on: client.shell).content["status"] == "ok")
    }

    @Test func forgedSignatureIsIgnored() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let forged = client.frames("execute_request", ["code": "print forged", "silent": false], signature: String(repeating: "0", count: 64))
        try client.shell.send(forged.frames)
        let unsigned = client.frames("execute_request", ["code": "print unsigned", "silent": false], signature: "")
        try client.shell.send(unsigned.frames)
        // Signed with another key.
        var otherKey = client.frames("execute_request", ["code": "print other key", "silent": false]).frames
        otherKey[1] = Array(MessageSigner(key: "not the key").signature(for: Array(otherKey[2...5])).utf8)
        try client.shell.send(otherKey)

        #expect(try client.receive(on: client.shell, timeout: 300) == nil, "no reply to a forged message")
        try expectAlive(client)
        #expect(kernel.interpreter.executedCodes.isEmpty)
        #expect(kernel.logLines.all.filter { $0.contains("bad HMAC signature") }.count == 3)
    }

    @Test func replayedMessageIsIgnored() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let (frames, id) = client.frames("execute_request", ["code": "6*7"])
        try client.shell.send(frames)
        _ = try client.reply(to: id, on: client.shell)
        try client.shell.send(frames)
        #expect(try client.receive(on: client.shell, timeout: 300) == nil)
        #expect(kernel.interpreter.executedCodes == ["6*7"])
        #expect(kernel.logLines.contains("replayed"))
    }

    @Test func malformedMessagesAreDroppedAndLogged() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        func signed(_ parts: [String]) -> [[UInt8]] {
            let bytes = parts.map { Array($0.utf8) }
            return [Array("<IDS|MSG>".utf8), Array(client.signer.signature(for: bytes).utf8)] + bytes
        }
        let header = #"{"msg_id":"m","msg_type":"execute_request","session":"s","username":"u","date":"","version":"5.4"}"#
        try client.shell.send(signed(["{not json", "{}", "{}", "{}"]))
        try client.shell.send(signed([header, "{}", "{}", #"{"code": "6*7""#]))
        try client.shell.send(signed(["[1, 2]", "{}", "{}", "{}"]))
        try client.shell.send(signed([#"{"msg_id":"m2"}"#, "{}", "{}", "{}"]))
        try client.shell.send([Array("<IDS|MSG>".utf8), Array("abc".utf8), Array(header.utf8)])
        try client.shell.send([Array("no delimiter".utf8), Array("{}".utf8)])
        try client.shell.send([[]])
        try client.shell.send([[UInt8](repeating: 0xff, count: 3), Array("<IDS|MSG>".utf8)])
        try client.control.send([Array("<IDS|MSG>".utf8)])
        try client.stdin.send([Array("stray".utf8)])
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        try client.shell.send(signed([header, "{}", "{}", #"{"code": \#(deep)}"#]))

        try expectAlive(client)
        #expect(kernel.interpreter.executedCodes.isEmpty)
        #expect(kernel.logLines.contains("malformed header"))
        #expect(kernel.logLines.contains("malformed content"))
        #expect(kernel.logLines.contains("no msg_type"))
        #expect(kernel.logLines.contains("no <IDS|MSG> delimiter"))
        #expect(kernel.logLines.contains("expected at least 5"))
        #expect(kernel.logLines.contains("nesting deeper than"))
    }

    @Test func unknownMessageTypesGetStatusButNoReply() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let id = try client.send("frobnicate_request", ["x": 1], on: client.shell)
        #expect(try client.iopubMessages(for: id).map { $0.content["execution_state"]?.stringValue } == ["busy", "idle"])
        let again = try client.send("frobnicate_request", ["x": 2], on: client.shell)
        #expect(try client.iopubMessages(for: again).count == 2)
        let onControl = try client.send("debug_request", ["command": "initialize"], on: client.control)
        #expect(try client.iopubMessages(for: onControl).count == 2)
        #expect(try client.receive(on: client.shell, timeout: 200) == nil)
        #expect(kernel.logLines.all.filter { $0.contains("unknown message type frobnicate_request") }.count == 1, "logged once")
        #expect(kernel.logLines.contains("unsupported message type debug_request"))
        try expectAlive(client)
    }

    @Test func hugeCellRuns() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)

        let code = String(repeating: "# comment line of some length\n", count: 40_000)  // 1.2 MB
        let id = try client.execute(code)
        let reply = try client.reply(to: id, on: client.shell, timeout: 10_000)
        #expect(reply.content["status"] == "ok")
        #expect(kernel.interpreter.executedCodes == [code])
        let input = try client.iopubMessages(for: id).first { $0.msgType == "execute_input" }
        #expect(input?.content["code"]?.stringValue == code)
    }

    @Test func clientThatDisappearsMidCellDoesNotHurt() throws {
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        do {
            let leaving = try TestClient(kernel.server.endpoints)
            try leaving.execute("slow")
            while try leaving.receive(on: leaving.iopub)?.msgType != "execute_input" {}
            // Its sockets close here, mid-cell (linger 0).
        }
        kernel.server.interrupt()
        Thread.sleep(forTimeInterval: 0.1)  // past the stop-on-error window of the interrupted cell
        let client = try TestClient(kernel.server.endpoints)
        let id = try client.execute("6*7")
        #expect(try client.reply(to: id, on: client.shell).content["execution_count"] == 2)
    }

    @Test func newestControlConnectionWithASharedIdentityIsServed() throws {
        // jupyter_client's KernelManager and its clients share a session, hence a routing id on
        // control: a second connection with that id must be served (it takes the id over).
        let kernel = try RunningKernel()
        defer { kernel.stop() }
        let client = try TestClient(kernel.server.endpoints)
        let context = try ZMQContext()
        var sockets: [ZMQSocket] = []
        for _ in 0..<2 {
            let control = try ZMQSocket(context, type: .dealer)
            try control.setLinger(milliseconds: 0)
            try control.setRoutingID(Array("shared-session".utf8))
            try control.connect(kernel.server.endpoints.control)
            sockets.append(control)
            let (frames, request) = client.frames("kernel_info_request", [:])
            try control.send(frames)
            #expect(try client.reply(to: request, on: control).msgType == "kernel_info_reply")
        }
    }
}
