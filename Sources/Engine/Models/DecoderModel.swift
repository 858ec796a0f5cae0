import Foundation
import FinchCheckpoint
import FinchTensor

/// A Llama-family decoder (LlamaForCausalLM; optionally LlamaForSequenceClassification's score head):
/// token embeddings → pre-norm blocks → RMSNorm → LM head (the embedding matrix when tied).
public final class DecoderModel: @unchecked Sendable {
    public let config: DecoderConfig
    /// model.embed_tokens.weight [vocab, hidden].
    public let embedding: Tensor
    /// Gradient of the embedding matrix; nil while frozen.
    public var embeddingGradient: Tensor?
    public let layers: [DecoderLayer]
    public let norm: RMSNorm
    /// lm_head [vocab, hidden]; nil when the head is the embedding matrix (tie_word_embeddings).
    public let lmHead: Linear?
    /// The sequence-classification head `score` [labels, hidden] (no bias), for a decoder used as a classifier.
    public var scoreHead: Linear?
    /// Module names the loader initialised freshly (e.g. "score").
    public var freshModules: [String] = []

    public init(config: DecoderConfig, embedding: Tensor, layers: [DecoderLayer], norm: RMSNorm, lmHead: Linear?) {
        self.config = config
        self.embedding = embedding
        self.layers = layers
        self.norm = norm
        self.lmHead = lmHead
    }

    var shape: DecoderConfigShape {
        DecoderConfigShape(hidden: config.hiddenSize, inner: config.intermediateSize, heads: config.headCount,
                           queryWidth: config.queryWidth, keyValueWidth: config.keyValueWidth)
    }

    /// Every linear layer of the blocks, in module order (what `all-linear` adapts).
    public var blockLinears: [Linear] { layers.flatMap(\.linears) }

    /// Sets how every linear layer (blocks and heads; a tied LM head stays fp32) computes with its frozen
    /// weight (see `FrozenPrecision`).
    public func setFrozenPrecision(_ precision: FrozenPrecision) throws {
        try precision.checkAvailable()
        for linear in blockLinears + [lmHead, scoreHead].compactMap({ $0 }) { linear.precision = precision }
    }

    /// Every RMSNorm, in module order.
    public var norms: [RMSNorm] { layers.flatMap { [$0.attentionNorm, $0.mlpNorm] } + [norm] }

    /// Runs the blocks; the normalised last hidden state [tokens, hidden] is `activations.final`.
    public func forward(_ batch: DecoderBatch, activations: DecoderActivations) throws {
        try activations.prepare(model: self, batch: batch.batchSize, sequence: batch.sequenceLength)
        let h = config.hiddenSize, tokens = batch.batchSize * batch.sequenceLength
        let first = activations.hiddenState(0)
        for t in 0..<tokens {
            let id = Int(batch.ids[t])
            guard id >= 0, id < config.vocabularySize else {
                throw ModelError("token id \(id) at position \(t) is outside the vocabulary (0..<\(config.vocabularySize))")
            }
            (first + t * h).update(from: embedding.data + id * h, count: h)
        }
        for (index, layer) in layers.enumerated() {
            layer.forward(activations.hiddenState(index), mask: batch.mask, saved: activations.layerBuffers(index),
                          into: activations.hiddenState(index + 1))
        }
        norm.forward(activations.hiddenState(layers.count), rows: tokens, into: activations.final, rstd: activations.finalRstd)
    }

    /// The LM head's weight [vocab, hidden]: lm_head, or the embedding matrix when tied.
    public var headWeight: Tensor { lmHead?.weight ?? embedding }

    /// logits[rows, vocab] = h[rows, hidden] · Wᵀ (+ adapters on an untied head).
    public func logits(_ h: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        if let lmHead {
            lmHead.forward(h, rows: rows, into: logits)
        } else {
            BLAS.gemm(transposeB: true, m: rows, n: config.vocabularySize, k: config.hiddenSize, a: h, lda: config.hiddenSize,
                      b: embedding.data, ldb: config.hiddenSize, c: logits, ldc: config.vocabularySize)
        }
    }

    /// Logits of every token after `forward`, [tokens, vocab].
    public func allLogits(_ activations: DecoderActivations) -> Tensor {
        let tokens = activations.batch * activations.sequence
        let result = Tensor(zeros: [tokens, config.vocabularySize])
        logits(activations.final, rows: tokens, into: result.data)
        return result
    }

    /// Backward from ∂loss/∂final (in `activations.finalGradient`) through the final norm and every block,
    /// into the embedding gradient when it trains.
    public func backward(_ batch: DecoderBatch, activations: DecoderActivations) {
        let tokens = batch.batchSize * batch.sequenceLength, h = config.hiddenSize
        var (current, other) = activations.gradientBuffers
        norm.backward(activations.hiddenState(layers.count), outputGradient: activations.finalGradient, rows: tokens,
                      rstd: activations.finalRstd, inputGradient: current)
        for index in layers.indices.reversed() {
            layers[index].backward(activations.hiddenState(index), outputGradient: current, mask: batch.mask,
                                   saved: activations.layerBuffers(index), scratch: activations.layerGradients, inputGradient: other)
            swap(&current, &other)
        }
        if let embeddingGradient {
            for t in 0..<tokens {
                Kernels.add(current + t * h, into: embeddingGradient.data + Int(batch.ids[t]) * h, count: h)
            }
        }
    }
}

/// A right-padded batch of token ids [batch, seq] for the decoder, with its causal mask and, for
/// training, labels (−100 = no loss, as transformers' ignore_index) aligned with the ids: the loss at
/// token s predicts labels[s + 1].
public struct DecoderBatch: Sendable {
    public let batchSize: Int
    public let sequenceLength: Int
    public let ids: [Int32]
    public let labels: [Int32]?
    public let mask: CausalMask

    public static let ignoreIndex: Int32 = -100

    public init(batchSize: Int, sequenceLength: Int, ids: [Int32], labels: [Int32]? = nil, mask: CausalMask) {
        precondition(ids.count == batchSize * sequenceLength, "ids do not fill [\(batchSize), \(sequenceLength)]")
        precondition(labels == nil || labels!.count == ids.count, "labels do not match the ids")
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.ids = ids
        self.labels = labels
        self.mask = mask
    }

    /// Token positions that carry a loss, with the id they should predict: (t, labels[t + 1]).
    public var lossTargets: [(token: Int, target: Int)] {
        guard let labels else { return [] }
        var targets: [(Int, Int)] = []
        for b in 0..<batchSize {
            for s in 0..<(sequenceLength - 1) {
                let label = labels[b * sequenceLength + s + 1]
                if label != DecoderBatch.ignoreIndex { targets.append((b * sequenceLength + s, Int(label))) }
            }
        }
        return targets
    }
}

/// Buffers for a decoder forward (and backward), allocated for the largest batch seen and reused.
/// Inference keeps two hidden states and one block's buffers; training keeps every block's.
public final class DecoderActivations: @unchecked Sendable {
    public let keepsEveryLayer: Bool
    private(set) public var batch = 0
    private(set) public var sequence = 0
    private var rowCapacity = 0
    private var sequenceCapacity = 0
    private var hidden: [Tensor] = []
    private var layers: [DecoderLayerBuffers] = []
    private var finals: [Tensor] = []
    private(set) var layerGradients: DecoderLayerGradients!

    public init(keepsEveryLayer: Bool) {
        self.keepsEveryLayer = keepsEveryLayer
    }

    /// Makes room for [batch, sequence]; reallocates only when a dimension outgrows the capacity.
    public func prepare(model: DecoderModel, batch: Int, sequence: Int) throws {
        guard batch > 0, sequence > 0 else { throw ModelError("empty batch [\(batch), \(sequence)]") }
        self.batch = batch
        self.sequence = sequence
        if batch <= rowCapacity, sequence <= sequenceCapacity { return }
        rowCapacity = max(batch, rowCapacity)
        sequenceCapacity = max(sequence, sequenceCapacity)
        layers = []
        layerGradients = nil
        let tokens = rowCapacity * sequenceCapacity, h = model.config.hiddenSize
        hidden = (0..<(keepsEveryLayer ? model.layers.count + 1 : 2)).map { _ in Tensor(zeros: [tokens, h]) }
        layers = (0..<(keepsEveryLayer ? model.layers.count : 1)).map { _ in
            DecoderLayerBuffers(config: model.shape, batch: rowCapacity, sequence: sequenceCapacity)
        }
        finals = [Tensor(zeros: [tokens, h]), Tensor(zeros: [tokens])]
        if keepsEveryLayer {
            finals += [Tensor(zeros: [tokens, h]), Tensor(zeros: [tokens, h]), Tensor(zeros: [tokens, h])]
            layerGradients = DecoderLayerGradients(config: model.shape, batch: rowCapacity, sequence: sequenceCapacity)
        }
    }

    /// The input of block `index` (index = layer count: the last block's output, before the final norm).
    public func hiddenState(_ index: Int) -> UnsafeMutablePointer<Float> {
        keepsEveryLayer ? hidden[index].data : hidden[index % 2].data
    }

    func layerBuffers(_ index: Int) -> DecoderLayerBuffers { keepsEveryLayer ? layers[index] : layers[0] }
    /// The final-norm output [tokens, hidden] and its rstd per token.
    public var final: UnsafeMutablePointer<Float> { finals[0].data }
    var finalRstd: UnsafeMutablePointer<Float> { finals[1].data }
    /// ∂loss/∂final [tokens, hidden], written by the loss before `backward` (training buffers only).
    public var finalGradient: UnsafeMutablePointer<Float> { finals[2].data }
    var gradientBuffers: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) { (finals[3].data, finals[4].data) }

    /// Bytes held by all buffers.
    public var byteCount: Int {
        hidden.reduce(0) { $0 + $1.byteCount } + layers.reduce(0) { $0 + $1.byteCount } + finals.reduce(0) { $0 + $1.byteCount }
            + (layerGradients?.byteCount ?? 0)
    }
}
