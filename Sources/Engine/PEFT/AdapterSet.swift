import FinchModels
import FinchTensor

/// Several named LoRA adapters on one encoder with one active at a time, as PEFT's add_adapter /
/// set_adapter: each adapter has its own A, B (and magnitudes) and its own copy of the modules it
/// trains in full (the head), which starts from the base model's.
public final class AdapterSet: @unchecked Sendable {
    public let encoder: Encoder
    /// Adapter names in the order they were added.
    public private(set) var names: [String] = []
    public private(set) var active: String?
    private var models: [String: LoRAModel] = [:]
    /// Saved-module weights of each inactive adapter, and of the base model, by module name.
    private var storedModules: [String: [String: (weight: Tensor, bias: Tensor?)]] = [:]
    /// The base model's own weights of every module some adapter trains in full (taken before any does).
    private var baseModules: [String: (weight: Tensor, bias: Tensor?)]

    public init(encoder: Encoder) {
        self.encoder = encoder
        baseModules = Self.snapshot(encoder.headModules + [encoder.pooler].compactMap { $0 })
    }

    /// The adapter called `name`.
    public subscript(name: String) -> LoRAModel? { models[name] }

    /// Adds a fresh adapter and makes it active.
    @discardableResult
    public func add(_ name: String, configuration: LoRAConfiguration, seed: UInt64) throws -> LoRAModel {
        try add(name) { try LoRAModel(encoder: encoder, configuration: configuration, seed: seed) }
    }

    /// Adds an adapter built by `make` (e.g. loaded from files) on a clean base, and makes it active.
    @discardableResult
    public func add(_ name: String, _ make: () throws -> LoRAModel) throws -> LoRAModel {
        guard models[name] == nil else { throw PEFTError("an adapter named \"\(name)\" exists already (\(names.joined(separator: ", ")))") }
        try deactivate()
        restore(baseModules)
        let model = try make()
        // Other block layers an adapter trains in full: their values before it trains (for a fresh adapter,
        // the base model's).
        for (key, value) in Self.snapshot(model.savedModules) where baseModules[key] == nil { baseModules[key] = value }
        models[name] = model
        names.append(name)
        active = name
        return model
    }

    /// Makes `name` the active adapter: its layers, and its copy of the head.
    public func activate(_ name: String) throws {
        guard let model = models[name] else {
            throw PEFTError("no adapter named \"\(name)\"; the adapters are \(names.isEmpty ? "none" : names.joined(separator: ", "))")
        }
        guard name != active else { return }
        try deactivate()
        model.attach()
        if let stored = storedModules.removeValue(forKey: name) { restore(stored) }
        active = name
    }

    /// Removes an adapter; removing the active one leaves the base model (with its own head) in place.
    public func remove(_ name: String) throws {
        guard let model = models.removeValue(forKey: name) else { throw PEFTError("no adapter named \"\(name)\"") }
        names.removeAll { $0 == name }
        storedModules[name] = nil
        if active == name {
            try model.detach()
            restore(baseModules)
            active = nil
        }
    }

    private func deactivate() throws {
        guard let current = active, let model = models[current] else { return }
        if model.isMerged { try model.unmerge() }
        storedModules[current] = Self.snapshot(model.savedModules)
        try model.detach()
        active = nil
    }

    private static func snapshot(_ modules: [Linear]) -> [String: (weight: Tensor, bias: Tensor?)] {
        Dictionary(modules.map { ($0.name, ($0.weightCopy(), $0.bias?.copy())) }, uniquingKeysWith: { a, _ in a })
    }

    private func restore(_ stored: [String: (weight: Tensor, bias: Tensor?)]) {
        for linear in encoder.blockLinears + [encoder.pooler, encoder.head?.dense, encoder.head?.output].compactMap({ $0 }) {
            guard let saved = stored[linear.name] else { continue }
            // A 4-bit weight that already holds these values stays 4-bit; other values need fp32.
            if linear.isQuantized, linear.weightCopy().array != saved.weight.array { linear.dequantize() }
            if !linear.isQuantized {
                linear.weight.makeWritable()
                linear.weight.data.update(from: saved.weight.data, count: linear.weight.count)
                linear.weightValuesChanged()
            }
            if let bias = linear.bias, let savedBias = saved.bias {
                bias.makeWritable()
                bias.data.update(from: savedBias.data, count: bias.count)
            }
        }
    }
}
