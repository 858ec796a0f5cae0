import Foundation
import FinchData
import FinchMetrics
import FinchModels
import FinchTensor
import FinchTokenizers

/// Predictions of a classifier: the most likely class and every class probability per text.
public struct ClassifierPredictions: Sendable {
    public let labels: [Int]
    public let probabilities: [[Float]]
}

/// Runs the classifier over texts in batches (no dropout, no gradients).
public func predict(_ texts: [String], encoder: Encoder, tokenizer: any Tokenizer, batchSize: Int = 32,
                    maxLength: Int = 128) throws -> ClassifierPredictions {
    let encoded = try TokenizedTexts(texts: texts, tokenizer: tokenizer, maxLength: maxLength, config: encoder.config)
    let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
    var labels: [Int] = [], probabilities: [[Float]] = []
    for start in stride(from: 0, to: texts.count, by: batchSize) {
        let batch = encoded.batch(Array(start..<min(start + batchSize, texts.count)), padId: tokenizer.padId)
        try encoder.forward(batch, activations: activations)
        let logits = try encoder.logits(batch: batch, activations: activations)
        let classes = logits.shape[1]
        for r in 0..<batch.batchSize {
            let row = logits.data + r * classes
            Kernels.softmaxInPlace(row, valid: classes, count: classes)
            let values = Array(UnsafeBufferPointer(start: row, count: classes))
            probabilities.append(values)
            labels.append(values.indices.max { values[$0] < values[$1] } ?? 0)
        }
    }
    return ClassifierPredictions(labels: labels, probabilities: probabilities)
}

/// Accuracy, F1 and the confusion matrix of the classifier on labeled texts.
public func evaluate(_ data: LabeledTexts, encoder: Encoder, tokenizer: any Tokenizer, batchSize: Int = 32,
                     maxLength: Int = 128) throws -> ClassificationMetrics {
    let predictions = try predict(data.texts, encoder: encoder, tokenizer: tokenizer, batchSize: batchSize, maxLength: maxLength)
    return ClassificationMetrics(labels: data.labels, predictions: predictions.labels, labelNames: data.labelNames)
}

/// Classification metrics plus the mean cross-entropy of the predicted probabilities.
struct ClassificationMetricsReport {
    let loss: Double
    let accuracy: Double
    let f1Macro: Double
    let f1Weighted: Double

    init(labels: [Int], predictions: ClassifierPredictions, labelNames: [String]) {
        let metrics = ClassificationMetrics(labels: labels, predictions: predictions.labels, labelNames: labelNames)
        let nll = zip(labels, predictions.probabilities).map { -log(Double(max($1[$0], .leastNormalMagnitude))) }
        loss = nll.isEmpty ? 0 : nll.reduce(0, +) / Double(nll.count)
        accuracy = metrics.accuracy
        f1Macro = metrics.f1Macro
        f1Weighted = metrics.f1Weighted
    }
}
