import Foundation
import FinchData
import FinchMetrics
import FinchModels
import FinchTensor
import FinchTokenizers

/// Predictions of a classifier: the most likely class and every class probability per text.
public struct ClassifierPredictions: Sendable {
    public private(set) var labels: [Int] = []
    public private(set) var probabilities: [[Float]] = []

    init(labels: [Int] = [], probabilities: [[Float]] = []) {
        self.labels = labels
        self.probabilities = probabilities
    }

    /// Adds the softmax of each row of logits [rows, classes] and its most likely class.
    mutating func append(logits: Tensor) {
        let classes = logits.shape[1]
        for r in 0..<logits.shape[0] {
            let row = logits.data + r * classes
            Kernels.softmaxInPlace(row, valid: classes, count: classes)
            let values = Array(UnsafeBufferPointer(start: row, count: classes))
            probabilities.append(values)
            labels.append(values.indices.max { values[$0] < values[$1] } ?? 0)
        }
    }
}

/// Runs the classifier over texts in batches (no dropout, no gradients).
public func predict(_ texts: [String], encoder: Encoder, tokenizer: any Tokenizer, batchSize: Int = 32,
                    maxLength: Int = 128) throws -> ClassifierPredictions {
    let encoded = try TokenizedTexts(texts: texts, tokenizer: tokenizer, maxLength: maxLength, config: encoder.config)
    return try predict(encoded, encoder: encoder, padId: tokenizer.padId, batchSize: batchSize)
}

/// Runs the classifier over texts tokenized once (the trainer's validation rows).
func predict(_ encoded: TokenizedTexts, encoder: Encoder, padId: Int, batchSize: Int = 32) throws -> ClassifierPredictions {
    let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
    var predictions = ClassifierPredictions()
    for start in stride(from: 0, to: encoded.count, by: batchSize) {
        let batch = encoded.batch(Array(start..<min(start + batchSize, encoded.count)), padId: padId)
        try encoder.forward(batch, activations: activations)
        predictions.append(logits: try encoder.logits(batch: batch, activations: activations))
    }
    return predictions
}

/// Accuracy, F1 and the confusion matrix of the classifier on labeled texts.
public func evaluate(_ data: LabeledTexts, encoder: Encoder, tokenizer: any Tokenizer, batchSize: Int = 32,
                     maxLength: Int = 128) throws -> ClassificationMetrics {
    let predictions = try predict(data.texts, encoder: encoder, tokenizer: tokenizer, batchSize: batchSize, maxLength: maxLength)
    return ClassificationMetrics(labels: data.labels, predictions: predictions.labels, labelNames: data.labelNames)
}

/// Sentence vectors [texts, hidden] from the encoder: batches of 32 padded to their longest row, pooled,
/// optionally L2-normalised. Texts longer than the model's positions are cut to fit.
public func embed(_ texts: [String], encoder: Encoder, tokenizer: any Tokenizer, pooling: Pooling, normalize: Bool,
                  maxLength: Int = 512, batchSize: Int = 32) throws -> Tensor {
    let h = encoder.config.hiddenSize
    let encoded = try TokenizedTexts(texts: texts, tokenizer: tokenizer, maxLength: min(maxLength, encoder.config.usablePositions),
                                     config: encoder.config)
    let result = Tensor(zeros: [texts.count, h])
    let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
    for start in stride(from: 0, to: texts.count, by: batchSize) {
        let batch = encoded.batch(Array(start..<min(start + batchSize, texts.count)), padId: tokenizer.padId)
        try encoder.forward(batch, activations: activations)
        let pooled = encoder.pooled(pooling, batch: batch, activations: activations, normalize: normalize)
        (result.data + start * h).update(from: pooled.data, count: pooled.count)
    }
    return result
}

/// The validation metrics runs are compared by: mean cross-entropy of the predicted probabilities,
/// accuracy, macro and weighted F1.
public struct ValidationMetrics: Sendable, Equatable, Codable {
    public var loss: Double
    public var accuracy: Double
    public var f1Macro: Double
    public var f1Weighted: Double

    public init(loss: Double, accuracy: Double, f1Macro: Double, f1Weighted: Double) {
        self.loss = loss
        self.accuracy = accuracy
        self.f1Macro = f1Macro
        self.f1Weighted = f1Weighted
    }

    /// The metrics of predictions against labels.
    public init(labels: [Int], predictions: ClassifierPredictions, labelNames: [String]) {
        let metrics = ClassificationMetrics(labels: labels, predictions: predictions.labels, labelNames: labelNames)
        let nll = zip(labels, predictions.probabilities).map { -log(Double(max($1[$0], .leastNormalMagnitude))) }
        self.init(loss: nll.isEmpty ? 0 : nll.reduce(0, +) / Double(nll.count), accuracy: metrics.accuracy,
                  f1Macro: metrics.f1Macro, f1Weighted: metrics.f1Weighted)
    }

    /// The value of a metric (`loss`, `accuracy`, `f1_macro`, `f1_weighted`).
    public func value(of metric: TrainingOptions.BestMetric) -> Double {
        switch metric {
        case .loss: loss
        case .accuracy: accuracy
        case .f1Macro: f1Macro
        case .f1Weighted: f1Weighted
        }
    }

    /// The metrics by the names the language prints.
    public var byName: [String: Double] {
        ["loss": loss, "accuracy": accuracy, "f1_macro": f1Macro, "f1_weighted": f1Weighted]
    }
}

/// cos(a_i, a_j) for every pair of rows.
public func cosineSimilarities(_ vectors: Tensor) -> [[Float]] {
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
