import Foundation
import FinchOptim

/// The shape of a Llama-family decoder: what `estimate` plans with.
public struct DecoderShape: Sendable, Equatable {
    public var name: String
    public var hidden: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var intermediate: Int
    public var vocabulary: Int
    /// Input and output embeddings share one matrix (Llama 3.2 1B/3B).
    public var tiedEmbeddings: Bool

    public init(name: String, hidden: Int, layers: Int, heads: Int, kvHeads: Int, intermediate: Int, vocabulary: Int,
                tiedEmbeddings: Bool) {
        (self.name, self.hidden, self.layers, self.heads, self.kvHeads) = (name, hidden, layers, heads, kvHeads)
        (self.intermediate, self.vocabulary, self.tiedEmbeddings) = (intermediate, vocabulary, tiedEmbeddings)
    }

    /// Width of the key and value projections: kv heads × head size.
    public var kvWidth: Int { kvHeads * (hidden / heads) }

    /// Parameters of the linear layers of one block: q, o [H, H]; k, v [kv, H]; gate, up, down H·I each.
    public var linearParametersPerLayer: Int { 2 * hidden * hidden + 2 * hidden * kvWidth + 3 * hidden * intermediate }

    /// Every linear layer of the blocks (what QLoRA quantizes).
    public var linearParameters: Int { layers * linearParametersPerLayer }

    /// Embeddings, the LM head (unless tied) and the RMSNorm weights (2 per block and a final one).
    public var otherParameters: Int {
        vocabulary * hidden * (tiedEmbeddings ? 1 : 2) + (2 * layers + 1) * hidden
    }

    public var parameters: Int { linearParameters + otherParameters }

    /// LoRA parameters of rank r on every linear layer of the blocks: r·(in + out) per layer.
    public func loraParameters(rank r: Int) -> Int {
        layers * r * (4 * hidden + 2 * (hidden + kvWidth) + 3 * (hidden + intermediate))
    }

    /// Published configurations (config.json of each model).
    public static let presets: [(label: String, shape: DecoderShape)] = [
        ("1B", DecoderShape(name: "Llama-3.2-1B", hidden: 2048, layers: 16, heads: 32, kvHeads: 8, intermediate: 8192, vocabulary: 128_256, tiedEmbeddings: true)),
        ("3B", DecoderShape(name: "Llama-3.2-3B", hidden: 3072, layers: 28, heads: 24, kvHeads: 8, intermediate: 8192, vocabulary: 128_256, tiedEmbeddings: true)),
        ("7B", DecoderShape(name: "Llama-2-7B", hidden: 4096, layers: 32, heads: 32, kvHeads: 32, intermediate: 11008, vocabulary: 32000, tiedEmbeddings: false)),
        ("8B", DecoderShape(name: "Llama-3.1-8B", hidden: 4096, layers: 32, heads: 32, kvHeads: 8, intermediate: 14336, vocabulary: 128_256, tiedEmbeddings: false)),
        ("13B", DecoderShape(name: "Llama-2-13B", hidden: 5120, layers: 40, heads: 40, kvHeads: 40, intermediate: 13824, vocabulary: 32000, tiedEmbeddings: false)),
        ("34B", DecoderShape(name: "CodeLlama-34B", hidden: 8192, layers: 48, heads: 64, kvHeads: 8, intermediate: 22016, vocabulary: 32000, tiedEmbeddings: false)),
        ("65B", DecoderShape(name: "LLaMA-65B", hidden: 8192, layers: 80, heads: 64, kvHeads: 64, intermediate: 22016, vocabulary: 32000, tiedEmbeddings: false)),
        ("70B", DecoderShape(name: "Llama-2-70B", hidden: 8192, layers: 80, heads: 64, kvHeads: 8, intermediate: 28672, vocabulary: 32000, tiedEmbeddings: false)),
    ]

    /// The shape for `parameters`: a preset when the count is within 3 % of one (7B, 6.74B), else the
    /// nearest preset with its layer count scaled to the count (an approximation, `isApproximate`).
    public static func forParameters(_ parameters: Double) -> (shape: DecoderShape, isApproximate: Bool) {
        let nearest = presets.min { abs(log(Double($0.shape.parameters) / parameters)) < abs(log(Double($1.shape.parameters) / parameters)) }!
        if let named = presets.first(where: { abs(Double(labelCount($0.label)) / parameters - 1) < 0.03 }) {
            return (named.shape, false)
        }
        if abs(Double(nearest.shape.parameters) / parameters - 1) < 0.03 { return (nearest.shape, false) }
        var shape = nearest.shape
        let perLayer = Double(shape.linearParametersPerLayer + 2 * shape.hidden)
        shape.layers = max(1, Int(((parameters - Double(shape.vocabulary * shape.hidden * (shape.tiedEmbeddings ? 1 : 2))) / perLayer).rounded()))
        shape.name = "\(nearest.shape.name) widths, \(shape.layers) layers"
        return (shape, true)
    }

    /// "7B" → 7e9.
    static func labelCount(_ label: String) -> Int { Int(Double(label.dropLast())! * 1e9) }
}

/// How a model is fine-tuned, for the estimate.
public enum EstimateMethod: String, Sendable, CaseIterable {
    /// Mixed precision: bf16 weights and gradients, an fp32 master copy and two fp32 Adam moments.
    case full
    /// bf16 base, fp32 LoRA adapters with their gradients and Adam moments.
    case lora
    /// NF4 base with double quantization (4.127 bits a weight), bf16 embeddings and head, fp32 adapters.
    case qlora
}

/// The memory of fine-tuning a decoder on a GPU, in bytes by part.
public struct MemoryEstimate: Sendable, Equatable {
    public let shape: DecoderShape
    public let isApproximate: Bool
    public let method: EstimateMethod
    public let rank: Int, sequence: Int, batch: Int
    public let weights: Int
    public let gradients: Int
    public let optimizer: Int
    /// Activations without and with gradient checkpointing (both include the logits).
    public let activations: Int
    public let checkpointedActivations: Int
    public let trainable: Int

    /// Bits per weight of NF4 with double quantization, block 64: 4 + 8/64 + 32/(64·256).
    public static let nf4Bits = 4.0 + 8.0 / 64 + 32.0 / (64 * 256)

    public init(shape: DecoderShape, isApproximate: Bool = false, method: EstimateMethod, rank: Int, sequence: Int, batch: Int,
                optimizer kind: OptimizerAlgorithm = .adamw) {
        (self.shape, self.isApproximate, self.method) = (shape, isApproximate, method)
        (self.rank, self.sequence, self.batch) = (rank, sequence, batch)
        let p = shape.parameters, adapters = shape.loraParameters(rank: rank)
        switch method {
        case .full:
            trainable = p
            weights = 2 * p + 4 * p                 // bf16 working copy + fp32 master
            gradients = 2 * p                       // bf16
        case .lora:
            trainable = adapters
            weights = 2 * p + 4 * adapters          // bf16 base + fp32 adapters
            gradients = 4 * adapters
        case .qlora:
            trainable = adapters
            weights = Int((Double(shape.linearParameters) * Self.nf4Bits / 8).rounded()) + 2 * shape.otherParameters + 4 * adapters
            gradients = 4 * adapters
        }
        // 8-bit moments where asked; paged AdamW stays on the GPU until memory runs short, so it counts in full.
        // (2 code bytes a value + two fp32 absmax per 256, as if one tensor).
        optimizer = kind == .adamw8bit ? 2 * trainable + 8 * ((trainable + 255) / 256) : 8 * trainable
        (activations, checkpointedActivations) = Self.activationBytes(shape, method: method, rank: rank, tokens: sequence * batch)
    }

    /// Activations in bf16 (2 bytes), with attention by a fused kernel (SDPA / FlashAttention: no S×S
    /// scores kept). Per block and token a Llama layer keeps its input and RMSNorm output, q, k, v, the
    /// attention output, the MLP's input and normed input (6·H + 2·kv), gate, up, SiLU(gate), their
    /// product (4·I), and LoRA's x·Aᵀ (r per adapted layer, 7 layers):
    ///   without checkpointing: L · T · (6H + 2kv + 4I + 7r) · 2
    ///   with checkpointing:    L · T · H · 2 (each block's input) + one block recomputed, T · (6H + 2kv + 4I + 7r) · 2
    /// plus the logits, T · V · (2 + 4 + 4): bf16, their fp32 copy for the loss, and its gradient.
    static func activationBytes(_ shape: DecoderShape, method: EstimateMethod, rank: Int, tokens: Int) -> (Int, Int) {
        let r = method == .full ? 0 : rank
        let perToken = 2 * (6 * shape.hidden + 2 * shape.kvWidth + 4 * shape.intermediate + 7 * r)
        let logits = tokens * shape.vocabulary * 10
        let plain = shape.layers * tokens * perToken + logits
        let checkpointed = shape.layers * tokens * shape.hidden * 2 + tokens * perToken + logits
        return (plain, checkpointed)
    }

    /// Weights, gradients, optimizer and activations (checkpointed or not).
    public func total(checkpointing: Bool) -> Int {
        weights + gradients + optimizer + (checkpointing ? checkpointedActivations : activations)
    }
}

/// A GPU and its on-demand price.
public struct GPUPrice: Sendable, Equatable {
    public var name: String
    public var memoryGB: Double
    public var dollarsPerHour: Double

    public init(_ name: String, memoryGB: Double, dollarsPerHour: Double) {
        (self.name, self.memoryGB, self.dollarsPerHour) = (name, memoryGB, dollarsPerHour)
    }

    /// Whether `bytes` fit with 10 % of the memory left for the CUDA context, allocator and fragmentation.
    public func fits(_ bytes: Int) -> Bool { Double(bytes) <= 0.9 * memoryGB * 1e9 }

    /// GPUs of this kind whose memory (each less 10 %) adds up to `bytes`: a lower bound, as sharding
    /// (FSDP, ZeRO-3) splits weights, gradients and optimizer state but adds buffers of its own.
    public func count(for bytes: Int) -> Int { max(1, Int((Double(bytes) / (0.9 * memoryGB * 1e9)).rounded(.up))) }
}

/// The GPU table `estimate` uses: on-demand cloud list prices per GPU-hour in US dollars, January 2026
/// (AWS, Google Cloud, Lambda, RunPod list prices of that month, rounded); `prices=` or
/// ~/.finch/prices.json replaces or adds rows.
public struct GPUPriceTable: Sendable, Equatable {
    public var date: String
    public var gpus: [GPUPrice]

    public static let defaults = GPUPriceTable(date: "January 2026", gpus: [
        GPUPrice("T4-16GB", memoryGB: 16, dollarsPerHour: 0.35),
        GPUPrice("L4-24GB", memoryGB: 24, dollarsPerHour: 0.71),
        GPUPrice("A10G-24GB", memoryGB: 24, dollarsPerHour: 1.01),
        GPUPrice("RTX4090-24GB", memoryGB: 24, dollarsPerHour: 0.69),
        GPUPrice("A100-40GB", memoryGB: 40, dollarsPerHour: 1.29),
        GPUPrice("A100-80GB", memoryGB: 80, dollarsPerHour: 1.79),
        GPUPrice("H100-80GB", memoryGB: 80, dollarsPerHour: 2.99),
        GPUPrice("H200-141GB", memoryGB: 141, dollarsPerHour: 3.79),
    ])

    /// The table with the rows of a price file applied: a JSON object
    /// `{"date": "…", "gpus": {"A100-80GB": {"memory_gb": 80, "usd_per_hour": 1.5}, …}}`. A known name
    /// replaces the fields given (either may be left out); a new name needs both. Errors name the file
    /// and the key, or the line and column of malformed JSON.
    public func applying(priceFile url: URL) throws -> GPUPriceTable {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw PriceFileError(url, "cannot be read") }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw PriceFileError(url, "is not valid JSON: " + Self.position(of: error, in: data))
        }
        guard let root = object as? [String: Any] else { throw PriceFileError(url, "must hold a JSON object") }
        var table = self
        for key in root.keys.sorted() where !["date", "gpus"].contains(key) {
            throw PriceFileError(url, "unknown key \"\(key)\" (expected \"date\" and \"gpus\")")
        }
        if let date = root["date"] {
            guard let text = date as? String else { throw PriceFileError(url, "\"date\" must be a string") }
            table.date = text
        }
        guard let gpus = root["gpus"] as? [String: Any] else { throw PriceFileError(url, "\"gpus\" must be an object of GPU names") }
        for name in gpus.keys.sorted() {
            guard let fields = gpus[name] as? [String: Any] else { throw PriceFileError(url, "gpus.\(name) must be an object") }
            for key in fields.keys.sorted() where !["memory_gb", "usd_per_hour"].contains(key) {
                throw PriceFileError(url, "gpus.\(name): unknown key \"\(key)\" (expected memory_gb, usd_per_hour)")
            }
            func number(_ key: String) throws -> Double? {
                guard let value = fields[key] else { return nil }
                guard let n = value as? NSNumber, !(value is Bool), n.doubleValue.isFinite, n.doubleValue > 0 else {
                    throw PriceFileError(url, "gpus.\(name).\(key) must be a positive number")
                }
                return n.doubleValue
            }
            let memory = try number("memory_gb"), price = try number("usd_per_hour")
            if let index = table.gpus.firstIndex(where: { $0.name == name }) {
                if let memory { table.gpus[index].memoryGB = memory }
                if let price { table.gpus[index].dollarsPerHour = price }
            } else {
                guard let memory, let price else { throw PriceFileError(url, "gpus.\(name) is a new GPU: it needs memory_gb and usd_per_hour") }
                table.gpus.append(GPUPrice(name, memoryGB: memory, dollarsPerHour: price))
            }
        }
        return table
    }

    /// "line 3, column 7" from a JSONSerialization error (its message or its byte index).
    static func position(of error: Error, in data: Data) -> String {
        let info = (error as NSError).userInfo
        let message = (info[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
        if message.contains("line") { return message }
        // swift-corelibs-foundation says "… around character 35."; Darwin gives the index in userInfo.
        let offset = info["NSJSONSerializationErrorIndex"] as? Int ?? message.firstMatch(of: /character (\d+)/).flatMap { Int($0.1) }
        if let index = offset {
            let prefix = data.prefix(index)
            let line = prefix.filter { $0 == UInt8(ascii: "\n") }.count + 1
            let column = index - (prefix.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
            return "line \(line), column \(column): \(message)"
        }
        return message
    }
}

/// A price file that cannot be used, naming the file and what is wrong.
public struct PriceFileError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ url: URL, _ problem: String) { description = "\(url.path): \(problem)" }
}
