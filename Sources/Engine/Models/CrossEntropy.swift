import Foundation
import FinchTensor

/// Mean cross-entropy over a batch of logits, as torch.nn.functional.cross_entropy with optional class
/// weights and label smoothing ε. With p = softmax(z), W = Σᵢ w[yᵢ] (or B without weights):
///   loss = [(1−ε) Σᵢ −w[yᵢ] log p[yᵢ] + (ε/C) Σᵢ Σ_c −w[c] log p[c]] / W
///   ∂loss/∂zᵢ = [(1−ε) w[yᵢ] (p − e_yᵢ) + (ε/C) ((Σ_c w[c]) p − w)] / W
public struct CrossEntropy: Sendable, Equatable {
    public var classWeights: [Float]?
    public var labelSmoothing: Float

    public init(classWeights: [Float]? = nil, labelSmoothing: Float = 0) {
        self.classWeights = classWeights
        self.labelSmoothing = labelSmoothing
    }

    /// The loss and ∂loss/∂logits for logits [batch, classes] and labels in 0..<classes.
    public func lossAndGradient(logits: Tensor, labels: [Int]) throws -> (loss: Double, gradient: Tensor) {
        let (rows, classes) = (logits.shape[0], logits.shape[1])
        guard labels.count == rows else { throw ModelError("\(labels.count) labels for a batch of \(rows)") }
        if let classWeights, classWeights.count != classes {
            throw ModelError("\(classWeights.count) class weights for \(classes) classes")
        }
        let weights = classWeights ?? [Float](repeating: 1, count: classes)
        let weightSum = Double(weights.reduce(0, +))
        let epsilon = Double(labelSmoothing)
        var total = 0.0, normalizer = 0.0
        let gradient = Tensor(zeros: [rows, classes])
        var probabilities = [Double](repeating: 0, count: classes)
        for r in 0..<rows {
            let label = labels[r]
            guard label >= 0, label < classes else {
                throw ModelError("label \(label) in row \(r) is outside 0..<\(classes)")
            }
            let row = logits.data + r * classes
            var maximum = -Double.infinity
            for c in 0..<classes { maximum = max(maximum, Double(row[c])) }
            var sum = 0.0
            for c in 0..<classes { probabilities[c] = Foundation.exp(Double(row[c]) - maximum); sum += probabilities[c] }
            let logSum = Foundation.log(sum)
            var smooth = 0.0
            for c in 0..<classes {
                probabilities[c] /= sum
                smooth -= Double(weights[c]) * (Double(row[c]) - maximum - logSum)
            }
            let nll = -Double(weights[label]) * (Double(row[label]) - maximum - logSum)
            total += (1 - epsilon) * nll + epsilon / Double(classes) * smooth
            normalizer += Double(weights[label])
            let out = gradient.data + r * classes
            for c in 0..<classes {
                let hard = Double(weights[label]) * (probabilities[c] - (c == label ? 1 : 0))
                let soft = weightSum * probabilities[c] - Double(weights[c])
                out[c] = Float((1 - epsilon) * hard + epsilon / Double(classes) * soft)
            }
        }
        Kernels.scale(gradient.data, by: Float(1 / normalizer), count: gradient.count)
        return (total / normalizer, gradient)
    }
}
