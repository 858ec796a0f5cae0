@testable import FinchKernel
import FuzzSupport

/// The byte that separates frames in a wire fuzz input (never valid inside JSON text).
let frameSeparator: UInt8 = 0

/// Decodes a multipart Jupyter message. The first byte chooses the signing: bit 0 on signs with a key, bit 1 on
/// replaces the frame after `<IDS|MSG>` by the correct signature (so the fuzzer gets past the HMAC check and into
/// the header, parent header, metadata and content). The rest, cut at 0x00 bytes, are the frames. Every frame is
/// also parsed on its own by the kernel's JSON parser, and every parsed value must serialize to JSON that parses
/// back to the same text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let mode = bytes.first else { return 0 }
    var frames = pieces(of: bytes.dropFirst(), separator: frameSeparator)
    for frame in frames { checkJSONRoundTrip(frame) }

    let signer = MessageSigner(key: mode & 1 == 1 ? "fuzz-key" : "")
    if mode & 2 == 2, let delimiter = frames.firstIndex(of: messageDelimiter), frames.count >= delimiter + 6 {
        frames[delimiter + 1] = Array(signer.signature(for: Array(frames[(delimiter + 2)...(delimiter + 5)])).utf8)
    }
    let codec = MessageCodec(signer: signer, session: "fuzz-session", username: "fuzz")
    guard let message = try? codec.decode(frames) else { return 0 }
    fuzzCheck(!message.msgType.isEmpty, "decoded a message without msg_type")
    fuzzCheck(message.content.objectValue != nil && message.metadata.objectValue != nil, "content or metadata is not an object")

    // A reply to it must decode again with the same key, echoing the request's header as its parent.
    let reply = codec.encode(message.msgType, content: message.content, parentHeader: message.headerBytes, identities: message.identities)
    let receiver = MessageCodec(signer: signer, session: "fuzz-receiver", username: "fuzz")
    do {
        let decoded = try receiver.decode(reply)
        fuzzCheck(decoded.parentHeader == message.header, "the reply's parent header differs from the request's header")
        fuzzCheck(decoded.content.serialized == message.content.serialized, "the reply's content differs")
        fuzzCheck(decoded.identities == message.identities, "the reply's identities differ")
    } catch {
        fuzzCheck(false, "the kernel's own reply does not decode: \(error)")
    }
    // A second delivery of a signed message is a replay.
    if signer.isEnabled {
        do {
            _ = try codec.decode(frames)
            fuzzCheck(false, "a replayed signed message was accepted")
        } catch {
            if case .replayedSignature = error {} else { fuzzCheck(false, "a replayed message was refused as \(error)") }
        }
    }
    return 0
}

/// Parsed JSON must serialize to text that parses and serializes to the same bytes.
func checkJSONRoundTrip(_ frame: [UInt8]) {
    guard let value = try? JSON.parse(frame) else { return }
    let text = value.serialized
    do {
        let again = try JSON.parse(text)
        fuzzCheck(again.serialized == text, "JSON serialization is not stable for \(String(decoding: text, as: UTF8.self))")
    } catch {
        fuzzCheck(false, "serialized JSON does not parse: \(error) in \(String(decoding: text, as: UTF8.self))")
    }
}

/// The entry point SwiftPM links in place of `main`: libFuzzer's loop over `fuzzWire`.
@_cdecl("FuzzWire_main")
public func fuzzWireMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzWire)
}
