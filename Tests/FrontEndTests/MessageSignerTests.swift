import FinchKernel
import Testing

/// An RFC 4231 HMAC-SHA256 test case.
struct HMACCase: Sendable, CustomTestStringConvertible {
    let number: Int
    let key: [UInt8]
    let data: [UInt8]
    let digest: String
    var testDescription: String { "RFC 4231 case \(number)" }
}

let rfc4231Cases: [HMACCase] = [
    HMACCase(number: 1, key: [UInt8](repeating: 0x0b, count: 20), data: Array("Hi There".utf8),
             digest: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    HMACCase(number: 2, key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8),
             digest: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    HMACCase(number: 3, key: [UInt8](repeating: 0xaa, count: 20), data: [UInt8](repeating: 0xdd, count: 50),
             digest: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    HMACCase(number: 4, key: Array(1...25), data: [UInt8](repeating: 0xcd, count: 50),
             digest: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    HMACCase(number: 6, key: [UInt8](repeating: 0xaa, count: 131),
             data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
             digest: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    HMACCase(number: 7, key: [UInt8](repeating: 0xaa, count: 131),
             data: Array(("This is a test using a larger than block-size key and a larger than block-size data. "
                 + "The key needs to be hashed before being used by the HMAC algorithm.").utf8),
             digest: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]

/// A signed-looking Jupyter message: header, parent_header, metadata, content.
let sampleFrames: [[UInt8]] = [
    #"{"msg_id":"a1","msg_type":"execute_request","session":"s","username":"u","date":"2024-01-01T00:00:00.000000Z","version":"5.3"}"#,
    "{}",
    "{}",
    #"{"code":"print(\"খুব ভালো 🙂\")","silent":false}"#,
].map { Array($0.utf8) }

@Suite struct MessageSignerTests {
    @Test(arguments: rfc4231Cases)
    func rfc4231(_ testCase: HMACCase) {
        let signer = MessageSigner(key: testCase.key)
        #expect(signer.signature(for: [testCase.data]) == testCase.digest)
        #expect(signer.isValid(signature: testCase.digest, for: [testCase.data]))
    }

    @Test(arguments: [1, 3, 7])
    func framesAreSignedAsTheirConcatenation(cut: Int) {
        let testCase = rfc4231Cases[1]
        let frames = [Array(testCase.data[..<cut]), [], Array(testCase.data[cut...])]
        #expect(MessageSigner(key: testCase.key).signature(for: frames) == testCase.digest)
    }

    @Test func signatureIsLowercaseHex() {
        let signature = MessageSigner(key: "secret").signature(for: sampleFrames)
        #expect(signature.count == 64)
        #expect(signature.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test func tamperingIsDetected() {
        let signer = MessageSigner(key: "b2c6d6d4-3c4e-4d0b-9a4e-2f1f2a7c9e10")
        let signature = signer.signature(for: sampleFrames)
        #expect(signer.isValid(signature: signature, for: sampleFrames))

        var changedContent = sampleFrames
        changedContent[3][10] ^= 0x01
        #expect(!signer.isValid(signature: signature, for: changedContent))
        #expect(!signer.isValid(signature: signature, for: [sampleFrames[1], sampleFrames[0], sampleFrames[2], sampleFrames[3]]))
        #expect(!signer.isValid(signature: signature, for: Array(sampleFrames.prefix(3))))
        #expect(!MessageSigner(key: "other key").isValid(signature: signature, for: sampleFrames))
        #expect(!signer.isValid(signature: signature.uppercased(), for: sampleFrames))
        #expect(!signer.isValid(signature: String(signature.dropLast()), for: sampleFrames))
        #expect(!signer.isValid(signature: "", for: sampleFrames))
        #expect(signer.isValid(signature: Array(signature.utf8), for: sampleFrames))
    }

    @Test func emptyKeyDisablesSigning() {
        let signer = MessageSigner(key: "")
        #expect(!signer.isEnabled)
        #expect(signer.signature(for: sampleFrames) == "")
        #expect(signer.isValid(signature: "", for: sampleFrames))
        #expect(signer.isValid(signature: "not even hex", for: sampleFrames))
        #expect(MessageSigner(key: "k").isEnabled)
    }

    @Test func schemeFromConnectionFile() throws {
        let signer = try MessageSigner(scheme: "hmac-sha256", key: "Jefe")
        #expect(signer.signature(for: [rfc4231Cases[1].data]) == rfc4231Cases[1].digest)
        let error = #expect(throws: UnsupportedSignatureScheme.self) { try MessageSigner(scheme: "hmac-md5", key: "k") }
        #expect(error?.description.contains("hmac-md5") == true)
    }
}
