import Foundation

/// The type tag of a GGUF metadata value (gguf_type in ggml's gguf.h).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The name gguf-py and llama.cpp print: "UINT8" … "FLOAT64".
    public var name: String { String(describing: self).uppercased() }

    /// Bytes a value of this type occupies at least: its size for fixed-size types, the length field of a string,
    /// the element type and count of an array. Bounds the element count an array can claim.
    var minimumSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

/// One GGUF metadata value. Arrays keep their element type, so an empty array still says what it holds;
/// nested arrays hold `.array` elements.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(elementType: GGUFValueType, [GGUFValue])

    /// The type tag this value was stored with.
    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// An integer value of any width, if it fits in `Int`.
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// A floating-point value, or an integer value as a `Double`.
    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        case .uint64(let v): Double(v)
        default: int.map(Double.init)
        }
    }

    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The elements of an array.
    public var array: [GGUFValue]? {
        if case .array(_, let elements) = self { return elements }
        return nil
    }

    /// An array of strings (a tokenizer's tokens or merges).
    public var strings: [String]? {
        guard case .array(.string, let elements) = self else { return nil }
        return elements.compactMap(\.string)
    }

    /// An array of integers, each fitting in `Int`.
    public var ints: [Int]? {
        guard let elements = array else { return nil }
        let values = elements.compactMap(\.int)
        return values.count == elements.count ? values : nil
    }

    /// An array of numbers (token scores, per-layer sizes) as `Float`.
    public var floats: [Float]? {
        guard let elements = array else { return nil }
        let values = elements.compactMap { $0.double.map(Float.init) }
        return values.count == elements.count ? values : nil
    }
}
