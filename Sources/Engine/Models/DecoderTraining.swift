import FinchTensor

extension DecoderModel {
    /// Drops every gradient buffer: nothing trains.
    public func freezeAll() {
        embeddingGradient = nil
        for linear in blockLinears + [lmHead, scoreHead].compactMap({ $0 }) {
            linear.weightGradient = nil
            linear.biasGradient = nil
        }
        for norm in norms { norm.weightGradient = nil }
    }

    /// Gives a linear layer's weight (and bias) gradient buffers and returns them as optimizer parameters.
    public func makeTrainable(_ linear: Linear) -> [Parameter] {
        var parameters: [Parameter] = []
        if linear.weightGradient == nil {
            linear.dequantize()
            let g = Tensor(zeros: linear.weight.shape)
            linear.weight.makeWritable()
            linear.weightGradient = g
            parameters.append(Parameter(name: linear.name + ".weight", value: linear.weight, gradient: g, decays: true))
        }
        if let b = linear.bias, linear.biasGradient == nil {
            let g = Tensor(zeros: b.shape)
            b.makeWritable()
            linear.biasGradient = g
            parameters.append(Parameter(name: linear.name + ".bias", value: b, gradient: g, decays: false))
        }
        return parameters
    }

    /// Full fine-tuning: every parameter trains (embeddings, blocks, norms, an untied head, a score head).
    /// Norm weights and biases do not decay, as the HF Trainer's default grouping.
    public func prepareFullTraining() -> [Parameter] {
        freezeAll()
        let g = Tensor(zeros: embedding.shape)
        embedding.makeWritable()
        embeddingGradient = g
        var parameters = [Parameter(name: "model.embed_tokens.weight", value: embedding, gradient: g, decays: true)]
        for layer in layers {
            for norm in [layer.attentionNorm] { parameters += makeTrainable(norm) }
            for linear in layer.linears[0..<4] { parameters += makeTrainable(linear) }
            parameters += makeTrainable(layer.mlpNorm)
            for linear in layer.linears[4...] { parameters += makeTrainable(linear) }
        }
        parameters += makeTrainable(norm)
        for linear in [lmHead, scoreHead].compactMap({ $0 }) { parameters += makeTrainable(linear) }
        return parameters
    }

    func makeTrainable(_ norm: RMSNorm) -> [Parameter] {
        let g = Tensor(zeros: norm.weight.shape)
        norm.weight.makeWritable()
        norm.weightGradient = g
        return [Parameter(name: norm.name + ".weight", value: norm.weight, gradient: g, decays: false)]
    }
}
