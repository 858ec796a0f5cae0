import Foundation
import FinchMetrics
import FinchModels
import FinchTensor

/// What one `generate` produced.
public struct GenerationResult: Sendable, Equatable {
    /// The reply, without the prompt, the end token or a stop string.
    public let text: String
    /// The prompt's token ids (chat format and special tokens included).
    public let promptIds: [Int]
    public var promptTokens: Int { promptIds.count }
    public let generatedTokens: [Int]
    /// log p(token) of each generated token under the model's own distribution (before sampling settings).
    public let logProbabilities: [Double]
    /// "eos" (an end-of-reply token), "stop string", "max tokens" or "interrupted".
    public let stopReason: String
    /// Seconds for the prompt (prefill) and for the generated tokens.
    public let promptSeconds: Double
    public let generationSeconds: Double
    public var tokensPerSecond: Double { generationSeconds > 0 ? Double(generatedTokens.count) / generationSeconds : 0 }
}

extension CausalLanguageModel {
    /// Generates a reply to `text` (already in the model's format, see `generationPrompt`) with a KV cache:
    /// the prompt in one pass, then one token per step, each picked by `options` (greedy, or seeded sampling
    /// with temperature, top-k, top-p, min-p and repetition penalty as transformers applies them). Stops at
    /// an end token, a stop string or `maxNewTokens`; `onText` receives the reply as it grows.
    public func generate(_ text: String, options: SamplingOptions, cancellation: CancellationToken? = nil,
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try options.validate()
        let bosText = model.config.bosTokenId.flatMap { tokenizer.token(of: $0) }
        let addSpecial = addsBos && !(bosText.map { text.hasPrefix($0) } ?? false)
        let prompt = tokenizer.encode(text, pair: nil, addSpecialTokens: addSpecial, maxLength: nil).ids
        guard !prompt.isEmpty else { throw TrainingError("the prompt is empty") }
        let capacity = prompt.count + options.maxNewTokens
        guard capacity <= model.config.maxPositions else {
            throw TrainingError("the prompt (\(prompt.count) tokens) and max_tokens=\(options.maxNewTokens) exceed the model's \(model.config.maxPositions) positions")
        }
        var sampler = try TokenSampler(options)
        let stops = Set(options.stopTokenIds + stopTokenIds)
        var streamer = TextStreamer(stopStrings: options.stopStrings) { [tokenizer] in tokenizer.decode($0, skipSpecialTokens: true) }
        let cache = KeyValueCache(model: model, capacity: capacity)
        let scratch = DecoderStepScratch()
        let start = DispatchTime.now().uptimeNanoseconds
        var logits = try model.step(prompt, cache: cache, scratch: scratch)
        let prefilled = DispatchTime.now().uptimeNanoseconds
        var history = prompt, generated: [Int] = [], logProbabilities: [Double] = []
        var reason = "max tokens"
        while generated.count < options.maxNewTokens {
            if cancellation?.isCancelled == true { reason = "interrupted"; break }
            let raw = logits
            let token = try sampler.next(logits: &logits, history: history)
            if stops.contains(token) { reason = "eos"; break }
            generated.append(token)
            logProbabilities.append(Self.logProbability(of: token, in: raw))
            history.append(token)
            let piece = streamer.push(token)
            if !piece.isEmpty { onText(piece) }
            if streamer.stop != nil { reason = "stop string"; break }
            if generated.count < options.maxNewTokens { logits = try model.step([token], cache: cache, scratch: scratch) }
        }
        let tail = streamer.finish()
        if !tail.isEmpty { onText(tail) }
        let end = DispatchTime.now().uptimeNanoseconds
        return GenerationResult(text: streamer.text, promptIds: prompt, generatedTokens: generated,
                                logProbabilities: logProbabilities, stopReason: reason,
                                promptSeconds: Double(prefilled - start) / 1e9, generationSeconds: Double(end - prefilled) / 1e9)
    }
}

extension CausalLanguageModel {
    /// log softmax(logits)[token], in Double.
    static func logProbability(of token: Int, in logits: [Float]) -> Double {
        let maximum = Double(logits.max() ?? 0)
        let sum = logits.reduce(0.0) { $0 + Foundation.exp(Double($1) - maximum) }
        return Double(logits[token]) - maximum - Foundation.log(sum)
    }
}

/// Scores of generated answers against references: exact match and token F1 (SQuAD's normalisation) as
/// fractions, corpus BLEU (sacrebleu's 13a, 0–100 as sacrebleu prints it), ROUGE-1/2/L F-measures, and, for
/// GSM8K-style references (`#### N`), final-answer accuracy.
public struct GenerativeScores: Sendable, Equatable {
    public let count: Int
    public let exactMatch: Double
    public let tokenF1: Double
    public let bleu: Double
    public let rouge1: Double
    public let rouge2: Double
    public let rougeL: Double
    /// Share of completions whose final answer equals the reference's (nil when references have no `#### N`).
    public let finalAnswerAccuracy: Double?

    public init(predictions: [String], references: [String]) {
        precondition(predictions.count == references.count, "\(predictions.count) predictions for \(references.count) references")
        count = predictions.count
        let qa = QAMetrics.evaluate(predictions: predictions, groundTruths: references.map { [$0] })
        exactMatch = qa.exactMatch / 100
        tokenF1 = qa.f1 / 100
        bleu = BLEU.corpus(hypotheses: predictions, references: references).score
        let rouge = ROUGE.meanFMeasures(targets: references, predictions: predictions)
        (rouge1, rouge2, rougeL) = (rouge.rouge1, rouge.rouge2, rouge.rougeL)
        let marked = references.allSatisfy { $0.contains("#### ") && GSM8K.extractAnswer($0) != nil }
        finalAnswerAccuracy = marked && count > 0 ? GSM8K.accuracy(completions: predictions, references: references) : nil
    }

    /// name → value, as runs and JSON show them.
    public var byName: [String: Double] {
        var values = ["exact_match": exactMatch, "token_f1": tokenF1, "bleu": bleu, "rouge1": rouge1, "rouge2": rouge2, "rougeL": rougeL]
        if let finalAnswerAccuracy { values["final_answer_accuracy"] = finalAnswerAccuracy }
        return values
    }
}
