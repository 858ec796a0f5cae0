import CLibFuzzer
import Foundation

/// Runs libFuzzer's loop over `body` with the process's arguments. SwiftPM links an executable target with its
/// `main` renamed to `<Target>_main`, which replaces libFuzzer's own `main`; each fuzzer defines that symbol
/// and calls this.
public func runFuzzer(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
    _ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, body)
}

/// Stops the fuzzer with `message` when an invariant fails: libFuzzer saves the input as a crash.
public func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("fuzz invariant failed: \(message())") }
}

/// The fuzz input as bytes.
public func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// `bytes` cut at every `separator` byte (kept out of the pieces), so one input can hold several frames or files.
public func pieces(of bytes: some Collection<UInt8>, separator: UInt8) -> [[UInt8]] {
    bytes.split(separator: separator, omittingEmptySubsequences: false).map(Array.init)
}

/// The path of `fuzzScratchFolder`.
private let scratchPath: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : FileManager.default.temporaryDirectory.path
    return "\(base)/finch-fuzz-\(getpid())"
}()

/// A folder private to this fuzzer process under /dev/shm (else the temporary folder), for parsers that
/// read files by path; removed when the process exits normally.
public let fuzzScratchFolder: URL = {
    try? FileManager.default.createDirectory(atPath: scratchPath, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: scratchPath) }
    return URL(fileURLWithPath: scratchPath)
}()

/// Writes `bytes` to `name` in the scratch folder, replacing what was there.
public func writeScratchFile(_ name: String, _ bytes: [UInt8]) -> URL {
    let url = fuzzScratchFolder.appendingPathComponent(name)
    FileManager.default.createFile(atPath: url.path, contents: Data(bytes))
    return url
}
