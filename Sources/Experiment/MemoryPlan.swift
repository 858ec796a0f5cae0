import Foundation
import FinchModels
import FinchOptim
import FinchPEFT
import FinchQuantization
import FinchTensor

/// What the bytes of a training setup are for.
public enum MemoryCategory: String, Sendable, CaseIterable {
    case baseWeights = "base_weights"
    case quantizationStatistics = "quantization_statistics"
    case adapters
    case gradients
    case optimizerState = "optimizer_state"
    case activations
    case scratch
    /// Resident memory not accounted for by the model: the Swift runtime, libraries, tokenizer, data.
    case baseline = "process_baseline"

    /// As a table shows it: "base weights".
    public var title: String {
        switch self {
        case .baseline: "process baseline"
        default: rawValue.replacingOccurrences(of: "_", with: " ")
        }
    }
}

/// One line of a memory breakdown.
public struct MemoryItem: Sendable, Equatable {
    public let category: MemoryCategory
    public let name: String
    public let bytes: Int
    /// Held now (true) or allocated by the next training run (false).
    public let heldNow: Bool
    /// Pages of a memory-mapped checkpoint file (borrowed tensors), not the heap.
    public let mapped: Bool

    public init(_ category: MemoryCategory, _ name: String, _ bytes: Int, heldNow: Bool, mapped: Bool = false) {
        self.category = category
        self.name = name
        self.bytes = bytes
        self.heldNow = heldNow
        self.mapped = mapped
    }
}

/// The memory of a classifier training setup: bytes the loaded model, adapters and gradients hold now,
/// what a run of `batch` × `sequence` will add (optimizer state, activations kept for backward, scratch),
/// and the process baseline measured from /proc, so that `predictedPeak` is the resident peak of the run.
///
/// Activations are counted from the buffers the forward code allocates (EncoderActivations, LayerBuffers,
/// AttentionBuffers, DropoutMasks, LoRAAdapter, ClassifierStep), with T = batch·seq tokens, H hidden,
/// I intermediate, n heads, S seq, L layers, all fp32:
///   per layer: q, k, v, context, attention sum and output, FFN output sum: 7·T·H; FFN pre and post
///   activation: 2·T·I; probabilities B·n·S²; LayerNorm mean/rstd 4·T. Plus hidden states (L+1)·T·H and
///   the embeddings' T·H + 2·T. Dropout masks are keys, drawn again in backward (nothing per element).
/// Short-lived buffers (attention tiles, LoRA's x_d and ∂x_d, packed bf16 activations) come from the
/// shared `ScratchPool`, which keeps as many buffers as were ever held at once, each grown to the largest
/// request.
public struct MemoryPlan: Sendable {
    public let items: [MemoryItem]
    public let batch: Int
    public let sequence: Int
    public let optimizer: OptimizerAlgorithm
    /// Measured when the plan was made.
    public let process: ProcessMemory
    /// What the base weights would hold if every weight were fp32 (the QLoRA comparison; a mapped word
    /// table counts the pages the data touches, as in `items`).
    public let fp32BaseWeights: Int
    /// Bytes of optimizer state in a file mapping (paged_adamw), counted in the peak.
    public let pagedOptimizerBytes: Int

    /// Bytes in one category.
    public func bytes(_ category: MemoryCategory) -> Int {
        items.filter { $0.category == category }.reduce(0) { $0 + $1.bytes }
    }

    /// The resident peak of the run: every category, the baseline included.
    public var predictedPeak: Int { items.reduce(0) { $0 + $1.bytes } }

    /// Bytes the run adds to what the process holds now: the predicted peak less the resident size.
    public var growth: Int { max(0, predictedPeak - process.resident) }

    /// The same setup with fp32 base weights (no 4-bit codes or statistics).
    public var fp32Peak: Int {
        predictedPeak - bytes(.baseWeights) - bytes(.quantizationStatistics) + fp32BaseWeights
    }
}

extension MemoryPlan {
    /// A plan for training `parameters` of `encoder` (with `adapters`, if any) on batches of
    /// [batch, sequence]. `wordRowsTouched` is the set of token ids the data uses (the word-embedding rows
    /// that become resident when the table is mapped from the checkpoint); nil assumes the whole table.
    /// `evaluation` is the [batch, seq] of validation batches run at the end, if there is a valid split.
    public static func training(encoder: Encoder, parameters: [Parameter], adapters: LoRAModel?, batch: Int, sequence: Int,
                                optimizer: OptimizerAlgorithm = .adamw, restoreBest: Bool = true,
                                evaluation: (batch: Int, sequence: Int)? = nil, wordRowsTouched: Set<Int>? = nil,
                                tokenizedRows: (rows: Int, tokens: Int) = (0, 0), blasThreads: Int = Threads.count,
                                process: ProcessMemory = .current()) -> MemoryPlan {
        var items: [MemoryItem] = []
        let config = encoder.config
        let (h, inner, layers, heads) = (config.hiddenSize, config.intermediateSize, config.layerCount, config.headCount)
        let tokens = batch * sequence
        let float = MemoryLayout<Float>.stride

        // Base weights held now: borrowed tensors are mapped file pages, owned ones heap.
        func weight(_ name: String, _ tensor: Tensor?, category: MemoryCategory = .baseWeights) {
            guard let tensor, tensor.count > 0 else { return }
            items.append(MemoryItem(category, name, tensor.byteCount, heldNow: true, mapped: !tensor.isOwned))
        }
        let word = encoder.embeddings.word
        var wordBytes = word.byteCount
        if !word.isOwned, let touched = wordRowsTouched {
            wordBytes = min(word.byteCount, touchedPages(rows: touched, rowBytes: word.shape[1] * float))
            items.append(MemoryItem(.baseWeights, "word embeddings (pages of the \(touched.count) rows the data uses)",
                                    wordBytes, heldNow: true, mapped: true))
        } else {
            weight("word embeddings", word)
        }
        weight("position embeddings", encoder.embeddings.position)
        weight("token type embeddings", encoder.embeddings.tokenType)
        var fp32Linear = 0, packed = 0, statistics = 0, quantizedCount = 0, tileFloats = 0
        var bf16Packs = 0, bf16Count = 0, bf16Activation = 0
        var linearWeights: [Tensor] = [], biases: [Tensor] = []
        let trainedValues = Set(parameters.map { ObjectIdentifier($0.value) })
        for linear in encoder.blockLinears + [encoder.pooler, encoder.head?.dense, encoder.head?.output].compactMap({ $0 }) {
            fp32Linear += linear.outFeatures * linear.inFeatures * float
            if let bias = linear.bias { biases.append(bias) }
            if linear.precision == .bf16, linear.quantized == nil, !trainedValues.contains(ObjectIdentifier(linear.weight)) {
                // Frozen fp32 weights computing in bf16: W and (for backward) Wᵀ packed.
                bf16Count += 1
                bf16Packs += 2 * BF16Weight.packedByteCount(outFeatures: linear.outFeatures, inFeatures: linear.inFeatures)
                bf16Activation = max(bf16Activation, BF16Weight.packedActivationByteCount(
                    rows: tokens, k: max(linear.inFeatures, linear.outFeatures)))
            }
            if let q = linear.quantized {
                quantizedCount += 1
                packed += q.packed.count
                // Block absmax (fp32, or 8-bit codes + fp32 absmax per 256 + offset) and the 16-entry code map.
                statistics += q.byteCount - q.packed.count + 16 * float
                tileFloats = max(tileFloats, q.defaultTileRows * q.inFeatures)
            } else {
                linearWeights.append(linear.weight)
            }
        }
        func group(_ name: String, _ tensors: [Tensor]) {
            let owned = tensors.filter(\.isOwned).reduce(0) { $0 + $1.byteCount }
            let borrowed = tensors.filter { !$0.isOwned }.reduce(0) { $0 + $1.byteCount }
            if owned > 0 { items.append(MemoryItem(.baseWeights, name, owned, heldNow: true)) }
            if borrowed > 0 { items.append(MemoryItem(.baseWeights, name + " (mapped)", borrowed, heldNow: true, mapped: true)) }
        }
        group("linear weights, fp32", linearWeights)
        if bf16Count > 0 {
            items.append(MemoryItem(.baseWeights, "bf16 packings of \(bf16Count) frozen linear weights (W and Wᵀ)", bf16Packs, heldNow: false))
        }
        if quantizedCount > 0 {
            items.append(MemoryItem(.baseWeights, "linear weights, 4-bit codes (\(quantizedCount) layers)", packed, heldNow: true))
            // The 256-entry dynamic map of nested statistics is shared by every layer.
            items.append(MemoryItem(.quantizationStatistics, "block absmax, nested statistics, code maps", statistics + 256 * float, heldNow: true))
        }
        group("biases", biases)
        group("LayerNorm weights", encoder.layerNorms.flatMap { [$0.weight, $0.bias] })
        let embeddingBytes = wordBytes + encoder.embeddings.position.byteCount + (encoder.embeddings.tokenType?.byteCount ?? 0)
        let smallTensors = biases.reduce(0) { $0 + $1.byteCount } + encoder.layerNorms.reduce(0) { $0 + 2 * $1.weight.byteCount }
        let fp32Base = embeddingBytes + fp32Linear + smallTensors

        // Adapters and the buffers they allocate per row of input (rows = tokens, or batch for the pooler).
        // x_d and ∂x_d [rows, in] are pool buffers, held by one adapter at a time.
        var adapterBytes = 0, adapterSaved = 0, adapterScratch = 0, adapterGrowth = 0
        // Buffers held at once: a tile per thread in attention; x_d, ∂x_d (dropout) and DoRA's product with
        // the base weight (its bf16 activation packing) in an adapter.
        var poolBuffers = blasThreads, poolLargest = max(3 * sequence * sequence * float, bf16Activation)
        for (linear, adapter) in adapters?.adapted ?? [] {
            adapterBytes += adapter.a.byteCount + adapter.b.byteCount + (adapter.dora?.magnitude.byteCount ?? 0)
            let rows = linear === encoder.pooler ? batch : tokens
            let (inF, outF, r) = (linear.inFeatures, linear.outFeatures, adapter.rank)
            // Saved: x·Aᵀ [rows, r]; scratch: ∂(x·Aᵀ) [rows, r].
            let savedPerRow = r, scratchPerRow = r
            adapterSaved += rows * savedPerRow * float
            adapterScratch += rows * scratchPerRow * float
            poolBuffers = max(poolBuffers, (adapter.dropout > 0 ? 2 : 0) + (adapter.dora != nil ? 2 : 0))
            poolLargest = max(poolLargest, rows * inF * float)
            if adapter.dora != nil {
                // DoRA: W + s·B·A [out, in], norms and scales [out], three [rows, out] buffers.
                adapterSaved += (outF * inF + 2 * outF + 3 * rows * outF) * float
            }
            if let evaluation, linear !== encoder.pooler, evaluation.batch * evaluation.sequence > rows {
                // The last evaluation's batches are larger: the adapter's buffers grow to them.
                adapterGrowth += (evaluation.batch * evaluation.sequence - rows) * (savedPerRow + scratchPerRow) * float
            }
        }
        if adapterBytes > 0 { items.append(MemoryItem(.adapters, "LoRA A and B\(adapters?.configuration.useDoRA == true ? ", DoRA magnitudes" : "")", adapterBytes, heldNow: true)) }

        // Gradients: every trainable parameter has a buffer of its size from the moment the method is set.
        let trainable = parameters.reduce(0) { $0 + $1.value.count }
        items.append(MemoryItem(.gradients, "one fp32 gradient per trainable value (\(trainable))", trainable * float, heldNow: true))
        // The optimizer's own account of its state (FinchOptim): resident, and file-mapped for paged AdamW,
        // whose pages are resident while a step uses them and stay so until memory runs short.
        let state = optimizer.stateBytes(parameterCounts: parameters.map(\.value.count))
        items.append(MemoryItem(.optimizerState, optimizerName(optimizer), state.resident, heldNow: false))
        if state.mapped > 0 {
            items.append(MemoryItem(.optimizerState, "paged moments, file-mapped (the kernel may drop them under memory pressure)",
                                    state.mapped, heldNow: false, mapped: true))
        }

        // Activations kept for backward.
        let perLayer = 7 * tokens * h + 2 * tokens * inner + batch * heads * sequence * sequence + 4 * tokens
        items.append(MemoryItem(.activations, "hidden states, \(layers + 1) × [\(tokens), \(h)]", (layers + 1) * tokens * h * float, heldNow: false))
        items.append(MemoryItem(.activations, "embeddings: sum, mean, rstd", (tokens * h + 2 * tokens) * float, heldNow: false))
        items.append(MemoryItem(.activations, "\(layers) blocks: q, k, v, context, sums, FFN, attention [\(batch), \(heads), \(sequence), \(sequence)]",
                                layers * perLayer * float, heldNow: false))
        if adapterSaved > 0 { items.append(MemoryItem(.activations, "adapters: x·Aᵀ", adapterSaved, heldNow: false)) }
        let headRows = batch * (6 * h + 2 * (encoder.head?.labelCount ?? 2))
        items.append(MemoryItem(.activations, "head: h[CLS], features, logits", headRows * float, heldNow: false))

        // Scratch: backward buffers, the 4-bit tile, BLAS workspaces, tokenized data, evaluation.
        let backward = 3 * tokens * h + 4 * tokens * h + 2 * tokens * h + tokens * inner
        items.append(MemoryItem(.scratch, "backward: ∂hidden ×2, ∂embeddings, one block's gradients", backward * float, heldNow: false))
        if adapterScratch > 0 { items.append(MemoryItem(.scratch, "adapters: ∂(x·Aᵀ)", adapterScratch, heldNow: false)) }
        items.append(MemoryItem(.scratch, "scratch pool: \(poolBuffers) buffer\(poolBuffers == 1 ? "" : "s") of up to \(poolLargest / 1_000_000) MB (attention tiles, x_d and ∂x_d, bf16 activations)",
                                poolBuffers * poolLargest, heldNow: false))
        if tileFloats > 0 { items.append(MemoryItem(.scratch, "4-bit dequantization tile", tileFloats * float, heldNow: false)) }
        items.append(MemoryItem(.scratch, "OpenBLAS packing buffers (\(blasThreads) thread\(blasThreads == 1 ? "" : "s"))",
                                blasThreads * blasWorkspacePerThread, heldNow: false))
        if tokenizedRows.rows > 0 {
            // [[Int32]] ids and type ids: 4 bytes a token plus an array header (32 bytes) per row.
            items.append(MemoryItem(.scratch, "tokenized training rows", 2 * (tokenizedRows.tokens * 4 + tokenizedRows.rows * 32), heldNow: false))
        }
        if let evaluation {
            let te = evaluation.batch * evaluation.sequence
            let buffers = 2 * te * h + (7 * te * h + 2 * te * inner + evaluation.batch * heads * evaluation.sequence * evaluation.sequence
                                        + 4 * te) + te * h + 2 * te
            items.append(MemoryItem(.scratch, "evaluation buffers [\(evaluation.batch), \(evaluation.sequence)]", buffers * float + adapterGrowth, heldNow: false))
            if restoreBest { items.append(MemoryItem(.scratch, "copy of the best evaluation's weights", trainable * float, heldNow: false)) }
        }

        // Pages of the checkpoint file that stay mapped though no live weight uses them (weights that
        // were copied to be trained, or quantized): measured, less the live mapped weights.
        let liveMapped = items.filter { $0.mapped && $0.heldNow }.reduce(0) { $0 + $1.bytes }
        let stale = max(0, process.mappedCheckpoints - liveMapped)
        if stale > 0 {
            items.append(MemoryItem(.baseWeights, "checkpoint file pages no live weight uses (copied or quantized; reclaimable)", stale, heldNow: true, mapped: true))
        }
        // Baseline: resident now, less the heap the model holds, the mapped pages resident now and the heap
        // the allocator keeps free (an earlier run's buffers, which the next run reuses rather than adds).
        let ownedHeld = items.filter { $0.heldNow && !$0.mapped }.reduce(0) { $0 + $1.bytes }
        let reusable = min(process.allocatorFree, max(0, process.resident - ownedHeld - process.mappedCheckpoints))
        let baseline = max(0, process.resident - ownedHeld - process.mappedCheckpoints - reusable)
        var label = "runtime, libraries, tokenizer, data (VmRSS \(process.resident / 1_000_000) MB less the above"
        if reusable >= 1_000_000 { label += ", less \(reusable / 1_000_000) MB of freed heap the next run reuses" }
        items.append(MemoryItem(.baseline, label + ")", baseline, heldNow: true))
        return MemoryPlan(items: items, batch: batch, sequence: sequence, optimizer: optimizer, process: process,
                          fp32BaseWeights: fp32Base, pagedOptimizerBytes: state.mapped)
    }

    /// Resident bytes OpenBLAS's sgemm touches in its per-thread buffer, an estimate: it packs a
    /// GEMM_P × GEMM_Q panel of A and a GEMM_Q × n panel of B (a few MB for these shapes) into a buffer it
    /// maps once per thread; only the pages written count. Tests/CLI/memory.sh checks the sum.
    public static let blasWorkspacePerThread = 8 << 20

    /// Bytes of 4 KiB pages covering `rows` rows of `rowBytes` each in a row-major table.
    static func touchedPages(rows: Set<Int>, rowBytes: Int) -> Int {
        let page = 4096
        var pages = Set<Int>()
        for row in rows {
            let start = row * rowBytes, end = start + rowBytes - 1
            for p in (start / page)...(end / page) { pages.insert(p) }
        }
        return pages.count * page
    }

    static func optimizerName(_ kind: OptimizerAlgorithm) -> String {
        switch kind {
        case .adamw: "AdamW: two fp32 moments per trained value"
        case .adamw8bit: "8-bit AdamW: uint8 moments + fp32 absmax per 256 (fp32 under 4096 values), fp32 scratch"
        case .pagedAdamW: "paged AdamW: resident state between steps"
        }
    }
}
