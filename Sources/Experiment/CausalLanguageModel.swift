import Foundation
import FinchCheckpoint
import FinchModels
import FinchTokenizers

/// A decoder with everything needed to talk to it: its tokenizer, its chat format (when the model has
/// one) and the tokens that end a reply. Loaded from a Hugging Face folder or a GGUF file.
public final class CausalLanguageModel: @unchecked Sendable {
    public let model: DecoderModel
    public let tokenizer: any Tokenizer
    /// The chat format the model's files name (nil: plain text prompts).
    public var chatTemplate: ChatTemplate?
    /// Where it came from (a folder or a .gguf file).
    public let source: URL

    public init(model: DecoderModel, tokenizer: any Tokenizer, chatTemplate: ChatTemplate?, source: URL) {
        self.model = model
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.source = source
    }

    /// The GGUF file `url` is or holds (a folder with exactly one .gguf and no config.json), else nil.
    public static func ggufFile(at url: URL) -> URL? {
        if url.pathExtension.lowercased() == "gguf" { return url }
        let fm = FileManager.default
        guard !fm.fileExists(atPath: url.appendingPathComponent("config.json").path),
              let names = try? fm.contentsOfDirectory(atPath: url.path) else { return nil }
        let files = names.filter { $0.lowercased().hasSuffix(".gguf") }
        return files.count == 1 ? url.appendingPathComponent(files[0]) : nil
    }

    /// Whether `url` holds a Llama-family decoder (a GGUF file, or a folder whose config.json says so).
    public static func isDecoder(at url: URL) -> Bool {
        ggufFile(at: url) != nil || DecoderConfig.describesDecoder(folder: url)
    }

    /// Loads the model, tokenizer and chat format from a folder (config.json, safetensors, tokenizer files)
    /// or a GGUF file (its metadata carries the tokenizer and the chat template).
    public static func load(from url: URL, task: DecoderTask = .causalLM) throws -> CausalLanguageModel {
        if let gguf = ggufFile(at: url) {
            let file = try GGUFFile(contentsOf: gguf)
            let model = try DecoderLoader.load(gguf: gguf, task: task)
            let tokenizer = try ggufTokenizer(file)
            let template = file.string("tokenizer.chat_template").flatMap { jinja in
                ChatTemplate(jinja: jinja, bosToken: file.int("tokenizer.ggml.bos_token_id").flatMap { tokenizer.token(of: $0) },
                             eosToken: file.int("tokenizer.ggml.eos_token_id").flatMap { tokenizer.token(of: $0) })
            }
            return CausalLanguageModel(model: model, tokenizer: tokenizer, chatTemplate: template, source: gguf)
        }
        let model = try DecoderLoader.load(folder: url, task: task)
        return CausalLanguageModel(model: model, tokenizer: try AutoTokenizer.load(from: url),
                                   chatTemplate: try ChatTemplate.load(from: url), source: url)
    }

    /// The byte-level BPE tokenizer a GGUF file's `tokenizer.ggml.*` metadata describes.
    static func ggufTokenizer(_ file: GGUFFile) throws -> any Tokenizer {
        guard let model = file.string("tokenizer.ggml.model") else {
            throw CheckpointError(file.url, "metadata key \"tokenizer.ggml.model\" is missing: the file carries no tokenizer")
        }
        guard let tokens = file.strings("tokenizer.ggml.tokens") else {
            throw CheckpointError(file.url, "metadata key \"tokenizer.ggml.tokens\" is missing or not an array of strings")
        }
        return try AutoTokenizer.byteLevelBPE(
            ggufModel: model, pre: file.string("tokenizer.ggml.pre"), tokens: tokens,
            merges: file.strings("tokenizer.ggml.merges") ?? [], tokenTypes: file.ints("tokenizer.ggml.token_type"),
            bosId: file.int("tokenizer.ggml.bos_token_id"), eosId: file.int("tokenizer.ggml.eos_token_id"),
            padId: file.int("tokenizer.ggml.padding_token_id"), unknownId: file.int("tokenizer.ggml.unknown_token_id"),
            addBos: file.bool("tokenizer.ggml.add_bos_token"), addEos: file.bool("tokenizer.ggml.add_eos_token"))
    }

    /// Ids that end a reply: the config's EOS ids and the chat format's end-of-turn token.
    public var stopTokenIds: [Int] {
        var ids = model.config.eosTokenIds
        if let end = chatTemplate?.eosToken, let id = tokenizer.id(of: end), !ids.contains(id) { ids.append(id) }
        return ids
    }

    /// The EOS token's text (what a plain-text response ends with so the model learns to stop).
    public var eosText: String? {
        (model.config.eosTokenIds.first).flatMap { tokenizer.token(of: $0) } ?? chatTemplate?.eosToken
    }

    /// The pad id batches are filled with (the model's, else the tokenizer's).
    public var padId: Int { model.config.padTokenId ?? tokenizer.padId }

    /// A training example in the model's format: in the chat format (system, user = prompt, assistant =
    /// response; the assistant's reply through its end-of-turn token trained, the rest masked) when `chat`
    /// and the model has one; else the prompt (masked) followed by the response and EOS (trained).
    public func trainingSegments(prompt: String, response: String, system: String? = nil, chat: Bool = true) -> [TextSegment] {
        if chat, let chatTemplate {
            var conversation: [(role: String, content: String)] = []
            if let system { conversation.append(("system", system)) }
            conversation += [("user", prompt), ("assistant", response)]
            return chatTemplate.format(conversation, addGenerationPrompt: false).pieces.map { TextSegment($0.text, trained: $0.isResponse) }
        }
        return [TextSegment(prompt, trained: false), TextSegment(response + (eosText ?? ""), trained: true)]
    }

    /// A conversation's segments (every assistant turn trained), for data with chat messages.
    public func trainingSegments(conversation: [(role: String, content: String)]) throws -> [TextSegment] {
        guard let chatTemplate else {
            throw TrainingError("the model has no chat template, so conversations cannot be formatted; use prompt= and response= columns")
        }
        return chatTemplate.format(conversation, addGenerationPrompt: false).pieces.map { TextSegment($0.text, trained: $0.isResponse) }
    }

    /// The text a prompt becomes for generation: the chat format with the assistant header, or the prompt as is.
    public func generationPrompt(_ prompt: String, system: String? = nil, chat: Bool = true) -> String {
        guard chat, let chatTemplate else { return prompt }
        var conversation: [(role: String, content: String)] = []
        if let system { conversation.append(("system", system)) }
        conversation.append(("user", prompt))
        return chatTemplate.format(conversation, addGenerationPrompt: true).text
    }

    /// Tokenizes examples for training or evaluation (see `CausalExamples`).
    /// BOS goes first when the tokenizer adds one and the formatted text does not already start with it.
    public func examples(_ segments: [[TextSegment]], maxLength: Int) -> CausalExamples {
        let bos = addsBos ? model.config.bosTokenId : nil
        let bosText = bos.flatMap { tokenizer.token(of: $0) }
        let startsWithBos = bosText.map { text in segments.allSatisfy { $0.first?.text.hasPrefix(text) == true } } ?? false
        return CausalExamples(segments, tokenizer: tokenizer, bosId: startsWithBos ? nil : bos, maxLength: maxLength)
    }

    /// Whether the tokenizer puts BOS before a text (Llama 2/3 do; SmolLM2 does not).
    var addsBos: Bool {
        guard let bos = model.config.bosTokenId else { return false }
        return tokenizer.encode("a", pair: nil, addSpecialTokens: true, maxLength: nil).ids.first == bos
    }
}
