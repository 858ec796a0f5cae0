import Foundation

/// The frame between the routing identities and the signed parts of a Jupyter message.
let messageDelimiter = Array("<IDS|MSG>".utf8)

/// The protocol version the kernel writes into every header.
public let kernelProtocolVersion = "5.4"

/// A message from a front end whose signature checked out and whose parts parsed.
struct IncomingMessage {
    /// The ROUTER routing identities before the delimiter: where replies go.
    var identities: [[UInt8]]
    /// The header exactly as received, echoed as the `parent_header` of every message it causes.
    var headerBytes: [UInt8]
    var header: JSON
    var msgType: String
    var msgID: String
    /// The parsed parent header (an empty object for none).
    var parentHeader: JSON
    var metadata: JSON
    var content: JSON
    var buffers: [[UInt8]]
}

/// Why a received multipart message was dropped.
enum WireError: Error, CustomStringConvertible {
    case missingDelimiter(frames: Int)
    case missingParts(found: Int)
    case badSignature
    case replayedSignature
    case malformedPart(name: String, reason: String)

    var description: String {
        switch self {
        case .missingDelimiter(let frames): "no <IDS|MSG> delimiter among \(frames) frames"
        case .missingParts(let found): "\(found) frames after <IDS|MSG>, expected at least 5"
        case .badSignature: "bad HMAC signature"
        case .replayedSignature: "a signature seen before (replayed message)"
        case .malformedPart(let name, let reason): "malformed \(name): \(reason)"
        }
    }
}

/// Turns multipart frames into `IncomingMessage`s and replies into signed frames, for one kernel
/// session. Safe to use from several threads.
final class MessageCodec: @unchecked Sendable {
    /// The kernel's session id, written into every header it sends.
    let session: String
    let signer: MessageSigner
    private let username: String
    private let lock = NSLock()
    private var sentCount = 0
    /// Signatures seen recently (oldest first in `recentOrder`), to drop replayed messages.
    private var recentSignatures: Set<[UInt8]> = []
    private var recentOrder: [[UInt8]] = []
    private var recentStart = 0
    private static let rememberedSignatures = 65_536

    init(signer: MessageSigner, session: String = UUID().uuidString.lowercased(), username: String? = nil) {
        self.signer = signer
        self.session = session
        self.username = username ?? ProcessInfo.processInfo.environment["USER"] ?? "finch"
    }

    /// Verifies and parses `frames`: identities, `<IDS|MSG>`, signature, header, parent header,
    /// metadata, content, then any buffers.
    func decode(_ frames: [[UInt8]]) throws(WireError) -> IncomingMessage {
        guard let delimiter = frames.firstIndex(of: messageDelimiter) else {
            throw .missingDelimiter(frames: frames.count)
        }
        let parts = frames[(delimiter + 1)...]
        guard parts.count >= 5 else { throw .missingParts(found: parts.count) }
        let signature = parts[parts.startIndex]
        let signed = Array(parts[(parts.startIndex + 1)...(parts.startIndex + 4)])
        guard signer.isValid(signature: signature, for: signed) else { throw .badSignature }
        if signer.isEnabled, !remember(signature) { throw .replayedSignature }

        func object(_ bytes: [UInt8], _ name: String) throws(WireError) -> JSON {
            let value: JSON
            do {
                value = try JSON.parse(bytes)
            } catch {
                throw .malformedPart(name: name, reason: error.description)
            }
            guard value.objectValue != nil else { throw .malformedPart(name: name, reason: "not a JSON object") }
            return value
        }
        let header = try object(signed[0], "header")
        guard let msgType = header["msg_type"]?.stringValue, !msgType.isEmpty else {
            throw .malformedPart(name: "header", reason: "no msg_type")
        }
        let parentHeader = try object(signed[1], "parent_header")
        let metadata = try object(signed[2], "metadata")
        let content = try object(signed[3], "content")
        return IncomingMessage(
            identities: Array(frames[..<delimiter]), headerBytes: signed[0], header: header, msgType: msgType,
            msgID: header["msg_id"]?.stringValue ?? "", parentHeader: parentHeader, metadata: metadata, content: content,
            buffers: Array(parts.dropFirst(5)))
    }

    /// The frames of a new message from the kernel: `identities` (routing ids, or an iopub topic),
    /// the delimiter, the signature, then header, parent header (`parentHeader`: the raw header of
    /// the request it answers, or nil for none), metadata and content.
    func encode(
        _ msgType: String, content: JSON, parentHeader: [UInt8]?, metadata: JSON = [:], identities: [[UInt8]] = []
    ) -> [[UInt8]] {
        let header: JSON = [
            "msg_id": .string(nextMessageID()),
            "msg_type": .string(msgType),
            "session": .string(session),
            "username": .string(username),
            "date": .string(Timestamp.now()),
            "version": .string(kernelProtocolVersion),
        ]
        let signed = [header.serialized, parentHeader ?? Array("{}".utf8), metadata.serialized, content.serialized]
        return identities + [messageDelimiter, Array(signer.signature(for: signed).utf8)] + signed
    }

    private func nextMessageID() -> String {
        lock.lock()
        sentCount += 1
        let count = sentCount
        lock.unlock()
        return "\(session)_\(count)"
    }

    /// Records `signature`; false when it was seen before.
    private func remember(_ signature: [UInt8]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard recentSignatures.insert(signature).inserted else { return false }
        recentOrder.append(signature)
        if recentOrder.count - recentStart > Self.rememberedSignatures {
            recentSignatures.remove(recentOrder[recentStart])
            recentStart += 1
            if recentStart > Self.rememberedSignatures {
                recentOrder.removeFirst(recentStart)
                recentStart = 0
            }
        }
        return true
    }
}
