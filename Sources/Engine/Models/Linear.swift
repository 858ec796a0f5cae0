import Foundation
import FinchQuantization
import FinchTensor

/// A linear layer in torch.nn.Linear layout: y[rows, out] = x[rows, in] · W[out, in]ᵀ + b[out].
/// `name` is the module path in the checkpoint (e.g. "encoder.layer.0.attention.self.query"), the name
/// that adapters target.
///
/// A frozen weight may be held in bitsandbytes' 4-bit format instead (`quantize`, QLoRA): `weight` is then
/// empty and forward and backward dequantize a tile of rows at a time (`FourBitTensor`). Assigning a
/// non-empty fp32 `weight` replaces the 4-bit one.
public final class Linear: @unchecked Sendable {
    public let name: String
    /// The fp32 weight [out, in]; empty (no elements) while the weight is held in `quantized`.
    public var weight: Tensor {
        didSet {
            if weight.count > 0 { quantized = nil }
            bf16Weight = nil
        }
    }
    public var bias: Tensor?
    /// The frozen weight in 4 bits, when quantized.
    public private(set) var quantized: FourBitTensor?
    /// Gradient of the weight, accumulated by `backward`; nil while the weight is frozen.
    public var weightGradient: Tensor? {
        didSet { if weightGradient != nil { bf16Weight = nil } }
    }
    /// Gradient of the bias, accumulated by `backward`; nil while the bias is frozen.
    public var biasGradient: Tensor?
    /// A low-rank (or other) adapter whose output is added to this layer's (LoRA, DoRA, …).
    public var adapter: LinearAdapter?
    /// How products with the weight are computed while it is frozen, fp32 or 4-bit (trained weights always
    /// compute in fp32). Check `FrozenPrecision.checkAvailable()` before choosing bf16.
    public var precision: FrozenPrecision = .fp32 {
        didSet { if precision == .fp32 { bf16Weight = nil } }
    }
    /// The frozen fp32 weight rounded to bf16 and packed, while `precision` is bf16.
    private var bf16Weight: BF16Weight?
    private let packLock = NSLock()
    public var inFeatures: Int { quantized?.inFeatures ?? weight.shape[1] }
    public var outFeatures: Int { quantized?.outFeatures ?? weight.shape[0] }

    public init(name: String, weight: Tensor, bias: Tensor?) {
        precondition(weight.shape.count == 2, "\(name).weight must be 2-D, got \(weight.shape)")
        precondition(bias == nil || bias!.count == weight.shape[0], "\(name).bias does not match the weight")
        self.name = name
        self.weight = weight
        self.bias = bias
    }

    /// A layer whose frozen weight [out, in] is already held in 4 bits (read from a bitsandbytes checkpoint).
    public init(name: String, quantized: FourBitTensor, bias: Tensor?) {
        precondition(quantized.shape.count == 2, "\(name).weight must be 2-D, got \(quantized.shape)")
        precondition(bias == nil || bias!.count == quantized.shape[0], "\(name).bias does not match the weight")
        self.name = name
        self.weight = Tensor(zeros: [0])
        self.quantized = quantized
        self.bias = bias
    }

    /// Forward: y[rows, out] = x[rows, in] · Wᵀ + b.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        if let quantized {
            quantized.linear(x, rows: rows, bias: bias?.data, into: y, precision: precision)
        } else if let packed = bf16Products {
            packed.product(x, rows: rows, into: y, accumulate: false, bias: bias?.data)
        } else {
            BLAS.linear(x, rows: rows, inFeatures: inFeatures, weight: weight.data, bias: bias?.data,
                        outFeatures: outFeatures, into: y)
        }
        adapter?.forward(x, rows: rows, base: self, into: y)
    }

    /// Backward of `forward`, given x[rows, in] and dy[rows, out]:
    ///   dx[rows, in]  = dy · W            (written, or added when `accumulateInput`)
    ///   dW[out, in]  += dyᵀ · x           (only with a `weightGradient`: frozen weights skip the product)
    ///   db[out]      += Σ_rows dy         (only with a `biasGradient`)
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, rows: Int,
                         inputGradient dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool = false) {
        if let dx { inputGradientProduct(dy, rows: rows, into: dx, accumulate: accumulateInput) }
        if let weightGradient {
            BLAS.gemm(transposeA: true, m: outFeatures, n: inFeatures, k: rows, a: dy, lda: outFeatures,
                      b: x, ldb: inFeatures, beta: 1, c: weightGradient.data, ldc: inFeatures)
        }
        if let biasGradient {
            for r in 0..<rows { Kernels.add(dy + r * outFeatures, into: biasGradient.data, count: outFeatures) }
        }
        adapter?.backward(x, outputGradient: dy, rows: rows, base: self, inputGradient: dx)
    }

    /// y[rows, out] = x[rows, in] · Wᵀ (+ y when `accumulate`): the weight's product alone (no bias, no
    /// adapter), whichever way the weight is held.
    public func weightProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        if let quantized {
            quantized.multiply(x, rows: rows, into: y, accumulate: accumulate, precision: precision)
        } else if let packed = bf16Products {
            packed.product(x, rows: rows, into: y, accumulate: accumulate)
        } else {
            BLAS.gemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
                      b: weight.data, ldb: inFeatures, beta: accumulate ? 1 : 0, c: y, ldc: outFeatures)
        }
    }

    /// dx[rows, in] = dy[rows, out] · W (+ dx when `accumulate`), whichever way the weight is held.
    public func inputGradientProduct(_ dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        if let quantized {
            quantized.multiplyTransposed(dy, rows: rows, into: dx, accumulate: accumulate, precision: precision)
        } else if let packed = bf16Products {
            packed.transposedProduct(dy, rows: rows, into: dx, accumulate: accumulate)
        } else {
            BLAS.gemm(m: rows, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures,
                      b: weight.data, ldb: inFeatures, beta: accumulate ? 1 : 0, c: dx, ldc: inFeatures)
        }
    }

    /// The naive reference of `forward`: a scalar triple loop in Double (on the dequantized weight when 4-bit).
    public func referenceForward(_ x: [Float], rows: Int) -> [Float] {
        let w = weightCopy()
        var y = [Float](repeating: 0, count: rows * outFeatures)
        for r in 0..<rows {
            for o in 0..<outFeatures {
                var sum = Double(bias?[o] ?? 0)
                for i in 0..<inFeatures { sum += Double(x[r * inFeatures + i]) * Double(w[o * inFeatures + i]) }
                y[r * outFeatures + o] = Float(sum)
            }
        }
        return y
    }
}

extension Linear {
    /// The packed bf16 weight when products with it run in bf16 (`precision`, a frozen fp32 weight), built
    /// on first use; nil for fp32 products.
    private var bf16Products: BF16Weight? {
        guard precision == .bf16, quantized == nil, weightGradient == nil, weight.count > 0 else { return nil }
        // Locked: threads running the same model's first bf16 product must not both pack.
        return packLock.withLock {
            if let bf16Weight { return bf16Weight }
            let packed = BF16Weight(weight.data, outFeatures: outFeatures, inFeatures: inFeatures)
            bf16Weight = packed
            return packed
        }
    }

    /// Drops what was derived from the weight's values (the bf16 packing); call after changing them in
    /// place (merging an adapter, restoring saved values).
    public func weightValuesChanged() { bf16Weight = nil }

    /// Whether the weight is held in 4 bits.
    public var isQuantized: Bool { quantized != nil }

    /// Replaces the fp32 weight by its 4-bit quantization in `format` (bitsandbytes' `quantize_4bit`)
    /// and lets the fp32 tensor go. A weight that trains in full cannot be quantized.
    public func quantize(_ format: FourBitFormat) throws {
        guard quantized == nil else { return }
        guard weightGradient == nil else {
            throw ModelError("\(name): its weight trains in full, so it cannot be held in 4 bits")
        }
        let result = try FourBitTensor(quantizing: weight.data, shape: weight.shape, format: format)
        quantized = result
        let replaced = weight
        weight = Tensor(zeros: [0])
        replaced.releaseMappedPages()  // the fp32 pages of a mapped checkpoint leave the resident set
    }

    /// Puts an fp32 weight back: the dequantized 4-bit values (what the layer has been computing with).
    public func dequantize() {
        guard let quantized else { return }
        weight = quantized.dequantized()
    }

    /// W [out, in] into `out`, dequantized when held in 4 bits.
    public func copyWeight(into out: UnsafeMutablePointer<Float>) {
        if let quantized {
            quantized.dequantize(0..<quantized.count, into: out)
        } else {
            out.update(from: weight.data, count: weight.count)
        }
    }

    /// A new fp32 copy of W [out, in], dequantized when held in 4 bits.
    public func weightCopy() -> Tensor {
        let copy = Tensor(zeros: [outFeatures, inFeatures])
        copyWeight(into: copy.data)
        return copy
    }

    /// Bytes the weight holds: 4 per value in fp32, about 0.52 per value in NF4 with double quantization.
    public var weightByteCount: Int { quantized?.byteCount ?? weight.byteCount }
}

/// Something added to a linear layer's output: the small protocol every PEFT method implements.
public protocol LinearAdapter: AnyObject {
    /// Adds the adapter's contribution to y[rows, out], which holds the base layer's output.
    func forward(_ x: UnsafePointer<Float>, rows: Int, base: Linear, into y: UnsafeMutablePointer<Float>)
    /// Accumulates the adapter's own gradients and adds its part of dx (which holds the base's dy · W).
    func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, rows: Int, base: Linear,
                  inputGradient dx: UnsafeMutablePointer<Float>?)
}
