import Testing
import FinchMetrics

/// SQuAD v1.1 exact match / F1 (metrics/squad.json), GSM8K answers (metrics/gsm8k.json) and perplexity
/// (metrics/perplexity.json).
@Suite struct AnswerMetricsTests {
    @Test func squadMatchesOfficialScript() throws {
        let reference = try metricsReference("squad")
        let items = reference["items"].array
        #expect(items.count > 150)
        var deviation = Deviation()
        var predictions: [String] = [], truths: [[String]] = []
        for (i, item) in items.enumerated() {
            let prediction = item["prediction"].string ?? "", groundTruths = item["ground_truths"].strings
            predictions.append(prediction)
            truths.append(groundTruths)
            #expect(QAMetrics.normalize(prediction) == item["normalized_prediction"].string,
                    "[\(i)] normalize \(prediction.debugDescription)")
            #expect(groundTruths.map(QAMetrics.normalize) == item["normalized_ground_truths"].strings, "[\(i)]")
            let exact = QAMetrics.exactMatch(prediction: prediction, groundTruths: groundTruths)
            #expect((exact ? 1.0 : 0.0) == item["exact_match"].double, "[\(i)] exact match \(prediction.debugDescription)")
            deviation.check(QAMetrics.f1(prediction: prediction, groundTruths: groundTruths), item["f1"].double,
                            "[\(i)] f1 \(prediction.debugDescription)")
        }
        let summary = QAMetrics.evaluate(predictions: predictions, groundTruths: truths)
        let expected = reference["summary"]
        deviation.check(summary.exactMatch, expected["exact_match"].double, "exact_match")
        deviation.check(summary.f1, expected["f1"].double, "f1")
        print(deviation.summary("SQuAD v1.1 vs evaluate-v1.1.py"))
    }

    @Test func squadEdgeCases() {
        #expect(QAMetrics.exactMatch(prediction: "", groundTruth: ""))
        #expect(QAMetrics.f1(prediction: "", groundTruth: "") == 0)  // v1.1: no common token
        #expect(QAMetrics.normalize("ΟΔΟΣ ΣΟΦΙΑΣ") == "οδος σοφιας")  // Python's final sigma
        #expect(QAMetrics.normalize("বাংলাদেশ জিতেছে।") == "বাংলাদেশ জিতেছে।")  // "।" is not ASCII punctuation
        #expect(!QAMetrics.exactMatch(prediction: "বা\u{09A1}\u{09BC}ি", groundTruth: "বা\u{09DC}ি"))
    }

    @Test func gsm8kAnswersMatchReference() throws {
        let items = try metricsReference("gsm8k")["items"].array
        #expect(items.count > 300)
        for item in items {
            let text = item["text"].string ?? ""
            #expect(GSM8K.extractAnswer(text) == item["extracted"].string, "\(text.debugDescription)")
        }
    }

    @Test func gsm8kAccuracy() {
        let references = ["She sold 24 clips.\n#### 72", "#### 1,080", "#### 5"]
        let completions = ["48 + 24 = 72 clips in total.", "#### 1080", "So the answer is 5.0"]
        #expect(GSM8K.accuracy(completions: completions, references: references) == 2.0 / 3)
        #expect(GSM8K.extractAnswer("#### 72.") == "72.")  // OpenAI's pattern keeps the period
        #expect(GSM8K.extractAnswer("no number") == nil)
    }

    @Test func perplexityMatchesTorch() throws {
        let cases = try metricsReference("perplexity")["cases"].array
        #expect(cases.count == 3)
        var deviation = Deviation()
        for c in cases {
            let name = c["name"].string ?? "?"
            let logits = c["logits"].doubles.map(Float.init), targets = c["targets"].ints
            let vocabulary = c["vocabulary_size"].int
            let nll = Perplexity.negativeLogLikelihoods(logits: logits, vocabularySize: vocabulary, targets: targets)
            deviation.check(nll, c["token_nll"].doubles, "\(name) token nll")
            let perplexity = Perplexity(logits: logits, vocabularySize: vocabulary, targets: targets)
            deviation.check(perplexity.meanNegativeLogLikelihood, c["mean_nll"].double, "\(name) mean nll")
            deviation.check(perplexity.value, c["perplexity"].double, "\(name) perplexity")
            deviation.check(Perplexity(meanNegativeLogLikelihood: c["mean_nll"].double).value, c["perplexity"].double,
                            "\(name) exp(mean nll)")
        }
        print(deviation.summary("perplexity vs torch float64 cross_entropy"))
    }

    @Test func perplexityCombinesBatchesByTokens() {
        let batches: [[Double]] = [[1, 2, 3], [4]]
        let combined = Perplexity(totalNegativeLogLikelihood: 10, tokenCount: 4)
        #expect(combined == Perplexity(negativeLogLikelihoods: batches.flatMap { $0 }))
        #expect(combined.meanNegativeLogLikelihood == 2.5)
        #expect(Perplexity(negativeLogLikelihoods: []).value.isNaN)
    }
}
