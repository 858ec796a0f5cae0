/// A trainable tensor and its gradient, named as in the Hugging Face state dict
/// (e.g. "bert.encoder.layer.0.attention.self.query.lora_A.weight"). Layers own the tensors; a
/// Parameter is the optimizer's handle on them.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let value: Tensor
    public let gradient: Tensor
    /// Whether weight decay applies (the HF Trainer exempts biases and LayerNorm weights).
    public let decays: Bool

    public init(name: String, value: Tensor, gradient: Tensor, decays: Bool) {
        precondition(value.shape == gradient.shape, "\(name): gradient shape \(gradient.shape) differs from \(value.shape)")
        self.name = name
        self.value = value
        self.gradient = gradient
        self.decays = decays
    }

    /// Sets the gradient to zero.
    public func zeroGradient() {
        gradient.data.update(repeating: 0, count: gradient.count)
    }
}
