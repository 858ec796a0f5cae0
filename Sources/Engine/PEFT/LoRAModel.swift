import FinchModels
import FinchTensor

/// An encoder with LoRA adapters on some of its linear layers, the classification head trained beside
/// them (PEFT's modules_to_save), and merge / unmerge / detach.
public final class LoRAModel: @unchecked Sendable {
    public let encoder: Encoder
    public let configuration: LoRAConfiguration
    /// Adapted layers by module name, in module order.
    public let adapted: [(linear: Linear, adapter: LoRAAdapter)]
    public private(set) var isMerged = false

    /// Attaches fresh adapters (seeded) to the layers `configuration.targets` selects.
    public init(encoder: Encoder, configuration: LoRAConfiguration, seed: UInt64) throws {
        let targets = try Self.check(configuration, for: encoder)
        var random = SeededRandom(seed: seed)
        self.encoder = encoder
        self.configuration = configuration
        self.adapted = targets.map { linear in
            let adapter = LoRAAdapter(inFeatures: linear.inFeatures, outFeatures: linear.outFeatures, rank: configuration.rank,
                                      alpha: configuration.alpha, rankStabilized: configuration.rankStabilized,
                                      dropout: configuration.dropout, random: &random)
            if configuration.useDoRA { adapter.enableDoRA(base: linear) }
            linear.adapter = adapter
            return (linear, adapter)
        }
    }

    /// Every module trained in full and saved with the adapters: the head, fresh modules, and the layers
    /// `configuration.modulesToSave` names (PEFT's rule: the module path ends with the name).
    public var savedModules: [Linear] {
        var modules = encoder.headModules
        for linear in encoder.blockLinears + [encoder.pooler].compactMap({ $0 }) where !modules.contains(where: { $0 === linear }) {
            // The layer itself or a module containing it (bert.pooler ⊃ bert.pooler.dense) matches.
            let path = linear.name.split(separator: ".")
            let enclosing = (1...path.count).map { path.prefix($0).joined(separator: ".") }
            if configuration.modulesToSave.contains(where: { entry in enclosing.contains { $0 == entry || $0.hasSuffix("." + entry) } }) {
                modules.append(linear)
            }
        }
        return modules
    }

    /// The layers whose biases train beside the adapters, by PEFT's bias mode: none; all (every linear
    /// layer's and LayerNorm's); lora_only (the adapted layers'). The saved modules' own biases train with them.
    public var biasedLayers: (linears: [Linear], norms: [LayerNorm]) {
        let saved = Set(savedModules.map(\.name))
        func biased(_ linears: [Linear]) -> [Linear] { linears.filter { $0.bias != nil && !saved.contains($0.name) } }
        switch configuration.bias {
        case .none: return ([], [])
        case .all: return (biased(encoder.blockLinears + [encoder.pooler].compactMap { $0 }), encoder.layerNorms)
        case .loraOnly: return (biased(adapted.map(\.linear)), [])
        }
    }

    /// The layers `configuration` would adapt in `encoder`, or the error `init` would throw; changes nothing.
    @discardableResult
    public static func check(_ configuration: LoRAConfiguration, for encoder: Encoder) throws -> [Linear] {
        guard configuration.rank > 0 else { throw PEFTError("r must be at least 1, got \(configuration.rank)") }
        guard (0..<1).contains(configuration.dropout) else { throw PEFTError("dropout must be in [0, 1), got \(configuration.dropout)") }
        return try resolveTargets(configuration.targets, in: encoder)
    }

    /// The layers a target list selects, by PEFT's rule; throws when it selects none.
    static func resolveTargets(_ targets: LoRATargets, in encoder: Encoder) throws -> [Linear] {
        let candidates = encoder.blockLinears + [encoder.pooler].compactMap { $0 }
        switch targets {
        case .allLinear:
            return candidates
        case let .modules(names):
            let selected = candidates.filter { linear in names.contains { linear.name == $0 || linear.name.hasSuffix("." + $0) } }
            guard !selected.isEmpty else {
                let available = Set(candidates.map { $0.name.split(separator: ".").last.map(String.init) ?? $0.name }).sorted()
                throw PEFTError("targets \(names) match no linear layer of this model; its layer names end in: \(available.joined(separator: ", "))")
            }
            return selected
        }
    }

    /// Freezes the base, then returns the trainable parameters: every lora_A / lora_B, the biases the
    /// bias mode selects, and the head modules. Names follow PEFT's saved adapter files.
    public func trainableParameters() -> [Parameter] {
        var parameters = encoder.prepareTraining(.headOnly)
        let saved = savedModules
        for linear in saved { parameters += encoder.makeTrainable(linear, weight: true, bias: true) }
        let biased = biasedLayers
        for linear in biased.linears { parameters += encoder.makeTrainable(linear, weight: false, bias: true) }
        for norm in biased.norms { parameters += encoder.makeTrainable(norm, weight: false) }
        for (linear, adapter) in adapted { parameters += adapter.parameters(module: linear.name) }
        return parameters
    }

    /// Turns adapter dropout on (training) or off (evaluation).
    public func setTraining(_ training: Bool) {
        for (_, adapter) in adapted { adapter.isTraining = training }
    }

    /// W ← W + s·B·A for every adapted layer. Refuses (changing nothing) if any result is not finite, or
    /// if a base weight is held in 4 bits (QLoRA): merging there would mean requantizing W + s·B·A, which
    /// rounds most of the adapter away.
    public func merge() throws {
        guard !isMerged else { throw PEFTError("the adapters are already merged") }
        if let linear = adapted.first(where: { $0.linear.isQuantized })?.linear {
            throw PEFTError("cannot merge into \(linear.name): its base weight is held in 4 bits (\(linear.quantized!.format)); "
                            + "requantizing W + scale·B·A would round the adapter away. Dequantize the base first "
                            + "(QLoRA.dequantize) to merge in fp32, or keep the adapter separate")
        }
        for (linear, adapter) in adapted {
            if let dora = adapter.dora {
                try dora.merge(into: linear, adapter: adapter)
                continue
            }
            let merged = linear.weight.copy()
            adapter.addDelta(to: merged, sign: 1)
            guard (0..<merged.count).allSatisfy({ merged[$0].isFinite }) else {
                throw PEFTError("merging the adapter into \(linear.name) gives non-finite weights; nothing was merged")
            }
        }
        for (linear, adapter) in adapted {
            linear.weight.makeWritable()
            if let dora = adapter.dora {
                try dora.merge(into: linear, adapter: adapter)
                dora.applyMerge(into: linear)
            } else {
                adapter.addDelta(to: linear.weight, sign: 1)
            }
            linear.weightValuesChanged()
            adapter.setMerged(true)
        }
        isMerged = true
    }

    /// W ← W − s·B·A: undoes `merge`.
    public func unmerge() throws {
        guard isMerged else { throw PEFTError("the adapters are not merged") }
        for (linear, adapter) in adapted {
            if let dora = adapter.dora {
                dora.unmerge(from: linear, adapter: adapter)
            } else {
                adapter.addDelta(to: linear.weight, sign: -1)
            }
            linear.weightValuesChanged()
            adapter.setMerged(false)
        }
        isMerged = false
    }

    /// Puts this model's adapters (back) on their layers.
    public func attach() {
        for (linear, adapter) in adapted { linear.adapter = adapter }
    }

    /// Removes the adapters from the encoder (unmerging first if merged): the base model is left as it was.
    public func detach() throws {
        if isMerged { try unmerge() }
        for (linear, _) in adapted { linear.adapter = nil }
    }

    /// Parameters that train and parameters in all, as PEFT's print_trainable_parameters counts them
    /// (PEFT keeps the original head beside its trainable modules_to_save copy and counts both).
    public func parameterCounts() -> (trainable: Int, total: Int) {
        let trainable = trainableParameterCountWithoutSideEffects()
        let adapterTotal = adapted.reduce(0) { $0 + $1.adapter.a.count + $1.adapter.b.count + ($1.adapter.dora?.magnitude.count ?? 0) }
        let headCopies = savedModules.reduce(0) { $0 + $1.outFeatures * $1.inFeatures + ($1.bias?.count ?? 0) }
        return (trainable, encoder.baseParameterCount + adapterTotal + headCopies)
    }

    private func trainableParameterCountWithoutSideEffects() -> Int {
        var count = adapted.reduce(0) { $0 + $1.adapter.a.count + $1.adapter.b.count + ($1.adapter.dora?.magnitude.count ?? 0) }
        count += savedModules.reduce(0) { $0 + $1.outFeatures * $1.inFeatures + ($1.bias?.count ?? 0) }
        let biased = biasedLayers
        count += biased.linears.reduce(0) { $0 + ($1.bias?.count ?? 0) } + biased.norms.reduce(0) { $0 + $1.bias.count }
        return count
    }
}
