import Foundation
import Testing
@testable import FinchLanguage
import FinchExperiment
import FinchPEFT
import FinchQuantization
import TestSupport

/// The generators of `export script` / `export config` on a fixed plan (golden snapshots), and the
/// commands' refusals and files on a real session. The exported files are run against transformers,
/// accelerate and DeepSpeed by Tests/CLI/export.sh.
@Suite struct ExportTests {
    let goldens = GoldenFiles(beside: #filePath, subfolder: "export")

    /// A LoRA run on 10 rows split 6/2/2 (one row in no split), with evaluation, early stopping and saves.
    static func plan(method: TrainingMethod = .lora(LoRAConfiguration(rank: 8, alpha: 16, dropout: 0.1, targets: .modules(["query", "value"]),
                                                                      rankStabilized: true))) -> ExportPlan {
        var options = TrainingOptions()
        options.epochs = 4
        options.learningRate = 5e-4
        options.batchSize = 8
        options.accumulate = 2
        options.warmup = .ratio(0.1)
        options.schedule = .cosine()
        options.evalEvery = 20
        options.saveEvery = 40
        options.patience = 3
        options.seed = 7
        options.modelDropout = false
        options.best = .loss
        return ExportPlan(model: "models/all-MiniLM-L6-v2", family: .bert, dataFile: "data/reviews \"bn\".tsv", format: "tsv",
                          textColumn: "text", labelColumn: "class_label", labelNames: ["negative", "neutral", "positive"],
                          splitCodes: [0, 0, 1, 2, 0, 0, 1, 3, 2, 0], method: method,
                          modulesToSave: ExportPlan.modulesToSave(family: .bert, freshModules: ["classifier", "bert.pooler.dense"], configured: []),
                          options: options, initialWeightsFile: "train.init.safetensors",
                          inexact: ExportPlan.inexactSettings(method: method, options: options, format: "tsv"))
    }

    @Test func scriptForALoRARunMatchesItsGolden() throws {
        let script = TrainingScript.generate(Self.plan(), launch: LaunchSetup(launcher: .accelerate, deepspeed: .zero2, scriptName: "train.py"))
        try goldens.check(script, "lora-accelerate-zero2.py")
        #expect(script.contains("several nodes"))
        #expect(script.contains("modules_to_save=[\"classifier\", \"pooler\"]"))
        #expect(script.contains("metric_for_best_model=\"loss\""))
        #expect(script.contains("greater_is_better=False"))
        // save_every=40 is a multiple of eval_every=20, so the Trainer can reload the best checkpoint.
        #expect(script.contains("save_steps=40"))
        #expect(script.contains("warmup_steps=0.1"))
    }

    @Test func qloraScriptQuantizesEveryLinearButTheHeadWithBitsandbytes() throws {
        let lora = LoRAConfiguration(rank: 16, alpha: 32, dropout: 0, targets: .modules(["query", "value"]))
        let format = FourBitFormat(type: .nf4, blockSize: 128, doubleQuantization: true)
        let plan = Self.plan(method: .qlora(lora, format))
        let script = TrainingScript.generate(plan, launch: LaunchSetup(launcher: .torchrun, deepspeed: nil, scriptName: "qlora.py"))
        try goldens.check(script, "qlora-torchrun.py")
        #expect(script.contains("QUANTIZATION = dict(quant_type=\"nf4\", double_quant=True)"))
        #expect(script.contains("llm_int8_skip_modules=HEAD_MODULES"))
        #expect(plan.inexact.contains { $0.hasPrefix("qlora block=128") })
    }

    @Test func splitCodesPackFourRowsToAByteAsTheScriptDecodesThem() throws {
        // Codes 0 0 1 2 | 0 0 1 3 | 2 0, row i in bits 2·(i mod 4) of byte i / 4 (the script's `(packed[i // 4] >> (2 * (i % 4))) & 3`).
        let packed = try #require(Self.plan().packedSplit)
        let bytes = [UInt8](try #require(Data(base64Encoded: packed)))
        #expect(bytes == [0b10_01_00_00, 0b11_01_00_00, 0b00_00_00_10])
        let decoded = (0..<10).map { (bytes[$0 / 4] >> UInt8(2 * ($0 % 4))) & 3 }
        #expect(decoded == Self.plan().splitCodes)
    }

    @Test func launchConfigsMatchTheirGoldensAndTheJSONParses() throws {
        try goldens.check(LaunchConfigs.accelerate(LaunchSetup(launcher: .accelerate, deepspeed: .zero3, scriptName: "train.py")),
                          "accelerate-zero3.yaml")
        try goldens.check(LaunchConfigs.accelerate(LaunchSetup(launcher: .accelerate, deepspeed: nil, scriptName: "train.py")),
                          "accelerate.yaml")
        for zero in LaunchSetup.ZeRO.allCases {
            let text = LaunchConfigs.deepspeed(zero)
            try goldens.check(text, "ds_\(zero.rawValue).json")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            let section = try #require(json["zero_optimization"] as? [String: Any])
            #expect(section["stage"] as? Int == zero.stage)
            #expect(json["optimizer"] == nil && json["scheduler"] == nil)  // the Trainer's AdamW groups and schedule
        }
    }

    @Test func axolotlConfigWritesOnlyExactKeysAndSaysWhatItLacks() throws {
        let yaml = AxolotlConfig.generate(Self.plan())
        try goldens.check(yaml, "axolotl-lora.yaml")
        #expect(yaml.contains("peft_use_rslora: true"))
        #expect(yaml.contains("# Only keys whose meaning is exactly Finch's"))
        #expect(!yaml.contains("val_set_size"))  // Finch's split rows are not a size Axolotl could redraw
    }

    @Test func exportRefusesWhatItCannotExport() throws {
        let empty = makeInterpreter()
        let noData = run(empty, "export script \"/tmp/finch-export-never.py\"")
        #expect(noData.failure?.rendered.contains("no data loaded") == true)
        let interpreter = try sst2Session()
        let noMethod = run(interpreter, "export script \"/tmp/finch-export-never.py\"")
        #expect(noMethod.failure?.rendered.contains("no training method set") == true)
        try check(run(interpreter, "qlora r=4 alpha=8 targets=[query, value]"))
        let quantized = run(interpreter, "export model \"/tmp/finch-export-never\"")
        #expect(quantized.failure?.rendered.contains("held in 4 bits") == true)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/finch-export-never.py"))
    }

    @Test func exportScriptWritesTheRunsFilesAndTheFreshHead() throws {
        let interpreter = try sst2Session(extra: "lora r=4 alpha=8 dropout=0")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-export-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = run(interpreter, "export script \"\(folder.path)/run.py\" launcher=accelerate deepspeed=zero3 epochs=2 batch=4")
        try check(result)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(files == ["accelerate_config.yaml", "ds_zero3.json", "run.init.safetensors", "run.py"])
        let script = try String(contentsOf: folder.appendingPathComponent("run.py"), encoding: .utf8)
        #expect(script.contains("num_train_epochs=2"))
        #expect(script.contains("per_device_train_batch_size=4"))
        #expect(script.contains("ROWS = 872"))  // the file's rows: the 48 sampled ones are coded train or valid, the rest none
        #expect(script.contains("LABELS = [\"0\", \"1\"]"))
        #expect(script.contains("INITIAL_WEIGHTS = \"run.init.safetensors\""))
    }
}
