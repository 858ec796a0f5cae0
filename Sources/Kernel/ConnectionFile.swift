import Foundation

/// Where a kernel listens and how it signs messages: the contents of a Jupyter connection file.
///
/// A port of 0 binds an ephemeral port; `KernelServer.endpoints` then tells the actual ones
/// (in-process tests use this).
public struct KernelConnection: Sendable, Equatable {
    /// `tcp` or `ipc`.
    public var transport: String
    /// The address to bind (`tcp`) or the path prefix of the socket files (`ipc`).
    public var ip: String
    public var shellPort: Int
    public var iopubPort: Int
    public var stdinPort: Int
    public var controlPort: Int
    public var heartbeatPort: Int
    /// The HMAC key; empty turns signing off (accepted from a file only when it says `"key": ""`).
    public var key: String
    public var signatureScheme: String

    public init(
        transport: String = "tcp", ip: String = "127.0.0.1", shellPort: Int = 0, iopubPort: Int = 0, stdinPort: Int = 0,
        controlPort: Int = 0, heartbeatPort: Int = 0, key: String, signatureScheme: String = MessageSigner.scheme
    ) {
        self.transport = transport
        self.ip = ip
        self.shellPort = shellPort
        self.iopubPort = iopubPort
        self.stdinPort = stdinPort
        self.controlPort = controlPort
        self.heartbeatPort = heartbeatPort
        self.key = key
        self.signatureScheme = signatureScheme
    }

    /// Reads a connection file.
    /// - Throws: `ConnectionFileError` when the file cannot be read or lacks a field.
    public init(contentsOf file: URL) throws(ConnectionFileError) {
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: file))
        } catch {
            throw ConnectionFileError(path: file.path, reason: "cannot read it (\(error.localizedDescription))")
        }
        try self.init(json: bytes, path: file.path)
    }

    /// Parses connection-file JSON; `path` names the file in errors.
    public init(json bytes: [UInt8], path: String = "connection file") throws(ConnectionFileError) {
        let object: JSON
        do {
            object = try JSON.parse(bytes)
        } catch {
            throw ConnectionFileError(path: path, reason: error.description)
        }
        guard object.objectValue != nil else { throw ConnectionFileError(path: path, reason: "not a JSON object") }

        func port(_ name: String) throws(ConnectionFileError) -> Int {
            guard let value = object[name]?.intValue, (0...65_535).contains(value) else {
                throw ConnectionFileError(path: path, reason: "\"\(name)\" is missing or not a port number")
            }
            return value
        }
        func text(_ name: String, default defaultValue: String? = nil) throws(ConnectionFileError) -> String {
            if let value = object[name]?.stringValue { return value }
            if let defaultValue, object[name] == nil || object[name] == .null { return defaultValue }
            throw ConnectionFileError(path: path, reason: "\"\(name)\" is missing or not a string")
        }

        // Signing is off only when the file says so with an empty key: a file without a key is refused.
        func signingKey() throws(ConnectionFileError) -> String {
            guard let key = object["key"]?.stringValue else {
                throw ConnectionFileError(path: path, reason: "\"key\" is missing or not a string (an empty \"key\": \"\" turns message signing off)")
            }
            return key
        }

        self.init(
            transport: try text("transport", default: "tcp"), ip: try text("ip", default: "127.0.0.1"),
            shellPort: try port("shell_port"), iopubPort: try port("iopub_port"), stdinPort: try port("stdin_port"),
            controlPort: try port("control_port"), heartbeatPort: try port("hb_port"),
            key: try signingKey(), signatureScheme: try text("signature_scheme", default: MessageSigner.scheme))
        guard transport == "tcp" || transport == "ipc" else {
            throw ConnectionFileError(path: path, reason: "unsupported transport \"\(transport)\" (tcp or ipc)")
        }
    }

    /// The ZeroMQ endpoint to bind for `port`: `tcp://IP:PORT` (`*` for port 0) or `ipc://IP-PORT`.
    public func endpoint(port: Int) -> String {
        if transport == "ipc" { return "ipc://\(ip)-\(port)" }
        return "tcp://\(ip):\(port == 0 ? "*" : String(port))"
    }
}

/// A connection file that cannot be used.
public struct ConnectionFileError: Error, CustomStringConvertible {
    /// The file's path.
    public let path: String
    /// What is wrong with it.
    public let reason: String

    public var description: String { "connection file \(path): \(reason)" }
}
