import FinchCheckpoint
import FinchTokenizers
import Foundation
import FuzzSupport

let source = URL(fileURLWithPath: "/fuzz/model.gguf")

/// Opens the input as a GGUF file (header, metadata, tensor table, data), dequantizes every tensor of a type Finch
/// reads, and builds the byte-level BPE tokenizer its `tokenizer.ggml.*` metadata describes, then encodes and
/// decodes a short text with it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let file = try? GGUFFile(contents: Data(fuzzBytes(data, size)), url: source) else { return 0 }
    fuzzCheck(file.dataOffset >= 0 && file.alignment > 0, "bad layout: data at \(file.dataOffset), alignment \(file.alignment)")
    for info in file.tensors {
        fuzzCheck(info.byteCount >= 0 && info.offset >= 0, "tensor \(info.name) has negative size or offset")
        fuzzCheck(file.dataOffset + info.offset + info.byteCount <= size, "tensor \(info.name) ends past the file's \(size) bytes")
        if let tensor = try? file.tensor(named: info.name) {
            fuzzCheck(tensor.shape == info.shape, "tensor \(info.name) read with the wrong shape")
        }
    }
    if let model = file.string("tokenizer.ggml.model"), let tokens = file.strings("tokenizer.ggml.tokens"),
       let tokenizer = try? AutoTokenizer.byteLevelBPE(
           ggufModel: model, pre: file.string("tokenizer.ggml.pre"), tokens: tokens,
           merges: file.strings("tokenizer.ggml.merges") ?? [], tokenTypes: file.ints("tokenizer.ggml.token_type"),
           bosId: file.int("tokenizer.ggml.bos_token_id"), eosId: file.int("tokenizer.ggml.eos_token_id"),
           padId: file.int("tokenizer.ggml.padding_token_id"), unknownId: file.int("tokenizer.ggml.unknown_token_id"),
           addBos: file.bool("tokenizer.ggml.add_bos_token"), addEos: file.bool("tokenizer.ggml.add_eos_token")) {
        exerciseTokenizer(tokenizer)
    }
    return 0
}

/// The entry point SwiftPM links in place of `main`: libFuzzer's loop over `fuzzGGUF`.
@_cdecl("FuzzGGUF_main")
public func fuzzGGUFMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzGGUF)
}
