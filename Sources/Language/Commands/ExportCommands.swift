import Foundation
import FinchCheckpoint
import FinchData
import FinchExperiment
import FinchModels
import FinchTensor

/// export script, export model, export config: the session's run handed to the tools used on many GPUs.
enum ExportCommands {
    static let all: [CommandSpec] = [script, model, config]

    static let script = CommandSpec(
        "export script", group: .export,
        summary: "Write the session's run as a transformers + PEFT Python script (with accelerate / DeepSpeed configs)",
        positionals: [ArgumentSpec("file", .path, optional: false, help: "The Python script to write, e.g. \"train.py\"")],
        options: [
            ArgumentSpec("launcher", .choice(LaunchSetup.Launcher.allCases.map(\.rawValue)), default: "torchrun",
                         help: "How the header says to start it on several GPUs (accelerate also writes accelerate_config.yaml)"),
            ArgumentSpec("deepspeed", .choice(LaunchSetup.ZeRO.allCases.map(\.rawValue)),
                         help: "Shard with DeepSpeed ZeRO stage 2 or 3 (writes ds_zero2.json or ds_zero3.json beside the script)"),
        ] + TrainCommands.trainingOptions,
        details: """
        The script reproduces the session: the model folder, the data file and columns, the label order, the \
        split rows, the seed, the method (lora with rsLoRA/DoRA, qlora through bitsandbytes, bitfit, full), \
        and the training options of the last run, or of the train keys given here (as `train` takes them). \
        It runs transformers' Trainer on Finch's own data order (the same generator and seed) and starts from \
        the head Finch initialised (FILE.init.safetensors beside it), so `python FILE --stop-after 3 \
        --dump-first-steps steps.json` gives Finch's first losses and learning rates. Its header says how to \
        launch it on one GPU, several GPUs and several nodes, and lists what transformers cannot do exactly as Finch.
        """,
        example: "export script \"train.py\"\nexport script \"train.py\" launcher=accelerate deepspeed=zero2") { call in
        let (plan, encoder) = try exportPlan(call, scriptFile: call.string("file")!)
        var launch = LaunchSetup()
        launch.scriptName = call.interpreter.resolve(path: call.string("file")!).lastPathComponent
        launch.launcher = LaunchSetup.Launcher(rawValue: call.string("launcher", default: "torchrun"))!
        launch.deepspeed = call.string("deepspeed").flatMap(LaunchSetup.ZeRO.init(rawValue:))
        let scriptURL = call.interpreter.resolve(path: call.string("file")!)
        let folder = scriptURL.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var written: [String] = []
        func write(_ text: String, _ name: String) throws {
            try AtomicFile.write(Data(text.utf8), to: folder.appendingPathComponent(name))
            written.append(name)
        }
        try write(TrainingScript.generate(plan, launch: launch), launch.scriptName)
        if launch.launcher == .accelerate { try write(LaunchConfigs.accelerate(launch), LaunchSetup.accelerateConfigName) }
        if let zero = launch.deepspeed, let name = launch.deepspeedConfigName { try write(LaunchConfigs.deepspeed(zero), name) }
        if let name = plan.initialWeightsFile {
            try writeInitialWeights(call, encoder: encoder, to: folder.appendingPathComponent(name))
            written.append(name)
        }
        let text = (["wrote " + written.joined(separator: ", ") + " in \(folder.path == call.interpreter.workingDirectory.path ? "." : folder.path)",
                     "run it: python \(launch.scriptName)   (the header shows several GPUs and nodes)",
                     "not exactly as in Finch:"] + plan.inexact.map { "  - " + $0 }).joined(separator: "\n")
        return Output(plain: text, json: .object([("files", JSONValue(written)), ("folder", .string(folder.path)),
                                                  ("inexact", JSONValue(plan.inexact))]))
    }

    static let model = CommandSpec(
        "export model", group: .export, summary: "Write the model with its adapter merged in as a Hugging Face model folder",
        positionals: [ArgumentSpec("folder", .path, optional: false, help: "The folder to write (created if needed)")],
        options: [
            ArgumentSpec("dtype", .choice(["f32", "f16", "bf16"]), default: "f32", help: "The weights' type on disk"),
            ArgumentSpec("overwrite", .bool, default: "false", help: "Write into a folder that holds other files"),
        ],
        details: "config.json (the base model's, with the labels and dtype), model.safetensors and the tokenizer files: AutoModelForSequenceClassification.from_pretrained(folder) loads it as is. An adapter not merged yet is merged for the write and unmerged after. QLoRA's 4-bit base weights cannot be written as a merged model: save the adapter instead.",
        example: "export model \"models/banglish-merged\"\nexport model \"models/banglish-bf16\" dtype=bf16") { call in
        let (encoder, _) = try call.trainer.model()
        guard let baseFolder = call.trainer.modelFolder else {
            throw SessionError("the model has no folder to take config.json and the tokenizer from", hint: "load it from a Hugging Face folder: model load \"dir\"")
        }
        let folderText = call.string("folder")!
        let folder = call.interpreter.resolve(path: folderText)
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let ours = Set(["config.json", "model.safetensors"] + MergedModel.tokenizerFiles)
        let foreign = existing.filter { !ours.contains($0) && !$0.hasPrefix(".") }
        if !foreign.isEmpty, !call.bool("overwrite", default: false) {
            throw call.error("\(folderText) holds other files (\(foreign.prefix(3).joined(separator: ", ")))", at: "folder",
                             notes: ["choose an empty folder, or pass overwrite=true"])
        }
        let dtype: SafetensorsDType = switch call.string("dtype", default: "f32") {
        case "f16": .f16
        case "bf16": .bf16
        default: .f32
        }
        let files = try MergedModel.write(encoder: encoder, adapters: call.trainer.adapters, baseFolder: baseFolder,
                                          labelNames: call.trainer.labelNames, dtype: dtype, to: folder)
        let bytes = files.compactMap { try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent($0).path)[.size] as? Int }.reduce(0, +)
        return Output(plain: "model written to \(folderText)/ (\(files.joined(separator: ", ")); \(Render.grouped(bytes)) bytes, \(dtype.rawValue))",
                      json: .object([("folder", .string(folder.path)), ("files", JSONValue(files)), ("bytes", JSONValue(bytes)),
                                     ("dtype", .string(call.string("dtype", default: "f32")))]))
    }

    static let config = CommandSpec(
        "export config", group: .export, summary: "Write the session's run as an Axolotl config (YAML)",
        positionals: [ArgumentSpec("file", .path, help: "The YAML file to write (default axolotl.yaml)")],
        options: TrainCommands.trainingOptions,
        details: "Only keys whose meaning is exactly Finch's are written; the comments at the top list what Axolotl cannot say (the classification task and labels, Finch's split rows and data order). Training options as for export script.",
        example: "export config\nexport config \"run.yaml\"") { call in
        let fileText = call.string("file") ?? "axolotl.yaml"
        let (plan, _) = try exportPlan(call, scriptFile: fileText)
        let url = call.interpreter.resolve(path: fileText)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(Data(AxolotlConfig.generate(plan).utf8), to: url)
        return Output(plain: "wrote \(fileText) (Axolotl; its comments list what it cannot say)", json: .object([("file", .string(url.path))]))
    }

    // MARK: the plan

    /// The export plan of the session, refusing what cannot be exported. `scriptFile` places the files
    /// that paths are written relative to.
    static func exportPlan(_ call: Invocation, scriptFile: String) throws -> (ExportPlan, Encoder) {
        let rows = try call.dataset.loaded()
        let (encoder, _) = try call.trainer.classifier()
        guard let method = call.trainer.method else {
            throw SessionError("no training method set", hint: "choose one first: lora r=16 alpha=32, qlora, bitfit or full")
        }
        guard let modelFolder = call.trainer.modelFolder else {
            throw SessionError("the model has no folder transformers could load", hint: "load it from a Hugging Face folder: model load \"dir\"")
        }
        guard rows.labelNames == call.trainer.labelNames else {
            throw SessionError("the model's head is for labels [\(call.trainer.labelNames.joined(separator: ", "))] but the data has [\(rows.labelNames.joined(separator: ", "))]",
                               hint: "load the model again after loading the data")
        }
        let trainKeys = TrainCommands.trainingOptions.map(\.name)
        let options = try trainKeys.contains(where: call.has) || call.trainer.run == nil
            ? TrainCommands.trainingOptions(call) : call.trainer.run!.trainer.options
        let scriptFolder = call.interpreter.resolve(path: scriptFile).deletingLastPathComponent()
        let dataURL = try dataURL(call)
        let format = Table.Format.inferred(from: dataURL)?.rawValue ?? "csv"
        let codes = try splitCodes(call, rows: rows.count, file: dataURL, format: format)
        let fresh = encoder.freshModules
        let stem = call.interpreter.resolve(path: scriptFile).deletingPathExtension().lastPathComponent
        let plan = ExportPlan(
            model: relative(modelFolder, to: scriptFolder), family: encoder.config.family, dataFile: relative(dataURL, to: scriptFolder),
            format: format, textColumn: call.dataset.textColumn, labelColumn: call.dataset.labelColumn, labelNames: rows.labelNames,
            splitCodes: codes, method: method,
            modulesToSave: ExportPlan.modulesToSave(family: encoder.config.family, freshModules: fresh,
                                                    configured: method.loraConfiguration?.modulesToSave ?? []),
            options: options, initialWeightsFile: fresh.isEmpty ? nil : stem + ".init.safetensors",
            inexact: ExportPlan.inexactSettings(method: method, options: options, format: format))
        return (plan, encoder)
    }

    /// The loaded data file: as written relative to the working folder, else under $FINCH_DATA.
    static func dataURL(_ call: Invocation) throws -> URL {
        guard let source = call.dataset.source else { throw SessionError("no data loaded", hint: "data load \"file.csv\" text=COLUMN label=COLUMN") }
        let local = call.interpreter.resolve(path: source)
        if FileManager.default.fileExists(atPath: local.path) { return local }
        let root = DataCommands.dataRootOverride.value ?? ProcessInfo.processInfo.environment["FINCH_DATA"] ?? ""
        let shared = URL(fileURLWithPath: root).appendingPathComponent(source)
        guard !root.isEmpty, FileManager.default.fileExists(atPath: shared.path) else {
            throw SessionError("the data file \(source) is no longer where it was loaded from", hint: "load it again: data load \"\(source)\" …")
        }
        return shared
    }

    /// The split code of every row of the file (0 train, 1 valid, 2 test, 3 none), or nil when every row of
    /// the file trains. Rows of the session are matched to the file's by the line they start on, so a
    /// `data sample` (which keeps some rows) exports as the rows it kept.
    static func splitCodes(_ call: Invocation, rows: Int, file: URL, format: String) throws -> [UInt8]? {
        let session = call.dataset
        guard let table = session.table else { return nil }
        let full = try Table.read(file, format: Table.Format(rawValue: format))
        guard full.columns == table.columns, table.rows.count == rows else {
            throw SessionError("\(session.source ?? file.path) has changed since it was loaded", hint: "load it again")
        }
        var codeOfRow = [UInt8](repeating: 0, count: rows)
        if !session.splits.isEmpty {
            codeOfRow = [UInt8](repeating: 3, count: rows)
            for (code, name) in ExportPlan.splitNames.enumerated() {
                for row in session.splits[name] ?? [] { codeOfRow[row] = UInt8(code) }
            }
        }
        if full.rows.count == rows, codeOfRow.allSatisfy({ $0 == 0 }) { return nil }
        let fileRow = Dictionary(uniqueKeysWithValues: full.lines.enumerated().map { ($1, $0) })
        var codes = [UInt8](repeating: 3, count: full.rows.count)
        for (row, line) in table.lines.enumerated() {
            guard let index = fileRow[line], full.rows[index] == table.rows[row] else {
                throw SessionError("\(session.source ?? file.path) has changed since it was loaded (line \(line))", hint: "load it again")
            }
            codes[index] = codeOfRow[row]
        }
        return codes
    }

    /// `url` relative to `folder` when it lies below it, else its absolute path.
    static func relative(_ url: URL, to folder: URL) -> String {
        let path = url.standardizedFileURL.path, base = folder.standardizedFileURL.path
        return path.hasPrefix(base + "/") ? String(path.dropFirst(base.count + 1)) : path
    }

    /// The weights Finch initialised freshly for this model (head, pooler) as they were before training:
    /// the model's folder loaded again with the same head seed.
    static func writeInitialWeights(_ call: Invocation, encoder: Encoder, to url: URL) throws {
        let fresh = try EncoderLoader.load(folder: call.trainer.modelFolder!,
                                           task: .classify(labels: call.trainer.labelNames.count, seed: call.trainer.headSeed))
        var tensors: [String: SafetensorsWriter.Payload] = [:]
        let linears = (fresh.head.map { [$0.dense, $0.output].compactMap { $0 } } ?? []) + [fresh.pooler].compactMap { $0 }
        for linear in linears where fresh.freshModules.contains(linear.name) {
            tensors[linear.name + ".weight"] = .float(linear.weight)
            if let bias = linear.bias { tensors[linear.name + ".bias"] = .float(bias) }
        }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: url)
    }
}
