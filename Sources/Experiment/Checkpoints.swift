import Foundation
import FinchCheckpoint
import FinchOptim
import FinchPEFT
import FinchTensor

/// Checkpoints: one folder per checkpoint, `checkpoint-<step>/`, holding
///   trainer_state.json      step, data order and position, losses, evaluations, every generator's state
///   config.json             the training options by name (and the adapter's, when training adapters)
///   trainable.safetensors   the trained parameters, by state-dict name
///   optimizer.safetensors   the optimizer's state: AdamW's moments and step counts, or 8-bit AdamW's
///                           codes (U8), absmax and step counts (see `Optimizer.checkpointState()`)
///   best.safetensors        the best evaluation's parameters (when keeping the best)
///   adapter/                the LoRA adapters in PEFT's layout (when training adapters)
/// Each is written into a temporary folder that takes its place when complete (`AtomicFolder`), so a
/// crash mid-write leaves the previous checkpoints intact and no half checkpoint.
extension ClassifierTrainer {
    static let checkpointPrefix = "checkpoint-"

    /// Writes a checkpoint of the current step into `folder` and prunes old ones to `options.keep`
    /// (never the best). Returns the checkpoint's folder.
    @discardableResult
    public func saveCheckpoint(in folder: URL) throws -> URL {
        let destination = folder.appendingPathComponent("\(Self.checkpointPrefix)\(state.step)")
        var saved = state
        saved.dropoutRandom = dropoutRandom
        saved.adapterRandoms = adapters?.adapted.map(\.adapter.dropoutRandom) ?? []
        StaleTemporaries.remove(in: folder, prefix: ".\(Self.checkpointPrefix)")  // of checkpoints killed mid-write
        try AtomicFolder.write(destination) { temporary in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(saved), to: temporary.appendingPathComponent("trainer_state.json"))
            var config = options.settings
            if let lora = adapters?.configuration {
                config["method"] = lora.useDoRA ? "dora" : "lora"
                config["r"] = "\(lora.rank)"
                config["alpha"] = "\(lora.alpha)"
                config["rslora"] = "\(lora.rankStabilized)"
            }
            try AtomicFile.write(try encoder.encode(config), to: temporary.appendingPathComponent("config.json"))
            try SafetensorsWriter.write(Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, .float($0.value)) }),
                                        to: temporary.appendingPathComponent("trainable.safetensors"))
            let optimizerState = optimizer.checkpointState().mapValues { entry -> SafetensorsWriter.Payload in
                switch entry {
                case let .float(tensor): .float(tensor)
                case let .bytes(bytes, shape): .bytes(bytes, shape: shape)
                }
            }
            try SafetensorsWriter.write(optimizerState, metadata: ["optim": optimizer.kind.name],
                                        to: temporary.appendingPathComponent("optimizer.safetensors"))
            if let best = bestParameterValues {
                try SafetensorsWriter.write(Dictionary(uniqueKeysWithValues: zip(parameters, best).map { ($0.name, .float($1)) }),
                                            to: temporary.appendingPathComponent("best.safetensors"))
            }
            if let adapters {
                try AdapterFiles.save(adapters, to: temporary.appendingPathComponent("adapter"), baseModel: baseModelName)
            }
        }
        try prune(folder)
        return destination
    }

    /// Restores a checkpoint written by `saveCheckpoint` into this trainer (same model, parameters and
    /// options); `train` then continues from its step exactly as the uninterrupted run would have.
    public func restore(from checkpoint: URL) throws {
        let stateURL = checkpoint.appendingPathComponent("trainer_state.json")
        guard FileManager.default.fileExists(atPath: stateURL.path) else {
            throw TrainingError("\(checkpoint.path): not a checkpoint (no trainer_state.json)")
        }
        let restored: TrainerState
        do { restored = try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: stateURL)) } catch {
            throw TrainingError("\(stateURL.path): unreadable (\(error))")
        }
        let values = try SafetensorsFile(url: checkpoint.appendingPathComponent("trainable.safetensors"))
        let missing = parameters.map(\.name).filter { values.entries[$0] == nil }
        guard missing.isEmpty, values.entries.count == parameters.count else {
            throw TrainingError("\(checkpoint.path): the checkpoint trains other parameters than this run (missing: \(missing.prefix(3).joined(separator: ", ")))")
        }
        try loadOptimizerState(from: checkpoint.appendingPathComponent("optimizer.safetensors"))
        for p in parameters {
            let tensor = try values.tensor(p.name)
            guard tensor.shape == p.value.shape else { throw TrainingError("\(checkpoint.path): \(p.name) has shape \(tensor.shape), the model \(p.value.shape)") }
            p.value.data.update(from: tensor.data, count: tensor.count)
        }
        let bestURL = checkpoint.appendingPathComponent("best.safetensors")
        if FileManager.default.fileExists(atPath: bestURL.path) {
            let best = try SafetensorsFile(url: bestURL)
            bestParameterValues = try parameters.map { try best.tensor($0.name).copy() }
        }
        if let random = restored.dropoutRandom { dropoutRandom = random }
        if let adapters, restored.adapterRandoms.count == adapters.adapted.count {
            for ((_, adapter), random) in zip(adapters.adapted, restored.adapterRandoms) { adapter.dropoutRandom = random }
        }
        state = restored
    }

    /// Loads optimizer.safetensors (U8 entries as 8-bit codes, the rest as fp32) into the optimizer; the error
    /// names the file and says which optimizer wrote it when that is not this run's.
    private func loadOptimizerState(from url: URL) throws {
        let file = try SafetensorsFile(url: url)
        var state: [String: OptimizerStateTensor] = [:]
        for name in file.names {
            if file.entries[name]?.dtype == .u8 {
                let (values, shape) = try file.integers(name)
                state[name] = .bytes(values.map { UInt8($0) }, shape: shape)
            } else {
                state[name] = .float(try file.tensor(name))
            }
        }
        do { try optimizer.load(checkpointState: state) } catch {
            let writer = file.metadata["optim"].map { $0 == optimizer.kind.name ? "" : " (written by optim=\($0); this run uses optim=\(optimizer.kind.name))" } ?? ""
            throw TrainingError("\(url.path)\(writer): \(error)")
        }
    }

    /// The training options a checkpoint was written with (its config.json), so a run can be rebuilt
    /// from disk alone.
    public static func options(inCheckpoint checkpoint: URL) throws -> TrainingOptions {
        let url = checkpoint.appendingPathComponent("config.json")
        let settings: [String: String]
        do { settings = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: url)) } catch {
            throw TrainingError("\(url.path): unreadable (\(error))")
        }
        return try TrainingOptions(settings: settings)
    }

    /// The checkpoints in `folder`, oldest step first.
    public static func checkpoints(in folder: URL) -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.compactMap { name in
            guard name.hasPrefix(checkpointPrefix), let step = Int(name.dropFirst(checkpointPrefix.count)) else { return nil }
            return (step, folder.appendingPathComponent(name))
        }.sorted { $0.step < $1.step }
    }

    /// Keeps the newest `options.keep` checkpoints and the best one; removes the rest.
    private func prune(_ folder: URL) throws {
        let all = Self.checkpoints(in: folder)
        let kept = Set(all.suffix(options.keep).map(\.step) + [state.bestStep].compactMap { $0 })
        for checkpoint in all where !kept.contains(checkpoint.step) {
            try FileManager.default.removeItem(at: checkpoint.url)
        }
    }
}
