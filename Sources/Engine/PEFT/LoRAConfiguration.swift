/// Which linear layers get an adapter.
public enum LoRATargets: Sendable, Equatable, Codable {
    /// Modules whose name equals one of these or ends with "." + one of these (PEFT's rule), e.g.
    /// ["query", "value"] or ["q_lin", "v_lin"].
    case modules([String])
    /// Every linear layer of the encoder blocks and the pooler, never the classification head.
    case allLinear
}

/// Which biases train beside the adapters (PEFT's `bias`).
public enum LoRABias: String, Sendable, Codable, CaseIterable {
    case none
    case all
    case loraOnly = "lora_only"
}

/// A LoRA setup, with PEFT's meaning for every field.
public struct LoRAConfiguration: Sendable, Equatable, Codable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    public var targets: LoRATargets
    /// rsLoRA: scale by α/√r instead of α/r.
    public var rankStabilized: Bool
    public var bias: LoRABias
    /// Modules trained in full and saved beside the adapters, besides the classification head (always)
    /// and freshly initialised modules (always): PEFT's modules_to_save, matched by name suffix,
    /// e.g. ["pooler"].
    public var modulesToSave: [String]
    /// DoRA: a trained magnitude per output row on top of the LoRA direction (PEFT's use_dora).
    public var useDoRA: Bool

    public init(rank: Int = 16, alpha: Float = 32, dropout: Float = 0.05, targets: LoRATargets = .modules(["query", "value"]),
                rankStabilized: Bool = false, bias: LoRABias = .none, modulesToSave: [String] = [], useDoRA: Bool = false) {
        self.modulesToSave = modulesToSave
        self.useDoRA = useDoRA
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = targets
        self.rankStabilized = rankStabilized
        self.bias = bias
    }
}

/// A LoRA setup or adapter file that cannot be used as asked.
public struct PEFTError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
