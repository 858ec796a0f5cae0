import ArgumentParser
import Foundation
import FinchCheckpoint
import FinchModels
import FinchTensor
import FinchTokenizers

/// `finch embed`: sentence embeddings from a model folder, with their cosine-similarity matrix.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sentence embeddings from a Hugging Face encoder, with their cosine similarities.",
        discussion: """
        Tokenizes the texts as transformers' AutoTokenizer does, runs the encoder, pools the last hidden
        state and prints each vector (first dimensions) and the cosine-similarity matrix.
        Example: finch embed --prefix "query: " "খেলাটা দারুণ ছিল" "khela ta darun chilo" "The match was great"
        """)

    @Option(help: "Model folder (default: $FINCH_MODELS/multilingual-e5-small).") var model: String?
    @Option(help: "Pooling: mean or cls.") var pool: String = "mean"
    @Option(help: "Text put before every input (e5 wants \"query: \").") var prefix = ""
    @Option(help: "Truncate inputs to this many tokens.") var maxLength = 512
    @Option(help: "Dimensions of each vector to print.") var show = 6
    @Flag(inversion: .prefixedNo, help: "L2-normalise the vectors.") var normalize = true
    @Flag(help: "Print one JSON object (embeddings, similarities) instead of text.") var json = false
    @Argument(help: "The texts to embed.") var texts: [String]

    func validate() throws {
        guard Pooling(rawValue: pool) != nil else { throw ValidationError("--pool must be mean or cls, not \(pool)") }
        guard !texts.isEmpty else { throw ValidationError("give at least one text to embed") }
    }

    func run() throws {
        let folder = URL(fileURLWithPath: model ?? defaultModelFolder("multilingual-e5-small"))
        let embedder = try SentenceEmbedder(folder: folder)
        let vectors = try embedder.embed(texts.map { prefix + $0 }, pooling: Pooling(rawValue: pool)!,
                                         normalize: normalize, maxLength: maxLength)
        let similarities = cosineSimilarities(vectors)
        if json {
            let object: [String: Any] = [
                "embeddings": (0..<texts.count).map { row in (0..<vectors.shape[1]).map { Double(vectors[row * vectors.shape[1] + $0]) } },
                "similarities": similarities.map { $0.map(Double.init) },
                "texts": texts,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        let h = vectors.shape[1]
        print("\(folder.lastPathComponent): \(texts.count) × \(h), \(pool) pooling\(normalize ? ", L2-normalised" : "")")
        for (row, text) in texts.enumerated() {
            let head = (0..<min(show, h)).map { String(format: "%+.4f", vectors[row * h + $0]) }.joined(separator: " ")
            print("[\(row)] \(head) …  \(text)")
        }
        print("cosine similarity")
        func cell(_ s: String) -> String { String(repeating: " ", count: max(0, 7 - s.count)) + s }
        print(cell("") + (0..<texts.count).map { cell("[\($0)]") }.joined())
        for (row, values) in similarities.enumerated() {
            print(cell("[\(row)]") + values.map { cell(String(format: "%.3f", $0)) }.joined())
        }
    }
}

/// `finch tokenize`: token ids and pieces as the model's tokenizer produces them.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Token ids and tokens of texts, as transformers' AutoTokenizer gives them.")

    @Option(help: "Model folder (default: $FINCH_MODELS/multilingual-e5-small).") var model: String?
    @Option(help: "Truncate to this many tokens (special tokens included).") var maxLength: Int?
    @Flag(help: "Print one JSON object per text.") var json = false
    @Argument(help: "The texts to tokenize.") var texts: [String]

    func run() throws {
        let folder = URL(fileURLWithPath: model ?? defaultModelFolder("multilingual-e5-small"))
        let tokenizer = try AutoTokenizer.load(from: folder)
        for text in texts {
            let encoding = tokenizer.encode(text, maxLength: maxLength)
            if json {
                let object: [String: Any] = ["text": text, "ids": encoding.ids, "tokens": encoding.tokens]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print("\(encoding.count) tokens: \(text)")
                print("  ids:    \(encoding.ids.map(String.init).joined(separator: " "))")
                print("  tokens: \(encoding.tokens.joined(separator: " "))")
            }
        }
    }
}

/// Tokenizer + encoder + pooling: texts in, one vector per text out.
struct SentenceEmbedder {
    let tokenizer: any Tokenizer
    let encoder: Encoder

    init(folder: URL) throws {
        tokenizer = try AutoTokenizer.load(from: folder)
        encoder = try EncoderLoader.load(folder: folder, task: .embed)
    }

    /// Vectors [texts, hidden], computed in batches of 32 padded to their longest row.
    func embed(_ texts: [String], pooling: Pooling, normalize: Bool, maxLength: Int) throws -> Tensor {
        let h = encoder.config.hiddenSize
        let result = Tensor(zeros: [texts.count, h])
        let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
        let limit = min(maxLength, encoder.config.maxPositions - (encoder.config.family.offsetsPositionsByPadding ? encoder.config.padTokenId + 1 : 0))
        for start in stride(from: 0, to: texts.count, by: 32) {
            let chunk = Array(texts[start..<min(start + 32, texts.count)])
            let tokens = tokenizer.encodeBatch(chunk, maxLength: limit)
            let batch = EncoderBatch(batchSize: tokens.batchSize, sequenceLength: tokens.sequenceLength,
                                     ids: tokens.ids, attentionMask: tokens.attentionMask, typeIds: tokens.typeIds)
            try encoder.forward(batch, activations: activations)
            let pooled = encoder.pooled(pooling, batch: batch, activations: activations, normalize: normalize)
            (result.data + start * h).update(from: pooled.data, count: pooled.count)
        }
        return result
    }
}

/// cos(a_i, a_j) for every pair of rows.
func cosineSimilarities(_ vectors: Tensor) -> [[Float]] {
    let (n, h) = (vectors.shape[0], vectors.shape[1])
    let norms = (0..<n).map { Kernels.sumOfSquares(vectors.data + $0 * h, mean: 0, count: h).squareRoot() }
    return (0..<n).map { i in
        (0..<n).map { j in
            var dot: Float = 0
            for k in 0..<h { dot += vectors[i * h + k] * vectors[j * h + k] }
            return dot / max(norms[i] * norms[j], 1e-12)
        }
    }
}
