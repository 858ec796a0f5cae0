import Foundation
import Testing
import FinchLanguage
import TestSupport

/// The language with a causal LM (SmolLM2-135M-Instruct from its GGUF): loading, data, methods, training on
/// masked responses, evaluation, generation, and the errors a user meets on the way.
@Suite(.serialized) struct CausalCommandTests {
    static func session() throws -> Interpreter {
        _ = try TestPaths.model("SmolLM2-135M-Instruct-GGUF")
        let interpreter = makeInterpreter()
        try check(run(interpreter, """
            model load "SmolLM2-135M-Instruct-GGUF"
            data load "gsm8k/train.jsonl" prompt=question response=answer
            data sample n=6 seed=2
            data split train=66.7% valid=0% test=33.3% stratify=false
            """))
        return interpreter
    }

    @Test func loadsTheGGUFAsACausalLMWithItsChatFormat() throws {
        let interpreter = try Self.session()
        let info = run(interpreter, "model info")
        try check(info)
        #expect(info.json?["task"] == "causal-lm")
        #expect(info.json?["chat_format"] == "chatML")
        #expect(info.json?["parameters"]?.number == 134_515_008)
        let shown = run(interpreter, "data show n=1")
        #expect(shown.plain.contains("prompt") && shown.plain.contains("response"))
    }

    /// Greedy generation is SmolLM2's reply as transformers gives it (the first tokens of the reference run).
    @Test func greedyGenerationEqualsTransformers() throws {
        let interpreter = try Self.session()
        let result = run(interpreter, "generate \"What is 7 times 8?\" max_tokens=8")
        try check(result)
        let info = try #require(try referenceJSON("llama/smollm2/generate.json") as? [String: Any])
        let expected = try #require((info["runs"] as? [[String: Any]])?.first?["generated_ids"] as? [Int])
        let ids = result.json?["ids"]?.array?.compactMap { $0.number.map(Int.init) }
        #expect(ids == Array(expected.prefix(8)))
        #expect(result.json?["stop_reason"] == "max tokens")
    }

    @Test func loraTrainsOnResponsesAndLowersTheirLoss() throws {
        let interpreter = try Self.session()
        try check(run(interpreter, "lora r=8 alpha=16 targets=all-linear dropout=0"))
        let params = run(interpreter, "params")
        // 30 blocks × (q 576→576, k 576→192, v 576→192, o 576→576, gate/up 576→1536, down 1536→576), r = 8.
        let perBlock = 8 * ((576 + 576) * 2 + (576 + 192) * 2 + (576 + 1536) * 3)
        #expect(params.json?["trainable"]?.number == Double(30 * perBlock))
        let before = run(interpreter, "eval")
        try check(before)
        try check(run(interpreter, "train max_steps=3 batch=2 lr=2e-3 max_length=160 seed=1"))
        let after = run(interpreter, "eval split=train")
        try check(after)
        let trainLossBefore = run(try Self.session(), "eval split=train").json?["loss"]?.number ?? 0
        let trainLossAfter = after.json?["loss"]?.number ?? .infinity
        #expect(trainLossAfter < trainLossBefore, "train loss \(trainLossBefore) → \(trainLossAfter)")
        #expect(before.json?["perplexity"]?.number.map { $0 > 1 && $0.isFinite } == true)
    }

    @Test func mistakesAreRefusedWithWhatToDo() throws {
        let interpreter = try Self.session()
        let bitfit = run(interpreter, "bitfit")
        #expect(bitfit.failure?.rendered.contains("has no biases") == true)
        let targets = run(interpreter, "lora targets=[query]")
        #expect(targets.failure?.rendered.contains("q_proj") == true)
        let task = run(interpreter, "model load \"SmolLM2-135M-Instruct-GGUF\" task=embed")
        #expect(task.failure?.rendered.contains("task=causal-lm") == true)
        let untrained = run(interpreter, "train max_steps=1")
        #expect(untrained.failure?.rendered.contains("no training method") == true)
        let embed = run(interpreter, "embed \"hello\"")
        #expect(embed.failure?.rendered.contains("causal LM") == true)
    }

    /// The Bengali example on an LLM: SmolLM2 as LlamaForSequenceClassification (score head on the last token).
    @Test func aDecoderClassifiesBengaliReviews() throws {
        _ = try TestPaths.model("SmolLM2-135M-Instruct-GGUF")
        let interpreter = makeInterpreter()
        try check(run(interpreter, """
            data load "bengali-absa/restaurant_dev.tsv" text=text label=class_label labels=[negative, neutral, positive]
            data sample n=16 seed=1
            data split train=50% valid=0% test=50%
            model load "SmolLM2-135M-Instruct-GGUF" task=classify
            """))
        let lora = run(interpreter, "lora r=4 alpha=8 dropout=0")
        try check(lora)
        // q_proj and v_proj of 30 blocks at r = 4, plus the fresh score head 3 × 576 (PEFT's modules_to_save).
        #expect(lora.json?["trainable"]?.number == Double(30 * 4 * ((576 + 576) + (576 + 192)) + 3 * 576))
        try check(run(interpreter, "train max_steps=2 batch=4 lr=1e-3 max_length=48"))
        let eval = run(interpreter, "eval")
        try check(eval)
        #expect(eval.json?["rows"]?.number == 7)  // the stratified test half of 16 rows
        let predicted = run(interpreter, "predict \"খাবার খুব ভালো ছিল\"")
        try check(predicted)
        #expect(predicted.plain.contains("p(positive)"))
    }

    /// Chat-message data: every assistant turn is learned.
    @Test func chatMessagesTrain() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("finch-chat-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        let rows = (0..<4).map { i in
            #"{"messages": [{"role": "user", "content": "What is \#(i) plus 1?"}, {"role": "assistant", "content": "\#(i + 1)"}]}"#
        }
        try (rows.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let interpreter = try Self.session()
        let loaded = run(interpreter, "data load \"\(file.path)\"")
        try check(loaded)
        #expect(loaded.json?["format"] == "messages")
        try check(run(interpreter, "lora r=2 alpha=4 dropout=0"))
        let trained = run(interpreter, "train max_steps=1 batch=4 lr=1e-3")
        try check(trained)
        #expect(trained.json?["loss"]?.number.map { $0 > 0 && $0.isFinite } == true)
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("finch-chat-bad-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: broken) }
        try #"{"messages": [{"role": "robot", "content": "hi"}]}"#.appending("\n").write(to: broken, atomically: true, encoding: .utf8)
        let refused = run(interpreter, "data load \"\(broken.path)\"")
        #expect(refused.failure?.rendered.contains("role \"robot\"") == true)
        #expect(refused.failure?.rendered.contains("line 1") == true)
    }

    /// qlora holds all 210 block linears in NF4 and trains LoRA over them; a later lora reloads the fp32 base.
    @Test func qloraQuantizesEveryBlockLinear() throws {
        let interpreter = try Self.session()
        try check(run(interpreter, "full"))  // gradient buffers on every weight, no run: qlora must still quantize
        let qlora = run(interpreter, "qlora r=4 alpha=8 dropout=0")
        try check(qlora)
        #expect(qlora.plain.contains("quantized 210 layers"))
        #expect(run(interpreter, "model info").json?["quantized_layers"]?.number == 210)
        let trained = run(interpreter, "train max_steps=1 batch=2 lr=1e-3 max_length=128 pack=true")
        try check(trained)
        #expect(trained.json?["loss"]?.number.map { $0 > 0 && $0.isFinite } == true)
        let lora = run(interpreter, "lora r=4")
        try check(lora)
        #expect(lora.plain.contains("model reloaded"))
        #expect(run(interpreter, "model info").json?["quantized_layers"]?.number == 0)
    }

    /// chat_format= overrides the model's own format: none writes plain text.
    @Test func chatFormatCanBeOverridden() throws {
        _ = try TestPaths.model("SmolLM2-135M-Instruct-GGUF")
        let interpreter = makeInterpreter()
        let loaded = run(interpreter, "model load \"SmolLM2-135M-Instruct-GGUF\" chat_format=none")
        try check(loaded)
        #expect(loaded.json?["chat_format"] == .null)
        let plain = run(interpreter, "generate \"The capital of France is\" max_tokens=3")
        try check(plain)
        #expect(plain.json?["prompt_ids"]?.array?.count == 5)
        try check(run(interpreter, "model load \"SmolLM2-135M-Instruct-GGUF\" chat_format=llama3"))
        #expect(run(interpreter, "model info").json?["chat_format"] == "llama3")
    }
}
