import FinchTokenizers
import Foundation
import FuzzSupport

/// Separates tokenizer.json from tokenizer_config.json in one input.
let fileSeparator: UInt8 = 0

/// The input is tokenizer.json, optionally followed by a 0x00 byte and tokenizer_config.json. Loads the file as
/// written (`AutoTokenizer.load(tokenizerFile:)`), and a folder holding both files the way transformers would
/// (`AutoTokenizer.load(from:)`, which picks the BERT, XLM-R or generic pipeline from the config), then encodes
/// and decodes a short mixed-script text with each tokenizer that loads.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let files = pieces(of: fuzzBytes(data, size), separator: fileSeparator)
    let tokenizerFile = writeScratchFile("tokenizer.json", files[0])
    if let tokenizer = try? AutoTokenizer.load(tokenizerFile: tokenizerFile) { exerciseTokenizer(tokenizer) }
    let config = fuzzScratchFolder.appendingPathComponent("tokenizer_config.json")
    if files.count > 1 {
        _ = writeScratchFile("tokenizer_config.json", files[1])
    } else {
        try? FileManager.default.removeItem(at: config)
    }
    if let tokenizer = try? AutoTokenizer.load(from: fuzzScratchFolder) { exerciseTokenizer(tokenizer) }
    return 0
}

/// The entry point SwiftPM links in place of `main`: libFuzzer's loop over `fuzzTokenizer`.
@_cdecl("FuzzTokenizer_main")
public func fuzzTokenizerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzTokenizer)
}
