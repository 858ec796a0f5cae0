import ArgumentParser
import Foundation
import FinchData
import FinchExperiment
import FinchMetrics
import FinchModels
import FinchOptim
import FinchPEFT
import FinchTensor
import FinchTokenizers

/// `finch finetune`: fine-tune a classifier from a model folder and a labeled table, evaluate it, save it.
struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a text classifier (LoRA, BitFit, head-only or full) and evaluate it.",
        discussion: """
        With no options: LoRA r=16 on all-MiniLM-L6-v2 with 2,000 evenly spaced rows of SST-2 (../shared/data/sst2),
        200 steps, evaluated on SST-2 dev before and after; the adapter is saved in PEFT's layout.
        """)

    @Option(help: "Model folder (default: $FINCH_MODELS/all-MiniLM-L6-v2).") var model: String?
    @Option(help: "Training table (.tsv, .csv, .jsonl).") var train = "../shared/data/sst2/train.tsv"
    @Option(help: "Evaluation table.") var eval = "../shared/data/sst2/dev.tsv"
    @Option(help: "Text column of the training table.") var text = "sentence"
    @Option(help: "Text column of the evaluation table.") var evalText = "content"
    @Option(help: "Label column.") var label = "label"
    @Option(help: "Use this many evenly spaced training rows, i·count/rows for i < rows (0 = all).") var rows = 2000
    @Option(help: "lora, bitfit, head or full.") var method = "lora"
    @Option(help: "LoRA rank.") var r = 16
    @Option(help: "LoRA alpha.") var alpha: Float = 32
    @Option(help: "LoRA dropout.") var loraDropout: Float = 0.05
    @Option(help: "LoRA targets: comma-separated module names, or all-linear.") var targets = "query,value"
    @Flag(help: "rsLoRA scaling (alpha / sqrt(r)).") var rslora = false
    @Option(help: "Optimizer steps.") var steps = 200
    @Option(help: "Peak learning rate.") var lr = 2e-3
    @Option(help: "Examples per step.") var batch = 16
    @Option(help: "Warmup as a ratio of the steps.") var warmupRatio = 0.1
    @Option(help: "constant, linear, cosine, …") var schedule = "linear"
    @Option(help: "Tokens per example.") var maxLength = 64
    @Option(help: "Seed for the head, adapters and data order.") var seed: UInt64 = 42
    @Option(help: "Threads for matrix products.") var threads = 1
    @Flag(inversion: .prefixedNo, help: "Train with the model's dropout rates from config.json.") var modelDropout = true
    @Option(help: "Where to save the adapter (PEFT layout) or, for bitfit/full/head, nothing.") var output = "finch-adapter"
    @Option(help: "Write checkpoints into this folder (see --save-every).") var checkpoints: String?
    @Option(help: "Checkpoint every this many steps (with --checkpoints).") var saveEvery = 50
    @Option(help: "Checkpoints to keep.") var keep = 3
    @Flag(help: "Continue from the newest checkpoint in --checkpoints, exactly where it stopped.") var resume = false

    func run() throws {
        lineBufferStandardOutput()  // progress lines appear as they happen, also when piped
        Threads.setCount(threads)
        let folder = URL(fileURLWithPath: model ?? defaultModelFolder("all-MiniLM-L6-v2"))
        var trainData = try LabeledTexts(table: try Table.read(URL(fileURLWithPath: train)), text: text, label: label)
        let evalData = try LabeledTexts(table: try Table.read(URL(fileURLWithPath: eval)), text: evalText,
                                        label: label, labelNames: trainData.labelNames)
        if rows > 0, rows < trainData.count {
            trainData = trainData.subset((0..<rows).map { $0 * trainData.count / rows })
        }
        let tokenizer = try AutoTokenizer.load(from: folder)
        let encoder = try EncoderLoader.load(folder: folder, task: .classify(labels: trainData.labelNames.count, seed: seed))
        var adapters: LoRAModel?
        let parameters: [Parameter]
        switch method {
        case "lora":
            let targetList: LoRATargets = targets == "all-linear" ? .allLinear : .modules(targets.split(separator: ",").map(String.init))
            let lora = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(
                rank: r, alpha: alpha, dropout: loraDropout, targets: targetList, rankStabilized: rslora), seed: seed)
            parameters = lora.trainableParameters()
            adapters = lora
        case "bitfit": parameters = encoder.prepareTraining(.bitfit)
        case "head": parameters = encoder.prepareTraining(.headOnly)
        case "full": parameters = encoder.prepareTraining(.full)
        default: throw ValidationError("--method must be lora, bitfit, head or full, not \(method)")
        }
        let trainable = parameters.reduce(0) { $0 + $1.value.count }
        let total = adapters?.parameterCounts().total ?? encoder.baseParameterCount
        print("\(folder.lastPathComponent) · \(method)\(adapters != nil ? " r=\(r) alpha=\(alpha) targets=\(targets)" : "") · \(trainData.count) training rows (\(train)) · \(evalData.count) evaluation rows (\(eval))")
        print("trainable params: \(grouped(trainable)) || all params: \(grouped(total)) || trainable%: \(String(format: "%.4f", 100 * Double(trainable) / Double(total)))")
        let before = try FinchExperiment.evaluate(evalData, encoder: encoder, tokenizer: tokenizer, maxLength: maxLength)
        print(String(format: "before: accuracy %.4f  f1_macro %.4f", before.accuracy, before.f1Macro))

        var options = TrainingOptions()
        options.maxSteps = steps
        options.learningRate = lr
        options.batchSize = batch
        options.warmup = .ratio(warmupRatio)
        options.schedule = try LearningRateSchedule.Kind(name: schedule)
        options.seed = seed
        options.maxLength = maxLength
        options.modelDropout = modelDropout
        if checkpoints != nil {
            options.saveEvery = saveEvery
            options.keep = keep
        }
        let trainer = try ClassifierTrainer(encoder: encoder, tokenizer: tokenizer, parameters: parameters, adapters: adapters,
                                            options: options)
        trainer.baseModelName = folder.path
        if let checkpoints {
            let folderURL = URL(fileURLWithPath: checkpoints)
            trainer.checkpointFolder = folderURL
            if resume {
                guard let last = ClassifierTrainer.checkpoints(in: folderURL).last else {
                    throw ValidationError("--resume: no checkpoint-N folder in \(checkpoints)")
                }
                try trainer.restore(from: last.url)
                print("resuming from \(last.url.path) at step \(last.step)")
            }
        } else if resume {
            throw ValidationError("--resume needs --checkpoints DIR")
        }
        var window: [Double] = []
        try trainer.train(trainData) { event in
            switch event {
            case let .step(report):
                window.append(report.loss)
                if report.step % 10 == 0 || report.step == report.totalSteps {
                    print(String(format: "step %4d/%d  loss %.4f  lr %.2e  grad_norm %.3f  %.1f samples/s", report.step, report.totalSteps,
                                 window.reduce(0, +) / Double(window.count), report.learningRate, report.gradientNorm, report.samplesPerSecond))
                    window.removeAll()
                }
            case let .finished(summary):
                print(String(format: "trained %d steps in %.1f s", summary.steps, summary.seconds))
            case let .checkpointed(url):
                print("checkpoint \(url.path)")
            case .evaluated:
                break
            }
            return .proceed
        }
        let after = try FinchExperiment.evaluate(evalData, encoder: encoder, tokenizer: tokenizer, maxLength: maxLength)
        print(String(format: "after:  accuracy %.4f  f1_macro %.4f  (per class f1: %@)", after.accuracy, after.f1Macro,
                     zip(after.labelNames, after.f1).map { "\($0) \(String(format: "%.3f", $1))" }.joined(separator: ", ")))
        if let adapters {
            try AdapterFiles.save(adapters, to: URL(fileURLWithPath: output), baseModel: folder.path)
            print("adapter saved to \(output)/ (adapter_config.json, adapter_model.safetensors; loads with peft.PeftModel.from_pretrained)")
        }
    }
}

/// 148226 → "148,226", as PEFT prints counts.
func grouped(_ value: Int) -> String {
    let digits = Array(String(value))
    return digits.enumerated().map { index, digit in
        index > 0 && (digits.count - index) % 3 == 0 ? ",\(digit)" : String(digit)
    }.joined()
}
