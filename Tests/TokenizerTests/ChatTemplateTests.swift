import Foundation
import Testing
import TestSupport
@testable import FinchTokenizers

/// Chat formatting against transformers' `apply_chat_template` (Tests/Reference/bpe_reference.py, chat.json).
@Suite("Chat templates")
struct ChatTemplateTests {
    struct Case {
        let messages: [(role: String, content: String)]
        let addGenerationPrompt: Bool
        let text: String
        let assistantSpans: [Range<Int>]
    }

    static func cases(_ family: String) throws -> (template: String, bos: String?, eos: String?, cases: [Case]) {
        let root = try JSONNode.load(TestPaths.referenceFile("bpe/chat.json")).field(family)
        let cases = try root.field("cases").array().map { node in
            Case(messages: try node.field("messages").array().map { pair in
                     let strings = try pair.strings()
                     return (strings[0], strings[1])
                 },
                 addGenerationPrompt: try node.field("add_generation_prompt").bool(), text: try node.field("text").string(),
                 assistantSpans: try node.field("assistant_spans").array().map { span in
                     let bounds = try span.integers()
                     return bounds[0]..<bounds[1]
                 })
        }
        return (try root.field("template").string(), try root.optionalString("bos_token"), try root.optionalString("eos_token"), cases)
    }

    static func check(_ template: ChatTemplate, _ cases: [Case], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!cases.isEmpty, sourceLocation: sourceLocation)
        for case_ in cases {
            let formatted = template.format(case_.messages, addGenerationPrompt: case_.addGenerationPrompt)
            #expect(formatted.text == case_.text, "\(case_.messages)", sourceLocation: sourceLocation)
            #expect(formatted.assistantSpans == case_.assistantSpans, "\(case_.messages)", sourceLocation: sourceLocation)
        }
    }

    @Test("SmolLM2's template, read from the GGUF metadata, with its default system message")
    func smolLM2FromGGUF() throws {
        let (jinja, _, _, cases) = try Self.cases("smollm2")
        let meta = try JSONNode.load(TestPaths.referenceFile("bpe/smollm2-gguf/gguf_vocab.json"))
        #expect(try meta.field("chat_template").string() == jinja)
        let template = try #require(ChatTemplate(jinja: jinja))
        #expect(template.family == .chatML)
        #expect(template.defaultSystemMessage == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        Self.check(template, cases)
    }

    @Test("SmolLM2's template loaded from the folder transformers saved")
    func smolLM2FromFolder() throws {
        let template = try #require(try ChatTemplate.load(from: TestPaths.referenceFile("bpe/smollm2-gguf")))
        #expect(template.eosToken == "<|im_end|>")
        Self.check(template, try Self.cases("smollm2").cases)
    }

    @Test("other families detected from their Jinja templates", arguments: [
        ("llama3", ChatTemplateFamily.llama3), ("llama2", .llama2), ("mistral", .mistral), ("gemma", .gemma), ("zephyr", .zephyr),
    ])
    func family(_ name: String, _ family: ChatTemplateFamily) throws {
        let (jinja, bos, eos, cases) = try Self.cases(name)
        let template = try #require(ChatTemplate(jinja: jinja, bosToken: bos, eosToken: eos))
        #expect(template.family == family)
        Self.check(template, cases)
    }

    @Test("the caller can name the family; unknown templates are not guessed")
    func override() throws {
        #expect(ChatTemplate(jinja: "{{ messages }}") == nil)
        let chat = ChatTemplate(family: .chatML).format([("user", "hi"), ("assistant", "yo")], addGenerationPrompt: false)
        #expect(chat.text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n")
        #expect(chat.pieces.map(\.text) == ["<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "yo<|im_end|>", "\n"])
        #expect(chat.pieces.map(\.isResponse) == [false, true, false])
        let gemma = ChatTemplate(family: .gemma).format([("system", "Be brief."), ("user", "hi")], addGenerationPrompt: true)
        #expect(gemma.text == "<bos><start_of_turn>user\nBe brief.\n\nhi<end_of_turn>\n<start_of_turn>model\n")
    }
}
