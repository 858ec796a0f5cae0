import Foundation
import FinchData
import FinchExperiment
import FinchMetrics
import FinchModels

/// A decoder loaded with task=classify (LlamaForSequenceClassification: a score head on each text's last
/// token): training on labeled texts and predictions for eval, report, confusion, errors and predict.
extension CausalCommands {
    /// `train` for a decoder classifier: the train split's texts and labels, cross-entropy on the score head.
    static func trainClassifier(_ call: Invocation, lm: CausalLanguageModel, options: TrainingOptions) throws -> Output? {
        let data = try call.dataset.trainingRows()
        guard data.labelNames == call.trainer.labelNames else {
            throw SessionError("the model's head is for labels [\(call.trainer.labelNames.joined(separator: ", "))] but the data has [\(data.labelNames.joined(separator: ", "))]",
                               hint: "load the model again after loading the data: model load \"\(call.trainer.modelName)\" task=classify")
        }
        call.trainer.causalRun = nil
        ProcessMemory.returnFreedHeap()
        let trainer = try DecoderTrainer(model: lm.model, parameters: call.trainer.parameters, adapters: call.trainer.decoderAdapters,
                                         padId: lm.padId, options: options)
        let texts = DecoderClassification.tokenize(data.texts, tokenizer: lm.tokenizer, maxLength: options.maxLength)
        let empty = CausalExamples([], tokenizer: lm.tokenizer, bosId: nil, maxLength: options.maxLength)
        call.trainer.causalRun = CausalRun(trainer: trainer, data: empty, validation: nil, classification: (texts, data.labels),
                                           started: Date(), finished: false, learningRates: [])
        return try execute(call, resuming: false)
    }

    /// Class probabilities of texts from the decoder classifier (texts cut to the last run's max_length).
    static func predictions(_ call: Invocation, texts: [String]) throws -> ClassifierPredictions {
        let lm = try call.trainer.causalModel()
        guard lm.model.scoreHead != nil else {
            throw SessionError("\(call.trainer.modelName) is loaded as a causal LM, not a classifier",
                               hint: "load it with task=classify: model load \"\(call.trainer.modelName)\" task=classify")
        }
        call.trainer.decoderAdapters?.setTraining(false)
        let maxLength = call.trainer.causalRun?.trainer.options.maxLength ?? TrainingOptions().maxLength
        return try DecoderClassification.predict(DecoderClassification.tokenize(texts, tokenizer: lm.tokenizer, maxLength: maxLength),
                                                 model: lm.model, padId: lm.padId)
    }
}
