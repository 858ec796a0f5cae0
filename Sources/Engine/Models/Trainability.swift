import FinchTensor

/// Which of the base model's own parameters a run trains (adapters add theirs separately).
public enum BaseTraining: String, Sendable, CaseIterable {
    /// Every parameter: embeddings, every block, pooler and head (full fine-tuning).
    case full
    /// Every bias (BitFit), plus the head.
    case bitfit
    /// Only the head modules (what PEFT's modules_to_save trains beside adapters).
    case headOnly = "head"
}

extension Encoder {
    /// The classification head's modules plus any module the loader had to initialise freshly
    /// (e5's pooler): PEFT's modules_to_save for sequence classification.
    public var headModules: [Linear] {
        var modules: [Linear] = []
        if let head { modules += [head.dense, head.output].compactMap { $0 } }
        if let pooler, freshModules.contains(pooler.name) { modules.append(pooler) }
        return modules
    }

    /// Every linear layer of the encoder blocks (what `all-linear` targets), in module order.
    public var blockLinears: [Linear] { layers.flatMap(\.linears) }

    /// Every linear layer: blocks, pooler and head.
    public var allLinears: [Linear] { blockLinears + [pooler, head?.dense, head?.output].compactMap { $0 } }

    /// Sets how every linear layer computes with its frozen weight (see `FrozenPrecision`).
    public func setFrozenPrecision(_ precision: FrozenPrecision) throws {
        try precision.checkAvailable()
        for linear in allLinears { linear.precision = precision }
    }

    /// Every LayerNorm, in module order.
    public var layerNorms: [LayerNorm] {
        [embeddings.norm] + layers.flatMap { [$0.attentionNorm, $0.outputNorm] }
    }

    /// Freezes everything, then gives the parameters `training` selects gradient buffers; returns them
    /// as optimizer parameters with their state-dict names (biases and LayerNorm weights do not decay).
    public func prepareTraining(_ training: BaseTraining) -> [Parameter] {
        freezeAll()
        var parameters: [Parameter] = []
        func train(_ linear: Linear, weight: Bool, bias: Bool) {
            parameters += makeTrainable(linear, weight: weight, bias: bias)
        }
        func train(_ norm: LayerNorm, weight: Bool) {
            parameters += makeTrainable(norm, weight: weight)
        }
        let prefix = config.family.weightPrefix
        switch training {
        case .full:
            var tables = Embeddings.TableGradients()
            for (name, table, keyPath) in [("word_embeddings", embeddings.word, \Embeddings.TableGradients.word),
                                           ("position_embeddings", embeddings.position, \.position)] {
                let g = Tensor(zeros: table.shape)
                table.makeWritable()
                tables[keyPath: keyPath] = g
                parameters.append(Parameter(name: prefix + "embeddings.\(name).weight", value: table, gradient: g, decays: true))
            }
            if let types = embeddings.tokenType {
                let g = Tensor(zeros: types.shape)
                types.makeWritable()
                tables.tokenType = g
                parameters.append(Parameter(name: prefix + "embeddings.token_type_embeddings.weight", value: types, gradient: g, decays: true))
            }
            embeddings.gradients = tables
            for linear in blockLinears + [pooler].compactMap({ $0 }) { train(linear, weight: true, bias: true) }
            for norm in layerNorms { train(norm, weight: true) }
        case .bitfit:
            for linear in blockLinears + [pooler].compactMap({ $0 }) { train(linear, weight: false, bias: true) }
            for norm in layerNorms { train(norm, weight: false) }
        case .headOnly:
            break
        }
        for linear in headModules { train(linear, weight: true, bias: true) }
        return parameters
    }

    /// Gives a linear layer's weight and/or bias gradient buffers (unless they have them already) and
    /// returns the new optimizer parameters; biases do not decay. A weight held in 4 bits that is to train
    /// in full is dequantized to fp32 first (its values are those the layer computed with).
    public func makeTrainable(_ linear: Linear, weight: Bool, bias: Bool) -> [Parameter] {
        var parameters: [Parameter] = []
        if weight, linear.weightGradient == nil {
            linear.dequantize()
            let g = Tensor(zeros: linear.weight.shape)
            linear.weight.makeWritable()
            linear.weightGradient = g
            parameters.append(Parameter(name: linear.name + ".weight", value: linear.weight, gradient: g, decays: true))
        }
        if bias, let b = linear.bias, linear.biasGradient == nil {
            let g = Tensor(zeros: b.shape)
            b.makeWritable()
            linear.biasGradient = g
            parameters.append(Parameter(name: linear.name + ".bias", value: b, gradient: g, decays: false))
        }
        return parameters
    }

    /// Gives a LayerNorm's bias (and, with `weight`, its weight) gradient buffers unless they have them,
    /// and returns the new optimizer parameters; neither decays.
    public func makeTrainable(_ norm: LayerNorm, weight: Bool) -> [Parameter] {
        var parameters: [Parameter] = []
        if weight, norm.weightGradient == nil {
            let g = Tensor(zeros: norm.weight.shape)
            norm.weight.makeWritable()
            norm.weightGradient = g
            parameters.append(Parameter(name: norm.name + ".weight", value: norm.weight, gradient: g, decays: false))
        }
        if norm.biasGradient == nil {
            let g = Tensor(zeros: norm.bias.shape)
            norm.bias.makeWritable()
            norm.biasGradient = g
            parameters.append(Parameter(name: norm.name + ".bias", value: norm.bias, gradient: g, decays: false))
        }
        return parameters
    }

    /// Drops every gradient buffer: nothing trains.
    public func freezeAll() {
        embeddings.gradients = Embeddings.TableGradients()
        for linear in blockLinears + [pooler, head?.dense, head?.output].compactMap({ $0 }) {
            linear.weightGradient = nil
            linear.biasGradient = nil
        }
        for norm in layerNorms {
            norm.weightGradient = nil
            norm.biasGradient = nil
        }
    }

    /// Total parameter count of the base model and head (adapters are counted by their owner).
    public var baseParameterCount: Int {
        var total = embeddings.word.count + embeddings.position.count + (embeddings.tokenType?.count ?? 0)
        for linear in blockLinears + [pooler, head?.dense, head?.output].compactMap({ $0 }) {
            total += linear.outFeatures * linear.inFeatures + (linear.bias?.count ?? 0)
        }
        for norm in layerNorms { total += norm.weight.count + norm.bias.count }
        return total
    }
}
