import ArgumentParser
import Foundation
import FinchCheckpoint
import FinchExperiment
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
        let vectors = try FinchExperiment.embed(texts.map { prefix + $0 }, encoder: try EncoderLoader.load(folder: folder, task: .embed),
                                                tokenizer: try AutoTokenizer.load(from: folder), pooling: Pooling(rawValue: pool)!,
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
