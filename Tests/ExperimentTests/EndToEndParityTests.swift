import Foundation
import Testing
import FinchModels
import FinchTensor
import FinchTokenizers
import TestSupport

/// Text in, vectors out: Finch's tokenizer and encoder together reproduce transformers' ids and
/// sentence embeddings for the real models on Bengali, Banglish and English texts.
@Suite struct EndToEndParityTests {
    @Test(arguments: [("all-MiniLM-L6-v2", ""), ("multilingual-e5-small", "query: ")])
    func textsToEmbeddings(name: String, prefix: String) throws {
        let folder = try TestPaths.model(name)
        let texts = try #require(try referenceJSON("encoder/real-\(name)/texts.json") as? [String])
        let reference = try ReferenceTensors("encoder/real-\(name)/expected.safetensors")
        let tokenizer = try AutoTokenizer.load(from: folder)
        let tokens = tokenizer.encodeBatch(texts.map { prefix + $0 }, maxLength: 128)
        #expect(tokens.ids == (try reference.int32s("input_ids")))
        #expect(tokens.attentionMask == (try reference.int32s("attention_mask")))
        let encoder = try EncoderLoader.load(folder: folder, task: .embed)
        let batch = EncoderBatch(batchSize: tokens.batchSize, sequenceLength: tokens.sequenceLength, ids: tokens.ids,
                                 attentionMask: tokens.attentionMask, typeIds: tokens.typeIds)
        let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
        try encoder.forward(batch, activations: activations)
        let vectors = encoder.pooled(.mean, batch: batch, activations: activations, normalize: true)
        let (difference, _) = maxAbsoluteDifference(vectors.data, try reference.tensor("mean_pooled_normalized"))
        #expect(difference <= 1e-5)
    }
}
