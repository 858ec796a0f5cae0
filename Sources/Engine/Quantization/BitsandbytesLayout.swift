import Foundation

/// How transformers + bitsandbytes 0.50.2 store a 4-bit linear weight in a safetensors checkpoint
/// (`Linear4bit._save_to_state_dict` → `QuantState.as_dict(packed=True)`), for a weight named W:
///
///     W                                   U8  [(n+1)/2, 1]   packed codes, element 2k in the high nibble
///     W.absmax                            F32 [blocks]       block absmax; U8 [blocks] codes when nested
///     W.quant_map                         F32 [16]           the 4-bit code values (NF4 or FP4 table)
///     W.nested_absmax                     F32 [⌈blocks/256⌉] nested only: absmax of the 8-bit codes
///     W.nested_quant_map                  F32 [256]          nested only: the signed dynamic map
///     W.quant_state.bitsandbytes__nf4     U8  [bytes]        UTF-8 JSON (or __fp4): quant_type, blocksize,
///                                                            dtype, shape; nested_blocksize, nested_dtype,
///                                                            nested_offset when nested
///
/// This file converts between that set of entries and `FourBitTensor`; reading the safetensors file
/// itself is the caller's (it knows the file, so its errors can name it).
public enum BitsandbytesLayout {
    /// One stored entry, as read from or written to a safetensors file.
    public enum Part: Sendable, Equatable {
        /// U8 data.
        case bytes([UInt8], shape: [Int])
        /// Floating-point data (F32, or F16/BF16/F64 converted to float32).
        case floats([Float], shape: [Int])
        /// Any other dtype (e.g. "I64"): present, but not what the layout allows.
        case other(dtype: String, shape: [Int])
    }

    /// The key prefix of the packed quant_state entry; the quant type follows it.
    public static let quantStateKey = "quant_state.bitsandbytes__"

    /// Whether a checkpoint's entry names mark `weight` as a bitsandbytes 4-bit weight.
    public static func isFourBit(weight: String, names: Set<String>) -> Bool {
        FourBitType.allCases.contains { names.contains("\(weight).\(quantStateKey)\($0.rawValue)") }
            || names.contains(weight + ".absmax") || names.contains(weight + ".quant_map")
    }

    // MARK: writing

    /// The entries of `tensor` stored as the weight named `weight` (e.g. "bert.pooler.dense.weight").
    public static func parts(of tensor: FourBitTensor, weight: String) -> [String: Part] {
        let format = tensor.format
        var parts: [String: Part] = [
            weight: .bytes(tensor.packed, shape: [tensor.packed.count, 1]),
            weight + ".quant_map": .floats(format.type.codebook, shape: [16]),
        ]
        // The JSON is written as Python's json.dumps writes the dict (same keys, order and spacing), so a
        // file from Finch matches one from bitsandbytes byte for byte.
        var json = "{\"quant_type\": \"\(format.type.rawValue)\", \"blocksize\": \(format.blockSize), \"dtype\": \"float32\", "
            + "\"shape\": [\(tensor.shape.map(String.init).joined(separator: ", "))]"
        switch tensor.scales {
        case let .plain(absmax):
            parts[weight + ".absmax"] = .floats(absmax, shape: [absmax.count])
        case let .nested(nested):
            parts[weight + ".absmax"] = .bytes(nested.codes, shape: [nested.codes.count])
            parts[weight + ".nested_absmax"] = .floats(nested.absmax, shape: [nested.absmax.count])
            parts[weight + ".nested_quant_map"] = .floats(CodeBooks.dynamic, shape: [256])
            json += ", \"nested_blocksize\": \(NestedScales.blockSize), \"nested_dtype\": \"float32\", "
                + "\"nested_offset\": \(pythonRepr(Double(nested.offset)))"
        }
        json += "}"
        parts["\(weight).\(quantStateKey)\(format.type.rawValue)"] = .bytes(Array(json.utf8), shape: [json.utf8.count])
        return parts
    }

    /// A float64 as Python's repr writes it (shortest round trip; "1e-05", "0.25", "1.0").
    static func pythonRepr(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "Infinity" : "-Infinity") }
        let text = "\(value)"
        return text.contains("e") || text.contains(".") ? text : text + ".0"
    }

    // MARK: reading

    /// The 4-bit weight named `weight` of shape [out, in], from its stored entries. `names` are the
    /// checkpoint's entry names (to find the quant_state key and spot unknown quant types); `read`
    /// returns an entry, nil when absent. Every size and statistic is checked; errors name the entry.
    public static func tensor(weight: String, shape: [Int], names: Set<String>,
                              read: (String) throws -> Part?) throws -> FourBitTensor {
        let stateKeys = names.filter { $0.hasPrefix("\(weight).\(quantStateKey)") }.sorted()
        guard let stateKey = stateKeys.first else {
            throw QuantizationError("\(weight): no \(weight).\(quantStateKey)nf4 (or __fp4) entry: the 4-bit weight's quant_state is missing")
        }
        guard stateKeys.count == 1 else {
            throw QuantizationError("\(weight): \(stateKeys.count) quant_state entries (\(stateKeys.joined(separator: ", "))); bitsandbytes stores exactly one")
        }
        let suffix = String(stateKey.dropFirst("\(weight).\(quantStateKey)".count))
        guard let keyType = FourBitType(rawValue: suffix) else {
            throw QuantizationError("\(stateKey): unknown 4-bit quant type \"\(suffix)\" (bitsandbytes has nf4 and fp4)")
        }
        let state = try QuantState(json: try bytes(stateKey, read), key: stateKey)
        guard state.quantType == keyType else {
            throw QuantizationError("\(stateKey): quant_type \"\(state.quantType.rawValue)\" in the JSON but \"\(keyType.rawValue)\" in the key")
        }
        guard state.shape == shape else {
            throw QuantizationError("\(stateKey): shape \(state.shape) but the model config implies \(shape)")
        }
        let format = FourBitFormat(type: state.quantType, blockSize: state.blockSize, doubleQuantization: state.nestedOffset != nil)
        do { try format.validate() } catch { throw QuantizationError("\(stateKey): \(error)") }

        let count = shape.reduce(1, *)
        let blocks = (count + state.blockSize - 1) / state.blockSize
        let packed = try bytes(weight, read)
        guard packed.count == (count + 1) / 2 else {
            throw QuantizationError("\(weight): \(packed.count) packed bytes, but shape \(shape) (\(count) values) needs \((count + 1) / 2)")
        }
        let map = try floats(weight + ".quant_map", read)
        guard map.count == 16 else {
            throw QuantizationError("\(weight).quant_map: \(map.count) values; a 4-bit code map has 16")
        }
        if let k = (0..<16).first(where: { map[$0] != state.quantType.codebook[$0] }) {
            throw QuantizationError("\(weight).quant_map: value \(k) is \(map[k]), not bitsandbytes' \(state.quantType.rawValue) code \(state.quantType.codebook[k])")
        }

        let scales: BlockScales
        if let offset = state.nestedOffset {
            let codes = try bytes(weight + ".absmax", read, nestedHint: true)
            guard codes.count == blocks else {
                throw QuantizationError("\(weight).absmax: \(codes.count) nested codes for \(blocks) blocks of \(state.blockSize)")
            }
            let nestedAbsmax = try floats(weight + ".nested_absmax", read, nested: true)
            let nestedBlocks = (blocks + NestedScales.blockSize - 1) / NestedScales.blockSize
            guard nestedAbsmax.count == nestedBlocks else {
                throw QuantizationError("\(weight).nested_absmax: \(nestedAbsmax.count) values for \(nestedBlocks) blocks of 256 codes")
            }
            let nestedMap = try floats(weight + ".nested_quant_map", read, nested: true)
            guard nestedMap == CodeBooks.dynamic else {
                throw QuantizationError("\(weight).nested_quant_map: \(nestedMap.count) values that are not bitsandbytes' 256-value dynamic map")
            }
            scales = .nested(NestedScales(codes: codes, absmax: nestedAbsmax, offset: offset))
        } else {
            for key in [".nested_absmax", ".nested_quant_map"] where names.contains(weight + key) {
                throw QuantizationError("\(weight)\(key) is present but \(stateKey) has no nested_offset (not double-quantized)")
            }
            let absmax = try floats(weight + ".absmax", read)
            guard absmax.count == blocks else {
                throw QuantizationError("\(weight).absmax: \(absmax.count) values for \(blocks) blocks of \(state.blockSize)")
            }
            scales = .plain(absmax)
        }
        do {
            return try FourBitTensor(packed: packed, scales: scales, shape: shape, format: format)
        } catch {
            throw QuantizationError("\(weight): \(error)")
        }
    }

    private static func bytes(_ key: String, _ read: (String) throws -> Part?, nestedHint: Bool = false) throws -> [UInt8] {
        switch try read(key) {
        case let .bytes(values, _)?: return values
        case nil: throw QuantizationError("\(key) is missing")
        case let .floats(_, shape)?:
            throw QuantizationError("\(key) is floating-point \(shape); expected U8\(nestedHint ? " (the quant_state is double-quantized, so absmax holds 8-bit codes)" : "")")
        case let .other(dtype, shape)?: throw QuantizationError("\(key) is \(dtype) \(shape); expected U8")
        }
    }

    private static func floats(_ key: String, _ read: (String) throws -> Part?, nested: Bool = false) throws -> [Float] {
        switch try read(key) {
        case let .floats(values, _)?: return values
        case nil:
            throw QuantizationError("\(key) is missing\(nested ? " (the quant_state says the statistics are double-quantized)" : "")")
        case let .bytes(_, shape)?: throw QuantizationError("\(key) is U8 \(shape); expected floating-point values")
        case let .other(dtype, shape)?: throw QuantizationError("\(key) is \(dtype) \(shape); expected floating-point values")
        }
    }
}

/// The JSON of a `quant_state.bitsandbytes__*` entry (`QuantState.as_dict`'s non-tensor items).
struct QuantState {
    let quantType: FourBitType
    let blockSize: Int
    let shape: [Int]
    /// `nested_offset`: present exactly when the absmax is double-quantized.
    let nestedOffset: Float?

    init(json: [UInt8], key: String) throws {
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
                throw QuantizationError("\(key): the quant_state is not a JSON object")
            }
            object = parsed
        } catch let error as QuantizationError {
            throw error
        } catch {
            let text = String(decoding: json.prefix(60), as: UTF8.self)
            throw QuantizationError("\(key): the quant_state is not valid JSON (starts \"\(text)\")")
        }
        func integer(_ name: String) throws -> Int {
            guard let number = object[name] as? NSNumber, let value = Int(exactly: number.doubleValue) else {
                throw QuantizationError("\(key): \"\(name)\" must be an integer (got \(object[name].map { "\($0)" } ?? "nothing"))")
            }
            return value
        }
        guard let type = object["quant_type"] as? String else {
            throw QuantizationError("\(key): \"quant_type\" is missing or not a string")
        }
        guard let parsedType = FourBitType(rawValue: type) else {
            throw QuantizationError("\(key): unknown quant_type \"\(type)\" (bitsandbytes has nf4 and fp4)")
        }
        quantType = parsedType
        blockSize = try integer("blocksize")
        guard let dimensions = object["shape"] as? [NSNumber], dimensions.allSatisfy({ Int(exactly: $0.doubleValue) != nil }) else {
            throw QuantizationError("\(key): \"shape\" must be a list of integers")
        }
        shape = dimensions.map { Int($0.doubleValue) }
        let nestedKeys = ["nested_blocksize", "nested_dtype", "nested_offset"]
        let present = nestedKeys.filter { object[$0] != nil }
        if present.isEmpty {
            nestedOffset = nil
        } else {
            guard present.count == nestedKeys.count else {
                throw QuantizationError("\(key): double quantization needs \(nestedKeys.joined(separator: ", ")); only \(present.joined(separator: ", ")) given")
            }
            let nestedBlock = try integer("nested_blocksize")
            guard nestedBlock == NestedScales.blockSize else {
                throw QuantizationError("\(key): nested_blocksize \(nestedBlock); bitsandbytes double quantization uses 256")
            }
            guard let offset = object["nested_offset"] as? NSNumber else {
                throw QuantizationError("\(key): \"nested_offset\" must be a number")
            }
            nestedOffset = Float(offset.doubleValue)
        }
    }
}
