import Foundation

/// The element type of a GGUF tensor: ggml's type ids (enum ggml_type), each a block of `blockSize` elements stored
/// in `bytesPerBlock` bytes. Every known id is listed so that any file can be opened and its tensors sized;
/// `isDequantizable` says which ones `GGUFFile.tensor(named:)` can turn into fp32.
public enum GGUFTensorType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22, iq4_XS = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// The name ggml and gguf-py print: "F32", "Q4_K", "IQ2_XXS".
    public var name: String { String(describing: self).uppercased() }

    /// Elements per block (1 for the plain types; 256 for the K and most IQ types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: 32
        case .nvfp4: 64
        case .q1_0: 128
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_XXS, .iq2_XS, .iq3_XXS, .iq1_S, .iq3_S, .iq2_S,
             .iq4_XS, .iq1_M, .tq1_0, .tq2_0: 256
        }
    }

    /// Bytes per block (ggml's type_size; gguf-py's GGML_QUANT_SIZES).
    public var bytesPerBlock: Int {
        switch self {
        case .i8: 1
        case .f16, .bf16, .i16: 2
        case .f32, .i32: 4
        case .f64, .i64: 8
        case .q4_0, .iq4_NL: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q8_0: 34
        case .q8_1: 40
        case .mxfp4: 17
        case .nvfp4: 36
        case .q1_0: 18
        case .q2_K: 84
        case .q3_K: 110
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        case .q8_K: 292
        case .iq2_XXS: 66
        case .iq2_XS: 74
        case .iq3_XXS: 98
        case .iq1_S: 50
        case .iq3_S: 110
        case .iq2_S: 82
        case .iq4_XS: 136
        case .iq1_M: 56
        case .tq1_0: 54
        case .tq2_0: 66
        }
    }

    /// Whether Finch can dequantize this type to fp32.
    public var isDequantizable: Bool { GGUFDequantize.kernel(for: self) != nil }

    /// The types Finch can dequantize, by name, for messages.
    static var dequantizableNames: String {
        allCases.filter(\.isDequantizable).map(\.name).joined(separator: ", ")
    }
}

/// One tensor's entry in a GGUF file's tensor table.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGUFTensorType
    /// ggml's ne[]: the innermost (contiguous) dimension first.
    public let dimensions: [Int]
    /// Byte offset of the data from the start of the data section (a multiple of the file's alignment).
    public let offset: Int
    /// Product of the dimensions.
    public let elementCount: Int
    /// Bytes of the data: whole blocks, elementCount / blockSize × bytesPerBlock.
    public let byteCount: Int

    /// PyTorch's shape order, outermost first: `dimensions` reversed (ne = [576, 49152] → [49152, 576]).
    public var shape: [Int] { dimensions.reversed() }
}
