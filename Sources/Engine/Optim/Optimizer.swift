import FinchTensor

/// The optimizers a training run can use (the language's `optim=` option).
public enum OptimizerAlgorithm: String, Sendable, Codable, CaseIterable {
    /// `AdamW`: torch.optim.AdamW; two fp32 moments per trained value, in memory (8 bytes per value).
    case adamw
    /// `AdamW8bit`: bitsandbytes.optim.AdamW8bit; the moments of tensors with ≥ 4096 values as 8-bit codes
    /// with a float absmax per 256 (about 2 bytes per value).
    case adamw8bit
    /// `PagedAdamW`: AdamW, bit for bit, with the moments in a memory-mapped file the kernel may write back
    /// and drop under memory pressure.
    case pagedAdamW = "paged_adamw"

    /// Its name in the language and in checkpoints.
    public var name: String { rawValue }

    /// The kind named `name` ("adamw", "adamw8bit", "paged_adamw"); throws naming the choices otherwise.
    public init(name: String) throws {
        guard let kind = OptimizerAlgorithm(rawValue: name) else {
            throw OptimizerError("unknown optimizer \"\(name)\"; choose one of \(Self.allCases.map(\.name).joined(separator: ", "))")
        }
        self = kind
    }

    /// The optimizer state `parameterCounts` (values per trained tensor) will need, before one exists: what
    /// a memory planner reads. Step counts (a few bytes per tensor) are left out.
    /// - adamw: resident 8·n.
    /// - adamw8bit: per tensor of n ≥ 4096 values, 2·n code bytes + 8 bytes per block of 256; smaller tensors
    ///   8·n; plus a resident fp32 scratch of 8 bytes per value of the largest 8-bit tensor.
    /// - paged_adamw: mapped 8·n (each moment rounded up to 64 bytes), resident 0 between steps.
    public func stateBytes(parameterCounts: [Int]) -> OptimizerStateBytes {
        switch self {
        case .adamw:
            return OptimizerStateBytes(resident: parameterCounts.reduce(0) { $0 + 8 * $1 }, mapped: 0)
        case .adamw8bit:
            var resident = 0, largest = 0
            for n in parameterCounts {
                if n >= AdamW8bit.minimumQuantizedCount {
                    resident += 2 * n + 8 * AdamW8bit.blockCount(n)
                    largest = max(largest, n)
                } else {
                    resident += 8 * n
                }
            }
            return OptimizerStateBytes(resident: resident + 8 * largest, mapped: 0)
        case .pagedAdamW:
            return OptimizerStateBytes(resident: 0, mapped: PagedAdamW.layout(parameterCounts).total)
        }
    }
}

/// Bytes of optimizer state: `resident` in ordinary (anonymous) memory, which stays in RAM for the life of
/// the optimizer (this machine kind has no swap), and `mapped` in a file mapping, which the kernel can
/// write back to its file and drop when memory runs short, so it counts towards RAM only while in use.
public struct OptimizerStateBytes: Sendable, Equatable {
    public var resident: Int
    public var mapped: Int

    public init(resident: Int, mapped: Int) {
        self.resident = resident
        self.mapped = mapped
    }
}

/// One named tensor of optimizer state, as it goes into a checkpoint: fp32 values (moments, absmax, step
/// counts) or raw bytes (8-bit codes, written as U8).
public enum OptimizerStateTensor: Sendable {
    case float(Tensor)
    case bytes([UInt8], shape: [Int])

    /// The shape, whatever the element type.
    public var shape: [Int] {
        switch self {
        case let .float(tensor): tensor.shape
        case let .bytes(_, shape): shape
        }
    }
}

/// What the trainer needs of an optimizer: a step with the schedule's learning rate, state in and out for
/// checkpoints (so that resuming continues bit for bit), and how much memory that state takes.
public protocol Optimizer: AnyObject {
    /// Which optimizer this is.
    var kind: OptimizerAlgorithm { get }
    /// The parameters updated, in order.
    var parameters: [Parameter] { get }
    /// Updates every parameter from its gradient with learning rate `learningRate`.
    func step(learningRate: Double)
    /// The whole state by name, as copies, for a checkpoint (names are `"<parameter>.<entry>"`).
    func checkpointState() -> [String: OptimizerStateTensor]
    /// Replaces the state with `checkpointState` as `checkpointState()` wrote it; everything is checked
    /// before anything changes, and the error names each entry that does not fit.
    func load(checkpointState: [String: OptimizerStateTensor]) throws
    /// The state's bytes now (see `OptimizerStateBytes`).
    var stateBytes: OptimizerStateBytes { get }
}

/// Builds the optimizer of `kind` for `parameters`. A paged optimizer puts its file in `pagingFolder`
/// (nil: `$TMPDIR`, else /tmp).
public func makeOptimizer(_ kind: OptimizerAlgorithm, parameters: [Parameter], weightDecay: Double,
                          pagingFolder: String? = nil) throws -> any Optimizer {
    switch kind {
    case .adamw: try AdamW(parameters: parameters, weightDecay: weightDecay)
    case .adamw8bit: try AdamW8bit(parameters: parameters, weightDecay: weightDecay)
    case .pagedAdamW: try PagedAdamW(parameters: parameters, weightDecay: weightDecay, folder: pagingFolder)
    }
}

extension AdamW: Optimizer {
    public var kind: OptimizerAlgorithm { .adamw }

    /// `state()` as fp32 entries: `<name>.exp_avg`, `<name>.exp_avg_sq`, `<name>.step`.
    public func checkpointState() -> [String: OptimizerStateTensor] {
        state().mapValues { .float($0) }
    }

    public func load(checkpointState: [String: OptimizerStateTensor]) throws {
        try load(state: floatEntries(checkpointState))
    }

    public var stateBytes: OptimizerStateBytes {
        OptimizerStateBytes(resident: parameters.reduce(0) { $0 + 8 * $1.value.count }, mapped: 0)
    }
}

/// The entries of `state` as fp32 tensors; throws naming the entries that hold bytes.
func floatEntries(_ state: [String: OptimizerStateTensor]) throws -> [String: Tensor] {
    var tensors: [String: Tensor] = [:]
    var wrong: [String] = []
    for (name, entry) in state {
        switch entry {
        case let .float(tensor): tensors[name] = tensor
        case .bytes: wrong.append(name)
        }
    }
    guard wrong.isEmpty else {
        throw OptimizerError("optimizer state holds 8-bit codes (\(wrong.sorted().prefix(3).joined(separator: ", "))) where AdamW keeps fp32 moments: was it saved with optim=adamw8bit?")
    }
    return tensors
}
