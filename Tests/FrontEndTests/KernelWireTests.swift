@testable import FinchKernel
import Foundation
import Testing

/// The pieces under the kernel: JSON, timestamps, connection files, the wire codec, the kernelspec.
@Suite struct KernelWireTests {
    @Test func jsonRoundTripsAndEscapes() throws {
        let text = #"{"a": [1, -2.5, 1e-05, true, false, null], "s": "q\"b\\n\n\t\u0001 খুব 🙂 \ud83d\ude00 \/", "e": {}, "big": 12345678901234567890}"#
        let value = try JSON.parse(text)
        #expect(value["a"] == [1, -2.5, 0.00001, true, false, nil])
        #expect(value["s"] == .string("q\"b\\n\n\t\u{1} খুব 🙂 😀 /"))
        #expect(value["e"] == [:])
        #expect(value["big"] == .double(1.2345678901234567e19))
        #expect(try JSON.parse(value.serialized) == value)
        #expect(JSON.string("a\"b\\c\n\u{1}").serializedString == #""a\"b\\c\n\u0001""#)
        #expect(JSON.object(["b": 1, "a": [true, .null], "c": .verbatim(#"{"x": 1}"#)]).serializedString == #"{"a":[true,null],"b":1,"c":{"x": 1}}"#)
        #expect(JSON.double(.nan).serializedString == "null")
        #expect(JSON.double(2.0).intValue == 2)
        #expect(JSON.double(2.5).intValue == nil)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "01", "1.", "-", "\"abc", "\"\u{1}\"", "\"\\x\"", "{} {}", "[1 2]", "{1: 2}", "\"\\u12\""])
    func invalidJSONIsAnError(text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let error = #expect(throws: JSONParseError.self) { try JSON.parse(deep) }
        #expect(error?.reason.contains("nesting") == true)
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(throws: Never.self) { try JSON.parse(fine) }
    }

    @Test func timestampsHaveMicrosecondsAndZ() {
        #expect(Timestamp.format(seconds: 0, microseconds: 7) == "1970-01-01T00:00:00.000007Z")
        #expect(Timestamp.format(seconds: 1_700_000_000, microseconds: 123_456) == "2023-11-14T22:13:20.123456Z")
        let now = Timestamp.now()
        #expect(now.count == 27)
        #expect(now.hasSuffix("Z"))
        #expect(now.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/) != nil)
    }

    @Test func connectionFileIsRead() throws {
        let file = temporaryDirectory().appendingPathComponent("kernel-1.json")
        try Data(#"""
            {"shell_port": 5001, "iopub_port": 5002, "stdin_port": 5003, "control_port": 5004, "hb_port": 5005,
             "ip": "127.0.0.1", "key": "a0436f6c-1916-498b", "transport": "tcp", "signature_scheme": "hmac-sha256",
             "kernel_name": "finch"}
            """#.utf8).write(to: file)
        let connection = try KernelConnection(contentsOf: file)
        #expect(connection == KernelConnection(
            shellPort: 5001, iopubPort: 5002, stdinPort: 5003, controlPort: 5004, heartbeatPort: 5005, key: "a0436f6c-1916-498b"))
        #expect(connection.endpoint(port: 5001) == "tcp://127.0.0.1:5001")
        #expect(connection.endpoint(port: 0) == "tcp://127.0.0.1:*")

        let missing = #expect(throws: ConnectionFileError.self) { try KernelConnection(json: Array(#"{"shell_port": 1}"#.utf8)) }
        #expect(missing?.description.contains("iopub_port") == true)
        #expect(throws: ConnectionFileError.self) { try KernelConnection(contentsOf: file.appendingPathExtension("absent")) }
        #expect(throws: ConnectionFileError.self) { try KernelConnection(json: Array("not json".utf8)) }

        // Signing is off only when the file says so: an empty key is accepted, a missing one is not.
        let ports = #""shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5"#
        #expect(try KernelConnection(json: Array("{\(ports), \"key\": \"\"}".utf8)).key == "")
        let keyless = #expect(throws: ConnectionFileError.self) { try KernelConnection(json: Array("{\(ports)}".utf8)) }
        #expect(keyless?.reason.contains("\"key\" is missing") == true)
        #expect(throws: ConnectionFileError.self) { try KernelConnection(json: Array("{\(ports), \"key\": 7}".utf8)) }
    }

    @Test func serverRefusesAnUnknownSignatureScheme() {
        let connection = KernelConnection(key: "k", signatureScheme: "hmac-md5")
        #expect(throws: UnsupportedSignatureScheme.self) {
            _ = try KernelServer(connection: connection, interpreter: TestInterpreter(),
                                 options: .init(history: KernelHistory(file: nil), log: .silent))
        }
    }

    @Test func codecSignsVerifiesAndEchoesTheParentHeaderVerbatim() throws {
        let codec = MessageCodec(signer: MessageSigner(key: "secret"), session: "kernel-session", username: "me")
        let parent = Array(#"{"msg_id": "req-1",   "msg_type": "execute_request", "session": "s", "username": "u", "date": "d", "version": "5.3"}"#.utf8)
        let frames = codec.encode("stream", content: ["name": "stdout", "text": "hi"], parentHeader: parent, identities: [[1, 2, 3]])
        #expect(frames[0] == [1, 2, 3])
        #expect(frames[1] == messageDelimiter)
        #expect(frames[4] == parent)
        #expect(MessageSigner(key: "secret").isValid(signature: frames[2], for: Array(frames[3...6])))
        let header = try JSON.parse(frames[3])
        #expect(header["msg_type"] == "stream")
        #expect(header["session"] == "kernel-session")
        #expect(header["username"] == "me")
        #expect(header["version"] == "5.4")

        // The kernel's own output decodes (as a client would see it after the ROUTER strips identities).
        let receiver = MessageCodec(signer: MessageSigner(key: "secret"))
        let decoded = try receiver.decode(frames)
        #expect(decoded.identities == [[1, 2, 3]])
        #expect(decoded.msgType == "stream")
        #expect(decoded.parentHeader["msg_id"] == "req-1")
        #expect(decoded.content == ["name": "stdout", "text": "hi"])
        #expect(throws: WireError.self) { try receiver.decode(frames) }  // replayed

        var tampered = codec.encode("stream", content: ["text": "hi"], parentHeader: nil)
        tampered[5] = Array(#"{"text":"HI"}"#.utf8)
        #expect(throws: WireError.self) { try receiver.decode(tampered) }
    }

    @Test func unsignedSessionsAcceptAnySignature() throws {
        let codec = MessageCodec(signer: MessageSigner(key: ""))
        let frames = codec.encode("status", content: ["execution_state": "idle"], parentHeader: nil)
        #expect(frames[1].isEmpty)
        #expect(try codec.decode(frames).msgType == "status")
        #expect(try codec.decode(frames).msgType == "status")  // no replay check without a key
    }

    @Test func kernelspecInstallsWithAbsoluteBinaryAndLogos() throws {
        let prefix = temporaryDirectory()
        let folder = try KernelSpec.install(executable: "/opt/finch/bin/finch", destination: .prefix(prefix.path))
        #expect(folder.path == prefix.appendingPathComponent("share/jupyter/kernels/finch").path)
        let spec = try JSON.parse(Array(try Data(contentsOf: folder.appendingPathComponent("kernel.json"))))
        #expect(spec == [
            "argv": ["/opt/finch/bin/finch", "kernel", "--connection-file", "{connection_file}"],
            "display_name": "Finch", "language": "finch", "interrupt_mode": "message", "metadata": ["debugger": false],
        ])
        for size in [32, 64] {
            let png = try Data(contentsOf: folder.appendingPathComponent("logo-\(size)x\(size).png"))
            #expect(png.prefix(8) == Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
            // IHDR width and height.
            #expect(png[16..<24] == Data([0, 0, 0, UInt8(size), 0, 0, 0, UInt8(size)]))
        }
        // Installing again replaces the files.
        #expect(try KernelSpec.install(executable: "/usr/bin/finch", destination: .prefix(prefix.path), displayName: "Finch 2").path == folder.path)
        let again = try JSON.parse(Array(try Data(contentsOf: folder.appendingPathComponent("kernel.json"))))
        #expect(again["display_name"] == "Finch 2")
    }

    @Test func kernelspecDestinations() throws {
        #expect(try KernelSpec.dataDirectory(for: .user, environment: ["JUPYTER_DATA_DIR": "/j"]).path == "/j")
        #expect(try KernelSpec.dataDirectory(for: .user, environment: ["HOME": "/home/u"]).path == "/home/u/.local/share/jupyter")
        #expect(try KernelSpec.dataDirectory(for: .user, environment: ["HOME": "/home/u", "XDG_DATA_HOME": "/x"]).path == "/x/jupyter")
        #expect(try KernelSpec.dataDirectory(for: .sysPrefix, environment: ["VIRTUAL_ENV": "/venv"]).path == "/venv/share/jupyter")
        #expect(throws: KernelSpecError.self) { try KernelSpec.dataDirectory(for: .sysPrefix, environment: [:]) }
    }

    /// The repository's kernelspec folder matches what `finch kernel install` writes.
    @Test func repositoryKernelspecMatchesTheEmbeddedOne() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("kernelspec/finch")
        let spec = try JSON.parse(Array(try Data(contentsOf: folder.appendingPathComponent("kernel.json"))))
        #expect(spec == (try JSON.parse(KernelSpec.kernelJSON(executable: "finch"))))
        for (name, bytes) in KernelSpec.logos {
            #expect(try Data(contentsOf: folder.appendingPathComponent(name)) == bytes, "\(name) differs from KernelLogos.swift: rerun scripts/make-logos.py")
        }
    }
}
