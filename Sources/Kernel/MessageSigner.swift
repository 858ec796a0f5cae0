import CCrypto

/// Signs and verifies Jupyter wire messages with HMAC-SHA256 (libcrypto's `EVP_MAC`).
///
/// The signature covers the four serialized frames header, parent_header, metadata and content,
/// byte for byte and in that order, and is written as 64 lowercase hex digits. An empty key turns
/// signing off, as in Jupyter: the signature is the empty string and every message verifies.
public struct MessageSigner: Sendable {
    /// The `signature_scheme` of a connection file that this signer implements.
    public static let scheme = "hmac-sha256"

    private let key: [UInt8]

    /// A signer for `key`; an empty key disables signing.
    public init(key: [UInt8]) {
        self.key = key
    }

    /// A signer for the UTF-8 bytes of `key` (a connection file's `key`); an empty key disables signing.
    public init(key: String) {
        self.init(key: Array(key.utf8))
    }

    /// A signer for a connection file's `signature_scheme` and `key`.
    /// - Throws: `UnsupportedSignatureScheme` unless `scheme` is `hmac-sha256`.
    public init(scheme: String, key: String) throws(UnsupportedSignatureScheme) {
        guard scheme == Self.scheme else { throw UnsupportedSignatureScheme(scheme: scheme) }
        self.init(key: key)
    }

    /// Whether messages are signed and checked (the key is not empty).
    public var isEnabled: Bool { !key.isEmpty }

    /// The lowercase hex HMAC-SHA256 of `frames` (header, parent_header, metadata, content);
    /// `""` when signing is disabled.
    public func signature(for frames: [[UInt8]]) -> String {
        String(decoding: hexSignature(for: frames), as: UTF8.self)
    }

    /// Whether `signature` (the raw signature frame) is the signature of `frames`, compared in
    /// constant time. Always true when signing is disabled.
    public func isValid(signature: [UInt8], for frames: [[UInt8]]) -> Bool {
        guard isEnabled else { return true }
        let expected = hexSignature(for: frames)
        guard signature.count == expected.count else { return false }
        return signature.withUnsafeBytes { given in
            expected.withUnsafeBytes { CRYPTO_memcmp(given.baseAddress, $0.baseAddress, $0.count) == 0 }
        }
    }

    /// Whether the hex string `signature` is the signature of `frames`; see `isValid(signature:for:)`.
    public func isValid(signature: String, for frames: [[UInt8]]) -> Bool {
        isValid(signature: Array(signature.utf8), for: frames)
    }

    /// The signature as ASCII hex bytes (empty when disabled).
    private func hexSignature(for frames: [[UInt8]]) -> [UInt8] {
        guard isEnabled else { return [] }
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in hmacSHA256(key: key, frames: frames) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return hex
    }
}

/// A connection file asked for a signature scheme other than `hmac-sha256`.
public struct UnsupportedSignatureScheme: Error, CustomStringConvertible {
    /// The scheme that was asked for.
    public let scheme: String

    public var description: String {
        "unsupported signature scheme \"\(scheme)\" (only \(MessageSigner.scheme) is supported)"
    }
}

/// libcrypto's HMAC implementation, fetched once (`EVP_MAC` objects may be shared across threads).
private nonisolated(unsafe) let hmacAlgorithm: OpaquePointer = {
    guard let mac = EVP_MAC_fetch(nil, "HMAC", nil) else {
        fatalError("libcrypto provides no HMAC implementation")
    }
    return mac
}()

/// HMAC-SHA256 of the concatenation of `frames`, fed to libcrypto frame by frame.
private func hmacSHA256(key: [UInt8], frames: [[UInt8]]) -> [UInt8] {
    guard let context = EVP_MAC_CTX_new(hmacAlgorithm) else { fatalError("EVP_MAC_CTX_new failed") }
    defer { EVP_MAC_CTX_free(context) }

    // OSSL_PARAM keeps the pointers it is given, so both strings must outlive EVP_MAC_init.
    var parameterName = Array("digest".utf8CString)
    var digestName = Array("SHA256".utf8CString)
    let initialized = parameterName.withUnsafeMutableBufferPointer { name in
        digestName.withUnsafeMutableBufferPointer { digest in
            var parameters = [
                OSSL_PARAM_construct_utf8_string(name.baseAddress, digest.baseAddress, 0),
                OSSL_PARAM_construct_end(),
            ]
            return key.withUnsafeBufferPointer { EVP_MAC_init(context, $0.baseAddress, $0.count, &parameters) }
        }
    }
    guard initialized == 1 else { fatalError("EVP_MAC_init(HMAC, SHA256) failed") }

    for frame in frames {
        let updated = frame.withUnsafeBufferPointer { EVP_MAC_update(context, $0.baseAddress, $0.count) }
        guard updated == 1 else { fatalError("EVP_MAC_update failed") }
    }

    var digest = [UInt8](repeating: 0, count: 32)
    var length = 0
    let finished = digest.withUnsafeMutableBufferPointer { EVP_MAC_final(context, $0.baseAddress, &length, $0.count) }
    guard finished == 1, length == 32 else { fatalError("EVP_MAC_final failed") }
    return digest
}
