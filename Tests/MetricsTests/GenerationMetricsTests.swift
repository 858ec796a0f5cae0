import Testing
import FinchMetrics

/// BLEU against sacrebleu (metrics/bleu.json) and ROUGE against rouge-score (metrics/rouge.json).
@Suite struct GenerationMetricsTests {
    @Test func bleuMatchesSacrebleu() throws {
        let reference = try metricsReference("bleu")
        let cases = reference["cases"].array
        #expect(cases.count >= 13)
        var deviation = Deviation()
        for c in cases {
            let name = c["name"].string ?? "?"
            let streams = c["references"].array.map(\.strings)
            let bleu = BLEU.corpus(hypotheses: c["hypotheses"].strings, referenceStreams: streams)
            let expected = c["result"]
            deviation.check(bleu.score, expected["score"].double, "\(name) score")
            deviation.check(bleu.precisions, expected["precisions"].doubles, "\(name) precisions")
            deviation.check(bleu.brevityPenalty, expected["bp"].double, "\(name) bp")
            #expect(bleu.matches == expected["counts"].ints, "\(name) counts")
            #expect(bleu.totals == expected["totals"].ints, "\(name) totals")
            #expect(bleu.hypothesisLength == expected["sys_len"].int, "\(name) sys_len")
            #expect(bleu.referenceLength == expected["ref_len"].int, "\(name) ref_len")
            #expect(bleu.description == expected["description"].string, "\(name) description")
        }
        print(deviation.summary("BLEU vs sacrebleu"))
    }

    @Test func bleuTokenizerMatches13a() throws {
        let items = try metricsReference("bleu")["tokenizer"].array
        #expect(items.count > 100)
        for item in items {
            let text = item["text"].string ?? ""
            #expect(BLEU.tokenize(text) == item["tokenized"].string, "\(text.debugDescription)")
        }
    }

    /// Swift compares strings by canonical equivalence; sacrebleu (and Finch) by code points.
    @Test func bleuComparesCodePoints() {
        let precomposed = "বা\u{09DC}ি", decomposed = "বা\u{09A1}\u{09BC}ি"
        #expect(precomposed == decomposed)
        #expect(BLEU.corpus(hypotheses: [precomposed], references: [decomposed]).matches == [0, 0, 0, 0])
        #expect(BLEU.corpus(hypotheses: [precomposed], references: [precomposed]).score == 0)  // 1 token: no 2-grams
    }

    /// sacrebleu raises IndexError on an empty corpus; Finch reports 0.
    @Test func bleuOfNothing() {
        let bleu = BLEU.corpus(hypotheses: [], references: [])
        #expect(bleu.score == 0 && bleu.brevityPenalty == 1 && bleu.hypothesisLength == 0)
        #expect(bleu.description == "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 1.000 ratio = 0.000 hyp_len = 0 ref_len = 0)")
    }

    @Test func rougeMatchesRougeScore() throws {
        let sets = try metricsReference("rouge")["sets"].members
        #expect(Set(sets.keys) == ["gsm8k", "sst2", "bengali-cricket", "edge"])
        var deviation = Deviation()
        for (setName, value) in sets.sorted(by: { $0.key < $1.key }) {
            let items = value["items"].array
            var targets: [String] = [], predictions: [String] = []
            for (i, item) in items.enumerated() {
                let target = item["target"].string ?? "", prediction = item["prediction"].string ?? ""
                targets.append(target)
                predictions.append(prediction)
                #expect(ROUGE.tokenize(target) == item["target_tokens"].strings, "\(setName)[\(i)] target tokens")
                #expect(ROUGE.tokenize(prediction) == item["prediction_tokens"].strings, "\(setName)[\(i)] tokens")
                let scores = ROUGE.score(target: target, prediction: prediction)
                for (key, score) in [("rouge1", scores.rouge1), ("rouge2", scores.rouge2), ("rougeL", scores.rougeL)] {
                    deviation.check([score.precision, score.recall, score.fmeasure], item[key].doubles,
                                    "\(setName)[\(i)] \(key)")
                }
                let rouge2 = ROUGE.ngram(2, target: target, prediction: prediction)
                #expect(rouge2 == scores.rouge2)
            }
            let means = ROUGE.meanFMeasures(targets: targets, predictions: predictions)
            let expected = value["mean_fmeasure"]
            deviation.check(means.rouge1, expected["rouge1"].double, "\(setName) mean rouge1")
            deviation.check(means.rouge2, expected["rouge2"].double, "\(setName) mean rouge2")
            deviation.check(means.rougeL, expected["rougeL"].double, "\(setName) mean rougeL")
        }
        print(deviation.summary("ROUGE vs rouge-score"))
    }

    /// rouge-score's tokenizer keeps ASCII letters and digits only: Bengali text has no tokens.
    @Test func rougeDropsBengali() {
        #expect(ROUGE.tokenize("বাংলাদেশ ২ উইকেটে জিতেছে") == [])
        #expect(ROUGE.tokenize("বাংলাদেশ 2 উইকেটে match!") == ["2", "match"])
        #expect(ROUGE.score(target: "বাংলাদেশ জিতেছে", prediction: "বাংলাদেশ জিতেছে").rougeL.fmeasure == 0)
    }
}
