import Foundation
import Testing
@testable import FinchCheckpoint

/// Inputs from fuzzing the config, safetensors and GGUF parsers (scripts/fuzz) that once crashed or misbehaved,
/// and the guards added with them.
@Suite struct CheckpointFuzzRegressionTests {
    static let url = URL(fileURLWithPath: "/fuzz/config.json")
    static let llama = #"{"model_type":"llama","vocab_size":100,"hidden_size":16,"intermediate_size":32,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2}"#

    /// `llama` with the keys of the JSON object `changes` replaced.
    static func decoder(_ changes: String) throws -> DecoderConfig {
        func object(_ text: String) throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any] }
        return try DecoderConfig.parse(try object(llama).merging(try object(changes)) { $1 }, url: url)
    }

    /// Sizes past 2^24 made `parameterCount` overflow (a trap) in memory estimates; a negative or huge
    /// max_position_embeddings went through unchecked.
    @Test(arguments: [
        (#"{"vocab_size":1e18}"#, "key \"vocab_size\" is 1e+18; Finch reads at most 16777216"),
        (#"{"hidden_size":1099511627776,"num_attention_heads":1}"#, "key \"hidden_size\" is 1099511627776; Finch reads at most 16777216"),
        (#"{"num_hidden_layers":5000}"#, "key \"num_hidden_layers\" is 5000; Finch reads at most 1024"),
        (#"{"max_position_embeddings":-4}"#, "key \"max_position_embeddings\" must be a positive integer (found -4)"),
        (#"{"head_dim":8388608,"num_key_value_heads":4}"#, "4 heads × head size 8388608 is wider than Finch reads (16777216)"),
        (#"{"hidden_size":3}"#, "head size 0 must be positive and even for rotary embeddings"),
    ])
    func absurdDecoderSizesAreRefused(changes: String, problem: String) {
        let error = #expect(throws: CheckpointError.self) { try Self.decoder(changes) }
        #expect(error?.problem == problem)
    }

    @Test func theLargestAcceptedDecoderCountsItsParametersWithoutOverflow() throws {
        let limit = ConfigReader.maximumSize
        let config = try Self.decoder("""
            {"vocab_size":\(limit),"hidden_size":\(limit),"intermediate_size":\(limit),"num_hidden_layers":\(ConfigReader.maximumLayers),
             "num_attention_heads":2,"num_key_value_heads":2,"max_position_embeddings":\(limit)}
            """)
        #expect(config.parameterCount > 0)
    }

    @Test(arguments: [
        (#"{"model_type":"bert","vocab_size":1e300}"#, "key \"vocab_size\" should be an integer, found 1e+300"),
        (#"{"model_type":"bert","vocab_size":99999999999}"#, "key \"vocab_size\" is 99999999999; Finch reads at most 16777216"),
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_attention_heads":2,"num_hidden_layers":1,"intermediate_size":4,"max_position_embeddings":8,"pad_token_id":12}"#,
         "key \"pad_token_id\" is 12, outside the vocabulary 0..<10"),
        (#"{"model_type":"roberta","vocab_size":10,"hidden_size":8,"num_attention_heads":2,"num_hidden_layers":1,"intermediate_size":4,"max_position_embeddings":2,"pad_token_id":1}"#,
         "key \"max_position_embeddings\" is 2, which leaves no positions after the padding offset 2"),
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_attention_heads":2,"num_hidden_layers":1,"intermediate_size":4,"max_position_embeddings":8,"type_vocab_size":-1}"#,
         "key \"type_vocab_size\" is -1; it must be 0...16777216"),
    ])
    func absurdEncoderValuesAreRefused(json: String, problem: String) throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(throws: CheckpointError(Self.url, problem)) { try EncoderConfig.parse(object, url: Self.url) }
    }

    /// scripts/fuzz gguf, crash-8932ddb3: a tensor table ending inside the last alignment block of a file cut short
    /// there (table end 178, data from 192, file 187 bytes) put the data section past the end of the file, yet a
    /// zero-element tensor "fit" in it.
    @Test func aDataSectionPastTheEndOfTheFileIsRefused() throws {
        let found = try #require(Data(base64Encoded: """
            R0dVRgMAAAABAAAAAAAAAAIAAAAAAAAAFAAAAAAAAABnZW5lcmFsLmFyY2hpdGVjdHVyZQgAAAAFAAAAAAAAAGxsYW1hEQAAAAAAAABsbGFtYS5ibG9ja19jb3\
            VudAQAAAABAAAAFAAAAAAAAABsbGFtYS5jb250ZXh0X2xlbmd0aAQAAAAQAAAAFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
            AAAAdG9taw==
            """))
        let url = URL(fileURLWithPath: "/fuzz/crash.gguf")
        #expect(throws: CheckpointError(url, "the data section would start at byte 192 (the tensor table's end, 178, rounded up to the alignment 32) but the file has 187 bytes (file truncated?)")) {
            try GGUFFile(contents: found, url: url)
        }
        // The smallest such file: no metadata, one tensor of zero elements, the table ending at byte 57.
        func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        let smallest = Array("GGUF".utf8) + u32(3) + u64(1) + u64(0) + u64(1) + Array("t".utf8) + u32(1) + u64(0) + u32(0) + u64(0)
        #expect(throws: CheckpointError(url, "the data section would start at byte 64 (the tensor table's end, 57, rounded up to the alignment 32) but the file has 57 bytes (file truncated?)")) {
            try GGUFFile(contents: Data(smallest), url: url)
        }
        #expect(try GGUFFile(contents: Data(smallest + [UInt8](repeating: 0, count: 7)), url: url).tensors.first?.elementCount == 0)
    }

    /// The in-memory entry points the fuzzers use read a slice of a larger buffer from its own first byte.
    @Test func filesInMemoryMayBeSlices() throws {
        let header = Data(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        var file = Data(count: 8)
        file.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(header.count).littleEndian, as: UInt64.self) }
        file += header + Data([0, 0, 0x80, 0x3F])
        let slice = (Data([7, 7, 7]) + file).dropFirst(3)
        let safetensors = try SafetensorsFile(contents: slice, url: URL(fileURLWithPath: "/fuzz/x.safetensors"))
        #expect(try safetensors.tensor("x").array == [1])
        #expect(throws: CheckpointError.self) { try GGUFFile(contents: Data("GGUF".utf8).dropFirst(1), url: URL(fileURLWithPath: "/fuzz/x.gguf")) }
    }
}
