import FinchCheckpoint
import FinchTensor

/// One training pass of a sequence classifier: forward keeping every activation, then backward from
/// ∂loss/∂logits through the head, every block and the embeddings, accumulating the gradients of the
/// parameters that are not frozen. Buffers grow to the largest batch seen and are reused.
public final class ClassifierStep: @unchecked Sendable {
    public let activations: EncoderActivations
    private let config: EncoderConfig
    private var tokenCapacity = 0
    private var rowCapacity = 0
    private var sequenceCapacity = 0
    private var hiddenGradients: [Tensor] = []
    private var layerScratch: LayerGradientBuffers?
    private var embeddingScratch = Tensor(zeros: [0])
    /// h[CLS] [batch, hidden], the head's hidden features [batch, hidden], logits [batch, labels].
    public private(set) var cls = Tensor(zeros: [0])
    public private(set) var features = Tensor(zeros: [0])
    public private(set) var logits = Tensor(zeros: [0])
    /// The head's inputs after dropout (what its layers saw), and their masks.
    private var denseInput = Tensor(zeros: [0]), denseInputMask: DropoutMask?
    private var outputInput = Tensor(zeros: [0]), outputInputMask: DropoutMask?

    /// When set, backward keeps ∂loss/∂hidden_states[i] for every layer boundary i (0 = the embeddings'
    /// output), as `hiddenStateGradients`, for checks against autograd.
    public var recordsHiddenStateGradients = false
    public private(set) var hiddenStateGradients: [Tensor] = []

    /// Training-time dropout (embeddings, blocks, head); nil trains without it.
    public var dropout: Dropout? {
        get { activations.dropout }
        set { activations.dropout = newValue }
    }

    public init(config: EncoderConfig) {
        self.config = config
        activations = EncoderActivations(config: config, keepsEveryLayer: true)
    }

    /// Forward for training; returns logits [batch, labels].
    @discardableResult
    public func forward(_ encoder: Encoder, _ batch: EncoderBatch) throws -> Tensor {
        guard let head = encoder.head else { throw ModelError("the model has no classification head; load it with task=classify") }
        try encoder.forward(batch, activations: activations)
        cls = encoder.pooled(.cls, batch: batch, activations: activations)
        let rows = batch.batchSize
        guard let dense = head.dense ?? encoder.pooler else { throw ModelError("a BERT classification head needs a pooler") }
        // Dropout sites as transformers places them: RoBERTa drops h[CLS] before its dense layer;
        // every family drops the features before the output layer.
        denseInput = cls.copy()
        denseInputMask = nil
        if let dropout, dropout.classifier > 0, encoder.config.family.offsetsPositionsByPadding {
            denseInputMask = dropout.apply(denseInput.data, count: denseInput.count, rate: dropout.classifier)
        }
        features = Tensor(zeros: [rows, dense.outFeatures])
        dense.forward(denseInput.data, rows: rows, into: features.data)
        if head.denseActivation == .tanh {
            Kernels.tanhInPlace(features.data, count: features.count)
        } else {
            Activations.apply(.relu, features.data, count: features.count)
        }
        outputInput = features.copy()
        outputInputMask = nil
        if let dropout, dropout.classifier > 0 {
            outputInputMask = dropout.apply(outputInput.data, count: outputInput.count, rate: dropout.classifier)
        }
        logits = Tensor(zeros: [rows, head.labelCount])
        head.output.forward(outputInput.data, rows: rows, into: logits.data)
        return logits
    }

    /// Backward from ∂loss/∂logits [batch, labels] after `forward` on the same batch.
    public func backward(_ encoder: Encoder, _ batch: EncoderBatch, logitsGradient: Tensor) {
        let head = encoder.head!, dense = head.dense ?? encoder.pooler!
        let rows = batch.batchSize, seq = batch.sequenceLength, h = config.hiddenSize, tokens = rows * seq
        prepare(tokens: tokens, rows: rows, sequence: seq)
        // Head: features = act(dense(cls)); logits = output(features).
        let dFeatures = Tensor(zeros: features.shape)
        head.output.backward(outputInput.data, outputGradient: logitsGradient.data, rows: rows, inputGradient: dFeatures.data)
        outputInputMask?.apply(dFeatures.data, count: dFeatures.count)
        for i in 0..<features.count {
            let f = features[i]
            dFeatures[i] *= head.denseActivation == .tanh ? 1 - f * f : (f > 0 ? 1 : 0)
        }
        let dCls = Tensor(zeros: cls.shape)
        dense.backward(denseInput.data, outputGradient: dFeatures.data, rows: rows, inputGradient: dCls.data)
        denseInputMask?.apply(dCls.data, count: dCls.count)
        // Only the first token of each row feeds the head.
        var dHidden = hiddenGradients[0].data, dNext = hiddenGradients[1].data
        dHidden.update(repeating: 0, count: tokens * h)
        for b in 0..<rows { (dHidden + b * seq * h).update(from: dCls.data + b * h, count: h) }
        hiddenStateGradients = []
        func record(_ gradient: UnsafeMutablePointer<Float>) {
            guard recordsHiddenStateGradients else { return }
            let copy = Tensor(zeros: [rows, seq, h])
            copy.data.update(from: gradient, count: tokens * h)
            hiddenStateGradients.insert(copy, at: 0)
        }
        record(dHidden)
        for index in stride(from: encoder.layers.count - 1, through: 0, by: -1) {
            encoder.layers[index].backward(activations.hiddenState(index), outputGradient: dHidden, mask: batch.mask,
                                           saved: activations.layerBuffers(index), scratch: layerScratch!, dropout: dropout,
                                           inputGradient: dNext)
            swap(&dHidden, &dNext)
            record(dHidden)
        }
        activations.embeddingDropoutMask?.apply(dHidden, count: tokens * h)
        encoder.embeddings.backward(ids: batch.ids, typeIds: batch.typeIds, batch: rows, sequence: seq,
                                    sum: activations.embeddingSum, mean: activations.embeddingMean,
                                    rstd: activations.embeddingRstd, outputGradient: dHidden,
                                    scratch: embeddingScratch.data)
    }

    private func prepare(tokens: Int, rows: Int, sequence: Int) {
        guard tokens > tokenCapacity || rows > rowCapacity || sequence > sequenceCapacity else { return }
        tokenCapacity = max(tokens, tokenCapacity)
        rowCapacity = max(rows, rowCapacity)
        sequenceCapacity = max(sequence, sequenceCapacity)
        let h = config.hiddenSize
        hiddenGradients = [Tensor(zeros: [tokenCapacity, h]), Tensor(zeros: [tokenCapacity, h])]
        embeddingScratch = Tensor(zeros: [tokenCapacity, h])
        layerScratch = LayerGradientBuffers(tokens: tokenCapacity, hidden: h, inner: config.intermediateSize,
                                            sequence: sequenceCapacity)
    }
}
