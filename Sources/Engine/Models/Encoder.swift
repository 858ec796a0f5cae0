import FinchCheckpoint
import FinchTensor

/// A BERT-family encoder (BERT, RoBERTa, XLM-R, DistilBERT) with its optional pooler and
/// sequence-classification head, running forward on padded batches of token ids.
public final class Encoder: @unchecked Sendable {
    public let config: EncoderConfig
    public let embeddings: Embeddings
    public let layers: [EncoderLayer]
    /// BERT's pooler: tanh(W · h[CLS] + b). Nil for models without one.
    public var pooler: Linear?
    /// The sequence-classification head, when the model is a classifier.
    public var head: ClassificationHead?
    /// Module names that the checkpoint lacked and the loader initialised (e.g. "bert.pooler.dense",
    /// "classifier"): they must be trained and saved with any adapter to reproduce the model elsewhere.
    public var freshModules: [String] = []

    public init(config: EncoderConfig, embeddings: Embeddings, layers: [EncoderLayer], pooler: Linear?,
                head: ClassificationHead?) {
        self.config = config
        self.embeddings = embeddings
        self.layers = layers
        self.pooler = pooler
        self.head = head
    }

    /// Runs the encoder. The last hidden state [batch·seq, hidden] is `activations.hiddenStates.last`;
    /// with `activations.keepsEveryLayer` every layer's output stays available (hidden_states in
    /// transformers' terms: index 0 is the embeddings' output).
    public func forward(_ batch: EncoderBatch, activations: EncoderActivations) throws {
        try activations.prepare(batch: batch.batchSize, sequence: batch.sequenceLength)
        let mask = batch.mask
        try embeddings.forward(ids: batch.ids, typeIds: batch.typeIds, batch: batch.batchSize,
                               sequence: batch.sequenceLength, sum: activations.embeddingSum,
                               into: activations.hiddenState(0), mean: activations.embeddingMean,
                               rstd: activations.embeddingRstd)
        let dropout = activations.dropout
        activations.embeddingDropoutMask = nil
        if let dropout, dropout.hidden > 0 {
            activations.embeddingDropoutMask = dropout.apply(activations.hiddenState(0),
                                                             count: batch.batchSize * batch.sequenceLength * config.hiddenSize,
                                                             rate: dropout.hidden)
        }
        for (index, layer) in layers.enumerated() {
            layer.forward(activations.hiddenState(index), mask: mask, saved: activations.layerBuffers(index), dropout: dropout,
                          into: activations.hiddenState(index + 1))
        }
    }

    /// The last hidden state after `forward`.
    public func lastHiddenState(_ activations: EncoderActivations) -> UnsafeMutablePointer<Float> {
        activations.hiddenState(layers.count)
    }
}

/// A padded batch of token ids for the encoder, row-major [batch, seq].
public struct EncoderBatch: Sendable {
    public let batchSize: Int
    public let sequenceLength: Int
    public let ids: [Int32]
    public let typeIds: [Int32]?
    public let mask: AttentionMask

    public init(batchSize: Int, sequenceLength: Int, ids: [Int32], attentionMask: [Int32], typeIds: [Int32]? = nil) {
        precondition(ids.count == batchSize * sequenceLength, "ids do not fill [\(batchSize), \(sequenceLength)]")
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.ids = ids
        self.typeIds = typeIds
        self.mask = AttentionMask(batch: batchSize, sequence: sequenceLength, values: attentionMask)
    }
}

/// Buffers for one forward (and later backward) pass, allocated for the largest batch seen and reused.
/// Inference keeps only two hidden states and one layer's buffers; training keeps every layer's.
public final class EncoderActivations: @unchecked Sendable {
    public let keepsEveryLayer: Bool
    /// Training-time dropout; nil evaluates deterministically. Only buffers that keep every layer
    /// (training) can hold its masks.
    public var dropout: Dropout? {
        didSet { precondition(dropout == nil || keepsEveryLayer, "dropout needs activations that keep every layer") }
    }
    private var masksAllocated = false
    private let config: EncoderConfig
    private(set) public var batch = 0
    private(set) public var sequence = 0
    private var tokenCapacity = 0
    private var rowCapacity = 0
    private var sequenceCapacity = 0
    private var hidden: [Tensor] = []
    private var layers: [LayerBuffers] = []
    private var embedding: [Tensor] = []

    public init(config: EncoderConfig, keepsEveryLayer: Bool) {
        self.config = config
        self.keepsEveryLayer = keepsEveryLayer
    }

    /// Makes room for [batch, sequence]; reallocates only when a dimension outgrows the capacity.
    public func prepare(batch: Int, sequence: Int) throws {
        guard batch > 0, sequence > 0 else { throw ModelError("empty batch [\(batch), \(sequence)]") }
        self.batch = batch
        self.sequence = sequence
        let tokens = batch * sequence
        let wantsMasks = dropout != nil
        if tokens <= tokenCapacity, batch <= rowCapacity, sequence <= sequenceCapacity, masksAllocated || !wantsMasks { return }
        masksAllocated = wantsMasks
        tokenCapacity = max(tokens, tokenCapacity)
        rowCapacity = max(batch, rowCapacity)
        sequenceCapacity = max(sequence, sequenceCapacity)
        let h = config.hiddenSize
        hidden = (0..<(keepsEveryLayer ? config.layerCount + 1 : 2)).map { _ in Tensor(zeros: [tokenCapacity, h]) }
        layers = (0..<(keepsEveryLayer ? config.layerCount : 1)).map { _ in
            LayerBuffers(tokens: tokenCapacity, hidden: h, inner: config.intermediateSize, batch: rowCapacity,
                         heads: config.headCount, sequence: sequenceCapacity, withDropoutMasks: wantsMasks)
        }
        embedding = [Tensor(zeros: [tokenCapacity, h]), Tensor(zeros: [tokenCapacity]), Tensor(zeros: [tokenCapacity])]
    }

    /// hidden_states[index] [batch·seq, hidden]: 0 is the embeddings' output, index l + 1 layer l's.
    public func hiddenState(_ index: Int) -> UnsafeMutablePointer<Float> {
        keepsEveryLayer ? hidden[index].data : hidden[index % 2].data
    }

    func layerBuffers(_ index: Int) -> LayerBuffers { keepsEveryLayer ? layers[index] : layers[0] }
    var embeddingSum: UnsafeMutablePointer<Float> { embedding[0].data }
    var embeddingMean: UnsafeMutablePointer<Float> { embedding[1].data }
    var embeddingRstd: UnsafeMutablePointer<Float> { embedding[2].data }
    /// The embeddings' dropout mask of the last training forward.
    var embeddingDropoutMask: DropoutMask?

    /// Bytes held by all buffers.
    public var byteCount: Int {
        hidden.reduce(0) { $0 + $1.byteCount } + layers.reduce(0) { $0 + $1.byteCount } + embedding.reduce(0) { $0 + $1.byteCount }
    }
}
