import Foundation

/// The chat formats Finch writes conversations in, each recognized by its marker tokens.
public enum ChatTemplateFamily: String, Sendable, CaseIterable {
    /// `<|im_start|>role\ncontent<|im_end|>\n` (SmolLM2, Qwen2).
    case chatML
    /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>` after `<|begin_of_text|>`.
    case llama3
    /// `<s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s>`.
    case llama2
    /// `<s>[INST] user [/INST]answer</s>`.
    case mistral
    /// `<bos><start_of_turn>user\ncontent<end_of_turn>\n`, the assistant called `model`.
    case gemma
    /// `<|user|>\ncontent</s>\n` (Zephyr).
    case zephyr
}

/// A conversation written out in a model's chat format, with the assistant turns located.
public struct FormattedChat: Sendable, Equatable {
    /// The text to tokenize.
    public let text: String
    /// The UTF-8 byte range of each assistant response: its content through the end-of-turn
    /// marker. Training keeps the loss on these and masks the rest (the prompt).
    public let assistantSpans: [Range<Int>]

    /// The text cut at the assistant spans, in order: prompt pieces (`isResponse` false) and responses.
    public var pieces: [(text: String, isResponse: Bool)] {
        let bytes = Array(text.utf8)
        var pieces: [(text: String, isResponse: Bool)] = []
        var position = 0
        for span in assistantSpans {
            if position < span.lowerBound { pieces.append((String(decoding: bytes[position..<span.lowerBound], as: UTF8.self), false)) }
            pieces.append((String(decoding: bytes[span], as: UTF8.self), true))
            position = span.upperBound
        }
        if position < bytes.count { pieces.append((String(decoding: bytes[position...], as: UTF8.self), false)) }
        return pieces
    }
}

/// Writes conversations in a model's chat format. The family is detected from the Jinja
/// `chat_template` (tokenizer_config.json, chat_template.jinja, or GGUF `tokenizer.chat_template`)
/// by its marker tokens, not by running the Jinja; the caller may name it instead.
///
/// Each family reproduces its reference template: ChatML adds the template's default system
/// message (SmolLM2: "You are a helpful AI assistant named SmolLM, …") when the conversation has
/// none; Llama-3 and Gemma trim contents, Llama-2 strips them. Formats without a system role
/// (Mistral, Gemma) put the system message, and a blank line, before the first user message.
public struct ChatTemplate: Sendable, Equatable {
    public var family: ChatTemplateFamily
    public var bosToken: String
    public var eosToken: String
    /// ChatML's system message for conversations that have none.
    public var defaultSystemMessage: String?

    /// A template of `family`, with that family's usual BOS and EOS tokens unless given.
    public init(family: ChatTemplateFamily, bosToken: String? = nil, eosToken: String? = nil, defaultSystemMessage: String? = nil) {
        self.family = family
        let defaults: (String, String) = switch family {
        case .chatML: ("", "<|im_end|>")
        case .llama3: ("<|begin_of_text|>", "<|eot_id|>")
        case .llama2, .mistral, .zephyr: ("<s>", "</s>")
        case .gemma: ("<bos>", "<eos>")
        }
        self.bosToken = bosToken ?? defaults.0
        self.eosToken = eosToken ?? defaults.1
        self.defaultSystemMessage = defaultSystemMessage
    }

    /// Detects the family of a Jinja chat template by its markers; nil when none is recognized.
    public init?(jinja: String, bosToken: String? = nil, eosToken: String? = nil) {
        let family: ChatTemplateFamily
        if jinja.contains("<|im_start|>") {
            family = .chatML
        } else if jinja.contains("<|start_header_id|>") {
            family = .llama3
        } else if jinja.contains("<start_of_turn>") {
            family = .gemma
        } else if jinja.contains("<|user|>") || jinja.contains("<|assistant|>") {
            family = .zephyr
        } else if jinja.contains("[INST]") {
            family = jinja.contains("<<SYS>>") ? .llama2 : .mistral
        } else {
            return nil
        }
        self.init(family: family, bosToken: bosToken, eosToken: eosToken,
                  defaultSystemMessage: family == .chatML ? Self.chatMLDefaultSystemMessage(jinja) : nil)
    }

    /// The chat template of a model folder (`chat_template` in tokenizer_config.json, else
    /// chat_template.jinja), with its `bos_token` and `eos_token`; nil when the folder has none.
    public static func load(from folder: URL) throws(TokenizerError) -> ChatTemplate? {
        let settings = try TokenizerSettings(folder: folder)
        var jinja = try settings.tokenizerConfig?.optionalString("chat_template")
        if jinja == nil, let url = settings.file("chat_template.jinja") {
            do {
                jinja = try String(contentsOf: url, encoding: .utf8)
            } catch {
                throw .unreadableFile(path: url.path, reason: error.localizedDescription)
            }
        }
        guard let jinja else { return nil }
        return ChatTemplate(jinja: jinja, bosToken: try settings.specialToken("bos_token", default: nil)?.content,
                            eosToken: try settings.specialToken("eos_token", default: nil)?.content)
    }

    /// The literal system text a ChatML template writes when the conversation has no system message.
    static func chatMLDefaultSystemMessage(_ jinja: String) -> String? {
        for opening in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
            guard let start = jinja.range(of: opening)?.upperBound,
                  let end = jinja.range(of: "<|im_end|>", range: start..<jinja.endIndex)?.lowerBound else { continue }
            let text = jinja[start..<end]
            // A Jinja expression here means the system text comes from the conversation.
            if text.contains("'") || text.contains("{") { return nil }
            return text.replacingOccurrences(of: "\\n", with: "\n")
        }
        return nil
    }

    /// Writes `conversation` (role, content) out, ending with the assistant header when
    /// `addGenerationPrompt` (families that have one).
    public func format(_ conversation: [(role: String, content: String)], addGenerationPrompt: Bool) -> FormattedChat {
        var writer = ChatWriter()
        switch family {
        case .chatML:
            if let first = conversation.first, first.role != "system", let system = defaultSystemMessage {
                writer.prompt("<|im_start|>system\n" + system + "<|im_end|>\n")
            }
            for (role, content) in conversation {
                writer.prompt("<|im_start|>" + role + "\n")
                writer.turn(role, content + "<|im_end|>", then: "\n")
            }
            if addGenerationPrompt { writer.prompt("<|im_start|>assistant\n") }
        case .llama3:
            for (index, (role, content)) in conversation.enumerated() {
                writer.prompt((index == 0 ? bosToken : "") + "<|start_header_id|>" + role + "<|end_header_id|>\n\n")
                writer.turn(role, jinjaTrimmed(content) + "<|eot_id|>")
            }
            if addGenerationPrompt { writer.prompt("<|start_header_id|>assistant<|end_header_id|>\n\n") }
        case .llama2:
            let system = conversation.first?.role == "system" ? conversation.first?.content : nil
            for (index, (role, content)) in conversation.dropFirst(system == nil ? 0 : 1).enumerated() {
                let text = index == 0 && system != nil ? "<<SYS>>\n" + system! + "\n<</SYS>>\n\n" + content : content
                if role == "user" { writer.prompt(bosToken + "[INST] " + jinjaTrimmed(text) + " [/INST]") }
                if role == "assistant" { writer.turn(role, " " + jinjaTrimmed(text) + " " + eosToken) }
            }
        case .mistral:
            writer.prompt(bosToken)
            for (role, content) in foldingSystemMessage(conversation) {
                if role == "user" { writer.prompt("[INST] " + content + " [/INST]") }
                if role == "assistant" { writer.turn(role, content + eosToken) }
            }
        case .gemma:
            writer.prompt(bosToken)
            for (role, content) in foldingSystemMessage(conversation) {
                writer.prompt("<start_of_turn>" + (role == "assistant" ? "model" : role) + "\n")
                writer.turn(role, jinjaTrimmed(content) + "<end_of_turn>", then: "\n")
            }
            if addGenerationPrompt { writer.prompt("<start_of_turn>model\n") }
        case .zephyr:
            for (role, content) in conversation where ["user", "system", "assistant"].contains(role) {
                writer.prompt("<|" + role + "|>\n")
                writer.turn(role, content + eosToken, then: "\n")
            }
            if addGenerationPrompt && !conversation.isEmpty { writer.prompt("<|assistant|>\n") }
        }
        return FormattedChat(text: writer.text, assistantSpans: writer.spans)
    }

    /// The conversation with a leading system message moved into the first user message.
    private func foldingSystemMessage(_ conversation: [(role: String, content: String)]) -> [(role: String, content: String)] {
        guard let first = conversation.first, first.role == "system" else { return conversation }
        var rest = Array(conversation.dropFirst())
        if let user = rest.firstIndex(where: { $0.role == "user" }) {
            rest[user].content = first.content + "\n\n" + rest[user].content
        }
        return rest
    }
}

/// Accumulates formatted text and the byte spans of assistant turns.
private struct ChatWriter {
    var text = ""
    var spans: [Range<Int>] = []

    mutating func prompt(_ piece: String) { text += piece }

    /// A turn's body (content and end marker), a span when the role is the assistant's, then `suffix`.
    mutating func turn(_ role: String, _ body: String, then suffix: String = "") {
        let start = text.utf8.count
        text += body
        if role == "assistant" { spans.append(start..<text.utf8.count) }
        text += suffix
    }
}

/// Jinja's `trim` and Python's `str.strip()`: removes leading and trailing whitespace (Unicode
/// White_Space plus the information separators U+001C…U+001F, as `str.isspace`).
func jinjaTrimmed(_ text: String) -> String {
    func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value) }
    var scalars = Substring(text).unicodeScalars
    while let first = scalars.first, isSpace(first) { scalars.removeFirst() }
    while let last = scalars.last, isSpace(last) { scalars.removeLast() }
    return String(scalars)
}
