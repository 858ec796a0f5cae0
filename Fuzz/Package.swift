// swift-tools-version:6.0
// libFuzzer targets for every parser of outside input. Built and run by `bash scripts/fuzz` (see Fuzz/README.md);
// the root package's own build is untouched.
import Foundation
import PackageDescription

/// SwiftPM names a path dependency after its folder, so the root package's identity is that folder's name.
let rootIdentity = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let parsers = Target.Dependency.product(name: "FinchParsers", package: rootIdentity)

/// One libFuzzer executable per parser; `name` is the folder under Sources and the target's name.
func fuzzer(_ name: String) -> Target {
    .executableTarget(name: name, dependencies: [parsers, "FuzzSupport"], path: "Sources/\(name)")
}

let package = Package(
    name: "FinchFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "..")],
    targets: [
        .systemLibrary(name: "CLibFuzzer", path: "Sources/CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: [parsers, "CLibFuzzer"], path: "Sources/FuzzSupport"),
        fuzzer("FuzzLanguage"),
        fuzzer("FuzzWire"),
        fuzzer("FuzzSafetensors"),
        fuzzer("FuzzGGUF"),
        fuzzer("FuzzConfig"),
        fuzzer("FuzzTokenizer"),
        fuzzer("FuzzTable"),
    ]
)
