import Foundation
import Testing
@testable import FinchCheckpoint

@Suite struct EncoderConfigTests {
    let bert = #"{"model_type":"bert","vocab_size":100,"hidden_size":30,"num_hidden_layers":2,"num_attention_heads":5,"intermediate_size":37,"max_position_embeddings":64,"type_vocab_size":2,"layer_norm_eps":1e-5,"pad_token_id":0,"hidden_act":"gelu","id2label":{"0":"neg","1":"pos"}}"#

    func load(_ json: String) throws -> EncoderConfig {
        let folder = try temporaryFolder()
        try Data(json.utf8).write(to: folder.appendingPathComponent("config.json"))
        return try EncoderConfig.load(folder: folder)
    }

    @Test func readsBert() throws {
        let config = try load(bert)
        #expect(config.family == .bert && config.hiddenSize == 30 && config.headSize == 6)
        #expect(config.layerNormEpsilon == 1e-5 && config.labels == ["neg", "pos"])
        #expect(config.typeVocabularySize == 2 && config.activation == .gelu)
    }

    @Test func readsDistilBertKeys() throws {
        let config = try load(#"{"model_type":"distilbert","vocab_size":50,"dim":16,"n_layers":1,"n_heads":2,"hidden_dim":40,"max_position_embeddings":32,"activation":"gelu","pad_token_id":0}"#)
        #expect(config.family == .distilbert && config.intermediateSize == 40 && config.typeVocabularySize == 0)
    }

    @Test func robertaOffsetsPositions() throws {
        let config = try load(bert.replacingOccurrences(of: #""bert""#, with: #""xlm-roberta""#))
        #expect(config.family.offsetsPositionsByPadding)
    }

    /// Each bad config names the file and the key.
    @Test(arguments: [
        (#"{"model_type":"gpt2"}"#, "model_type \"gpt2\" is not an encoder Finch reads (supported: bert, roberta, xlm-roberta, distilbert)"),
        (#"{"vocab_size":3}"#, "missing key \"model_type\""),
        (#"{"model_type":"bert","vocab_size":"many"}"#, "key \"vocab_size\" should be an integer, found many"),
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":30,"num_attention_heads":4}"#, "hidden_size 30 is not divisible by num_attention_heads 4"),
        (#"{"model_type":"bert","vocab_size":0}"#, "key \"vocab_size\" must be positive, found 0"),
        (#"{"model_type": "bert", "#, "not valid JSON"),
        (#"[]"#, "top level is not a JSON object"),
    ])
    func badConfigsAreNamed(json: String, message: String) throws {
        let error = #expect(throws: CheckpointError.self) { try load(json) }
        #expect(error?.path.hasSuffix("config.json") == true)
        #expect(error?.problem.contains(message) == true, "\(error?.problem ?? "")")
    }

    @Test func unsupportedActivationIsNamed() throws {
        let error = #expect(throws: CheckpointError.self) { try load(bert.replacingOccurrences(of: #""gelu""#, with: #""swish""#)) }
        #expect(error?.problem == "hidden_act \"swish\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)")
    }

    @Test func missingConfigIsNamed() throws {
        let folder = try temporaryFolder()
        #expect(throws: CheckpointError(folder.appendingPathComponent("config.json"), "missing: a model folder needs config.json (Hugging Face layout)")) {
            try EncoderConfig.load(folder: folder)
        }
    }
}
