import Foundation
import FinchData
import FinchExperiment
import FinchMetrics
import FinchModels
import FinchPEFT
import FinchQuantization
import FinchTensor
import FinchTokenizers

/// The dataset session: the loaded table, its labeled rows, splits and folds.
public final class DatasetSession {
    /// The file the rows came from, as the user wrote it.
    public internal(set) var source: String?
    public internal(set) var table: Table?
    public internal(set) var textColumn = ""
    public internal(set) var labelColumn = ""
    /// Every loaded row, labels as indices into `labelNames`. For prompt/response data the texts are the
    /// prompts and every label is 0 ("response").
    public internal(set) var rows: LabeledTexts?
    /// The response of every row, for prompt/response data (causal-LM fine-tuning); nil for labeled texts.
    public internal(set) var responses: [String]?
    /// The conversation of every row, for chat-message data.
    var conversations: [[(role: String, content: String)]]?
    /// Row indices of each split ("train", "valid", "test"); empty before `data split`.
    public internal(set) var splits: [String: [Int]] = [:]
    public internal(set) var folds: [Fold] = []

    public var isLoaded: Bool { rows != nil }
    public var labelNames: [String] { rows?.labelNames ?? [] }

    public func reset() {
        source = nil; table = nil; rows = nil; responses = nil; conversations = nil; splits = [:]; folds = []
        textColumn = ""; labelColumn = ""
    }

    func loaded() throws -> LabeledTexts {
        guard let rows else { throw SessionError("no data loaded", hint: "load a table first: data load \"file.csv\" text=COLUMN label=COLUMN") }
        return rows
    }

    /// The rows training uses: the train split, or every row before any split.
    func trainingRows() throws -> LabeledTexts {
        let rows = try loaded()
        guard let indices = splits["train"] else { return rows }
        guard !indices.isEmpty else { throw SessionError("the train split is empty", hint: "split again with train above 0%") }
        return rows.subset(indices)
    }

    /// The rows of a named split; "all" is every row.
    func rows(of split: String) throws -> LabeledTexts {
        let rows = try loaded()
        if split == "all" { return rows }
        guard !splits.isEmpty else {
            throw SessionError("there is no '\(split)' split yet", hint: "split the data first: data split train=80% valid=10% test=10% (or use split=all)")
        }
        guard let indices = splits[split], !indices.isEmpty else {
            throw SessionError("the '\(split)' split is empty", hint: "splits: " + splits.keys.sorted().map { "\($0) (\(splits[$0]!.count) rows)" }.joined(separator: ", "))
        }
        return rows.subset(indices)
    }

    /// Validation rows for training: the valid split when it has rows.
    func validationRows() -> LabeledTexts? {
        guard let rows, let indices = splits["valid"], !indices.isEmpty else { return nil }
        return rows.subset(indices)
    }
}

/// How the model is trained: which parameters move.
public enum TrainingMethod: Sendable, Equatable {
    case lora(LoRAConfiguration)
    /// LoRA over base layers held in 4 bits.
    case qlora(LoRAConfiguration, FourBitFormat)
    case bitfit
    case full

    public var name: String {
        switch self {
        case .lora(let c): c.useDoRA ? "dora" : (c.rankStabilized ? "rslora" : "lora")
        case .qlora: "qlora"
        case .bitfit: "bitfit"
        case .full: "full"
        }
    }
}

/// What a loaded model is for.
public enum ModelTask: String, Sendable, CaseIterable {
    case classify, embed
    /// Next-token prediction with a Llama-family decoder (fine-tuned on prompt/response data, `generate`).
    case causalLM = "causal-lm"
}

/// The trainer session: the base model, its adapter or training method, and the last run (for resume).
public final class TrainerSession {
    public internal(set) var modelFolder: URL?
    public internal(set) var modelName = ""
    public internal(set) var task: ModelTask = .classify
    public internal(set) var tokenizer: (any Tokenizer)?
    public internal(set) var encoder: Encoder?
    /// Label names the head was made for (empty for `embed`).
    public internal(set) var labelNames: [String] = []
    /// The seed the head was initialised with (a reload gives the same head).
    var headSeed: UInt64 = 42
    public internal(set) var method: TrainingMethod?
    public internal(set) var adapters: LoRAModel?
    /// The parameters the next `train` updates.
    public internal(set) var parameters: [Parameter] = []
    /// The last run, kept for `train resume`.
    var run: TrainingRun?
    /// The loaded causal LM (task=causal-lm), its adapters and its last run.
    public internal(set) var causal: CausalLanguageModel?
    public internal(set) var decoderAdapters: DecoderLoRA?
    var causalRun: CausalRun?
    /// How the model's frozen weights compute (`precision`); kept across model loads and resets.
    public internal(set) var precision: FrozenPrecision = .fp32

    /// Applies `precision` to the loaded model (after a load or a change of precision).
    func applyPrecision() throws {
        try encoder?.setFrozenPrecision(precision)
        try causal?.model.setFrozenPrecision(precision)
    }

    public func reset() {
        modelFolder = nil; modelName = ""; tokenizer = nil; encoder = nil; causal = nil; labelNames = []
        resetTraining()
    }

    /// Forgets the method and the last run (the model stays).
    func resetTraining() {
        method = nil; adapters = nil; decoderAdapters?.detach(); decoderAdapters = nil; parameters = []; run = nil; causalRun = nil
    }

    /// The loaded causal LM, or an error saying how to load one.
    func causalModel() throws -> CausalLanguageModel {
        guard let causal else {
            throw SessionError(encoder == nil ? "no model loaded" : "the loaded model is an encoder, not a causal LM",
                               hint: "load a decoder: model load \"SmolLM2-135M-Instruct-GGUF\" (a .gguf file or a Llama-family folder)")
        }
        return causal
    }

    func model() throws -> (encoder: Encoder, tokenizer: any Tokenizer) {
        if causal != nil {
            throw SessionError("the loaded model is a causal LM (\(modelName)); this command works on encoder models",
                               hint: "for causal LMs use generate, train, eval, lora/qlora/full, save adapter")
        }
        guard let encoder, let tokenizer else {
            throw SessionError("no model loaded", hint: "load one first: model load \"all-MiniLM-L6-v2\" (a folder, or a name under $FINCH_MODELS)")
        }
        return (encoder, tokenizer)
    }

    func classifier() throws -> (encoder: Encoder, tokenizer: any Tokenizer) {
        let model = try model()
        guard model.encoder.head != nil else {
            throw SessionError("the model was loaded with task=embed and has no classification head",
                               hint: "load it for classification: model load \"\(modelName)\" task=classify")
        }
        return model
    }
}

/// A training run that can be resumed: its trainer, data and where its checkpoints go.
struct TrainingRun {
    let trainer: ClassifierTrainer
    let data: LabeledTexts
    let validation: LabeledTexts?
    let started: Date
    var finished: Bool
    /// Learning rate of each finished step (for `plot lr`).
    var learningRates: [Double]
}

/// A causal-LM training run: its trainer and tokenized data.
struct CausalRun {
    let trainer: DecoderTrainer
    let data: CausalExamples
    let validation: CausalExamples?
    /// For a decoder trained as a classifier: its token ids and labels (`data` is then empty).
    var classification: (texts: [[Int32]], labels: [Int])?
    let started: Date
    var finished: Bool
    var learningRates: [Double]
}

/// The metrics session: every run and evaluation, for comparison.
public final class MetricsSession {
    public let runs = RunLog()
    /// The last `eval`: which split, its rows, predictions and metrics.
    var lastEvaluation: Evaluation?
    var lastLRFind: LearningRateFinder.Result?

    public func reset() {
        runs.removeAll()
        lastEvaluation = nil
        lastLRFind = nil
    }
}

struct Evaluation {
    let split: String
    let data: LabeledTexts
    let predictions: ClassifierPredictions
    let metrics: ClassificationMetrics
    let loss: Double
}

/// A failure because a session lacks something, with what to do about it.
public struct SessionError: Error, CustomStringConvertible {
    public let problem: String
    public let hint: String?
    public init(_ problem: String, hint: String? = nil) {
        self.problem = problem
        self.hint = hint
    }
    public var description: String { problem }
}
