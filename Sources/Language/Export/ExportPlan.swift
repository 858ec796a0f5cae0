import Foundation
import FinchCheckpoint
import FinchExperiment
import FinchPEFT
import FinchQuantization

/// Everything an exported run needs, taken from the three sessions: which model, which rows in which
/// order, which parameters train and how. The generators (`TrainingScript`, `LaunchConfigs`,
/// `AxolotlConfig`) turn it into text; it holds no tensors, so tests can build one by hand.
struct ExportPlan: Equatable {
    /// The base model as transformers' from_pretrained takes it: a Hub name or a folder.
    var model: String
    var family: EncoderFamily
    /// The data file as the script opens it (relative to the script's folder when it sits below it).
    var dataFile: String
    var format: String
    var textColumn: String
    var labelColumn: String
    /// Label names in class-index order (the model's label ids).
    var labelNames: [String]
    /// The split of every loaded row, in file order: 0 train, 1 valid, 2 test, 3 in none. Nil before `data split`
    /// (every row trains).
    var splitCodes: [UInt8]?
    var method: TrainingMethod
    /// PEFT's modules_to_save: the head, a freshly initialised pooler, and the configuration's own.
    var modulesToSave: [String]
    var options: TrainingOptions
    /// The safetensors file (beside the script) with the weights Finch initialised freshly (head, pooler),
    /// so the script starts where Finch's run started; nil when the checkpoint had them all.
    var initialWeightsFile: String?
    /// Finch settings that transformers cannot reproduce exactly, one sentence each.
    var inexact: [String]

    /// The script's split names, in code order.
    static let splitNames = ["train", "valid", "test"]

    var hasValidation: Bool { splitCodes?.contains(1) ?? false }

    /// The learning rate schedule as TrainingArguments names it (Finch names its kinds as transformers does).
    var scheduleName: String { options.schedule.name }

    /// TrainingArguments' warmup_steps: a step count, or (below 1) a ratio of the total steps, as transformers 5 reads it.
    var warmupValue: String {
        switch options.warmup {
        case .steps(let steps): "\(steps)"
        case .ratio(let ratio): Self.number(ratio)
        }
    }

    /// The method as the script's METHOD names it: lora (rsLoRA and DoRA are LoRA settings), qlora, bitfit or full.
    var methodName: String {
        switch method {
        case .lora: "lora"
        case .qlora: "qlora"
        case .bitfit: "bitfit"
        case .full: "full"
        }
    }

    /// A number as Python and YAML read it back exactly: 2e-4 → "0.0002", 32 → "32.0" when `float`.
    static func number(_ x: Double, float: Bool = false) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return float ? "\(Int(x)).0" : "\(Int(x))" }
        return "\(x)"
    }

    /// A Float setting as written (0.05, not its Double expansion 0.05000000074505806).
    static func number(_ x: Float, float: Bool = false) -> String {
        x == x.rounded() && abs(x) < 1e7 ? number(Double(x), float: float) : "\(x)"
    }

    /// A string as a Python (and JSON) string literal, UTF-8 kept as is: JSON's escapes are Python's too.
    static func quoted(_ text: String) -> String {
        var out = ""
        JSONValue.quote(text, into: &out)
        return out
    }


    /// The split codes packed four rows to a byte (row i in bits 2·(i mod 4)), base64: what the script decodes.
    var packedSplit: String? {
        guard let codes = splitCodes else { return nil }
        var bytes = [UInt8](repeating: 0, count: (codes.count + 3) / 4)
        for (row, code) in codes.enumerated() { bytes[row / 4] |= (code & 3) << UInt8(2 * (row % 4)) }
        return Data(bytes).base64EncodedString()
    }
}

extension ExportPlan {
    /// The modules PEFT must train and save in full beside the adapters (as AdapterFiles writes them).
    static func modulesToSave(family: EncoderFamily, freshModules: [String], configured: [String]) -> [String] {
        var names = ["classifier"]
        if family == .distilbert { names.append("pre_classifier") }
        if freshModules.contains(where: { $0.hasSuffix("pooler.dense") }) { names.append("pooler") }
        for name in configured where !names.contains(name) { names.append(name) }
        return names
    }

    /// What differs between a Finch run and the exported transformers run, for these settings.
    static func inexactSettings(method: TrainingMethod, options: TrainingOptions, format: String) -> [String] {
        var notes: [String] = []
        if options.loss.classWeights != nil {
            notes.append("class weights: the Trainer's loss has none; the script's compute_loss applies them, but Axolotl cannot")
        }
        if options.accumulate > 1 {
            notes.append("accumulate=\(options.accumulate): Finch's optimizer steps run on across epoch ends; the Trainer ends each epoch with a shorter step when the batches do not divide evenly")
        }
        if options.modelDropout {
            notes.append("model dropout: PyTorch draws other dropout masks than Finch, so losses agree only in distribution (train with model_dropout=false for step-by-step equality)")
        }
        if let lora = method.loraConfiguration, lora.dropout > 0 {
            notes.append("LoRA dropout \(number(lora.dropout)): other masks than Finch's, as for model dropout")
        }
        if method.loraConfiguration != nil {
            notes.append("LoRA A matrices: PEFT initialises them with its own random draws (B starts at zero, so the first step's loss is unaffected)")
        }
        if case let .qlora(_, format) = method, format.blockSize != 64 {
            notes.append("qlora block=\(format.blockSize): transformers' BitsAndBytesConfig always quantizes in blocks of 64")
        }
        if options.groupByLength {
            notes.append("group_by_length: the script sorts Finch's shuffled order in groups of 50 batches as Finch does, not with the Trainer's LengthGroupedSampler")
        }
        if format == "csv" {
            notes.append("CSV: read with Python's csv module, which agrees with Finch's RFC 4180 reader on well-formed files")
        }
        notes.append("several GPUs: each process takes batch rows of Finch's order in turn, so the global batch is batch × processes")
        return notes
    }
}

extension TrainingMethod {
    var loraConfiguration: LoRAConfiguration? {
        switch self {
        case .lora(let c), .qlora(let c, _): c
        case .bitfit, .full: nil
        }
    }
}
