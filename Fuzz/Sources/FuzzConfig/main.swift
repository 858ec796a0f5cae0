import FinchCheckpoint
import Foundation
import FuzzSupport

let source = URL(fileURLWithPath: "/fuzz/config.json")

/// Parses the input as a Hugging Face config.json, both as an encoder's (EncoderConfig) and a Llama-family
/// decoder's (DecoderConfig). An accepted config must have positive sizes and compute its derived sizes
/// (head size, usable positions, projection widths, parameter count) without overflowing.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let json = (try? JSONSerialization.jsonObject(with: Data(fuzzBytes(data, size)))) as? [String: Any] else { return 0 }
    if let encoder = try? EncoderConfig.parse(json, url: source) {
        fuzzCheck(encoder.hiddenSize > 0 && encoder.headCount > 0 && encoder.layerCount > 0 && encoder.vocabularySize > 0,
                  "encoder config with a non-positive size: \(encoder)")
        fuzzCheck(encoder.headSize * encoder.headCount == encoder.hiddenSize, "heads do not divide the hidden size: \(encoder)")
        _ = encoder.usablePositions
    }
    if let decoder = try? DecoderConfig.parse(json, url: source) {
        fuzzCheck(decoder.headSize > 0 && decoder.keyValueHeadCount > 0, "decoder config with a non-positive size: \(decoder)")
        fuzzCheck(decoder.parameterCount > 0, "parameter count \(decoder.parameterCount) for \(decoder)")
    }
    return 0
}

/// The entry point SwiftPM links in place of `main`: libFuzzer's loop over `fuzzConfig`.
@_cdecl("FuzzConfig_main")
public func fuzzConfigMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzConfig)
}
