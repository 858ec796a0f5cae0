import Foundation
import FinchCheckpoint
import FinchTensor

/// Reference tensors written by `Tests/Reference/*.py` (safetensors, fp32 values, int64 ids).
public struct ReferenceTensors {
    public let file: SafetensorsFile

    public init(_ relativePath: String) throws {
        file = try SafetensorsFile(url: try TestPaths.referenceFile(relativePath))
    }

    public func tensor(_ name: String) throws -> Tensor { try file.tensor(name) }
    public func has(_ name: String) -> Bool { file.entries[name] != nil }
    public func int32s(_ name: String) throws -> [Int32] { try file.integers(name).values.map { Int32($0) } }
    public func shape(_ name: String) -> [Int] { file.entries[name]?.shape ?? [] }
}

/// The largest absolute difference between `actual` and `expected`, and where it is.
public func maxAbsoluteDifference(_ actual: UnsafePointer<Float>, _ expected: Tensor, count: Int? = nil)
    -> (value: Float, index: Int)
{
    var worst: Float = 0, at = 0
    for i in 0..<(count ?? expected.count) {
        let d = abs(actual[i] - expected[i])
        if !(d <= worst) { worst = d.isNaN ? .infinity : d; at = i }
    }
    return (worst, at)
}

/// Reads a JSON file of the reference outputs.
public func referenceJSON(_ relativePath: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(contentsOf: try TestPaths.referenceFile(relativePath)))
}
