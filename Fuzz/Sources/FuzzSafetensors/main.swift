@testable import FinchCheckpoint
import Foundation
import FuzzSupport

let source = URL(fileURLWithPath: "/fuzz/model.safetensors")

/// Opens the input as a safetensors file (8-byte header length, JSON header, data), then reads every tensor it
/// declares: floating-point ones as fp32, integer ones as Ints. Every accepted entry must lie inside the data.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let file = try? SafetensorsFile(contents: Data(fuzzBytes(data, size)), url: source) else { return 0 }
    for name in file.names {
        let entry = file.entries[name]!
        fuzzCheck(entry.begin >= 0 && entry.begin <= entry.end && entry.end <= size, "entry \(entry) outside a \(size)-byte file")
        if entry.dtype.isFloatingPoint {
            let tensor = try? file.tensor(name)
            fuzzCheck(tensor?.shape == entry.shape, "tensor \(name) read with the wrong shape")
        } else {
            let values = try? file.integers(name)
            fuzzCheck(values?.values.count == entry.shape.reduce(1, *), "integers of \(name) miscounted")
        }
    }
    return 0
}

/// The entry point SwiftPM links in place of `main`: libFuzzer's loop over `fuzzSafetensors`.
@_cdecl("FuzzSafetensors_main")
public func fuzzSafetensorsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzSafetensors)
}
