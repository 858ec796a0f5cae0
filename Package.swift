// swift-tools-version:6.0
// Finch: LoRA / QLoRA fine-tuning on the CPU, from Jupyter or a terminal.
// Layers (dependencies point down only): see ../shared/DESIGN.md and docs/architecture.md.
import PackageDescription

/// Numeric targets are tested and benchmarked in release builds; `-Ounchecked` is applied there only.
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Finch",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "finch", targets: ["finch"]),
        .library(name: "FinchEngine", targets: ["FinchTensor", "FinchCheckpoint", "FinchModels", "FinchPEFT", "FinchOptim", "FinchTokenizers"]),
        /// Every module that parses outside input; the libFuzzer targets in Fuzz/ link it.
        .library(name: "FinchParsers", targets: ["FinchLanguage", "FinchKernel", "FinchCheckpoint", "FinchTokenizers", "FinchData"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries, each behind a tiny module map.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ"),
        .systemLibrary(name: "CEdit", path: "Sources/CEdit"),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto"),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .target(
            name: "CSentencePiece", path: "Sources/CSentencePiece",
            cxxSettings: [.unsafeFlags(["-std=c++17"])],
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("sentencepiece_train"), .linkedLibrary("stdc++")]
        ),

        /// Hand-written kernels for instruction sets Swift cannot name (AVX512-BF16), chosen at run time.
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // Engine
        .target(name: "FinchTensor", dependencies: ["CBLAS", "CKernels"], path: "Sources/Engine/Tensor", swiftSettings: numericSettings),
        .target(name: "FinchCheckpoint", dependencies: ["FinchTensor"], path: "Sources/Engine/Checkpoint", swiftSettings: numericSettings),
        .target(name: "FinchQuantization", dependencies: ["FinchTensor"], path: "Sources/Engine/Quantization", swiftSettings: numericSettings),
        .target(name: "FinchModels", dependencies: ["FinchTensor", "FinchCheckpoint", "FinchQuantization"], path: "Sources/Engine/Models", swiftSettings: numericSettings),
        .target(name: "FinchPEFT", dependencies: ["FinchTensor", "FinchCheckpoint", "FinchModels", "FinchQuantization"], path: "Sources/Engine/PEFT", swiftSettings: numericSettings),
        .target(name: "FinchOptim", dependencies: ["FinchTensor", "FinchQuantization"], path: "Sources/Engine/Optim", swiftSettings: numericSettings),

        // Data
        .target(name: "FinchTokenizers", dependencies: ["CSentencePiece"], path: "Sources/Tokenizers"),
        .target(name: "FinchData", path: "Sources/Data"),

        // Experiments
        .target(name: "FinchMetrics", path: "Sources/Metrics"),
        .target(name: "FinchPlot", path: "Sources/Plot"),
        .target(
            name: "FinchExperiment",
            dependencies: ["CMalloc", "FinchCheckpoint", "FinchData", "FinchMetrics", "FinchModels", "FinchOptim", "FinchPEFT", "FinchQuantization",
                           "FinchTensor", "FinchTokenizers"],
            path: "Sources/Experiment"),

        // Language: syntax, sessions, commands, rendering; front ends hand it source text.
        .target(
            name: "FinchLanguage",
            dependencies: ["FinchCheckpoint", "FinchData", "FinchExperiment", "FinchMetrics", "FinchModels", "FinchOptim", "FinchPEFT",
                           "FinchPlot", "FinchQuantization", "FinchTensor", "FinchTokenizers"],
            path: "Sources/Language"),

        // Front ends
        .target(name: "FinchKernel", dependencies: ["CZeroMQ", "CCrypto"], path: "Sources/Kernel"),
        .target(name: "FinchREPL", dependencies: ["CEdit", "FinchLanguage"], path: "Sources/REPL"),
        .executableTarget(
            name: "finch",
            dependencies: [
                "FinchTensor", "FinchCheckpoint", "FinchModels", "FinchTokenizers", "FinchKernel", "FinchREPL",
                "FinchData", "FinchExperiment", "FinchMetrics", "FinchOptim", "FinchPEFT", "FinchLanguage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/finch"
        ),

        // Tests
        .target(name: "TestSupport", dependencies: ["FinchTensor", "FinchCheckpoint", "FinchModels"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["FinchTensor", "TestSupport"], path: "Tests/TensorTests"),
        .testTarget(name: "CheckpointTests", dependencies: ["FinchCheckpoint", "TestSupport"], path: "Tests/CheckpointTests"),
        .testTarget(name: "TokenizerTests", dependencies: ["FinchTokenizers", "TestSupport"], path: "Tests/TokenizerTests"),
        .testTarget(name: "PEFTTests", dependencies: ["FinchPEFT", "FinchOptim", "TestSupport"], path: "Tests/PEFTTests"),
        .testTarget(name: "DataTests", dependencies: ["FinchData", "TestSupport"], path: "Tests/DataTests"),
        .testTarget(name: "ExperimentTests", dependencies: ["FinchExperiment", "FinchMetrics", "FinchPEFT", "FinchData", "FinchTokenizers", "TestSupport"], path: "Tests/ExperimentTests"),
        .testTarget(name: "MetricsTests", dependencies: ["FinchMetrics", "TestSupport"], path: "Tests/MetricsTests"),
        .testTarget(name: "PlotTests", dependencies: ["FinchPlot", "TestSupport"], path: "Tests/PlotTests", exclude: ["Golden"]),
        .testTarget(name: "OptimTests", dependencies: ["FinchOptim", "TestSupport"], path: "Tests/OptimTests"),
        .testTarget(name: "QuantizationTests", dependencies: ["FinchQuantization", "FinchModels", "FinchPEFT", "FinchOptim", "FinchTokenizers", "FinchData", "TestSupport"], path: "Tests/QuantizationTests"),
        .testTarget(name: "ModelTests", dependencies: ["FinchModels", "TestSupport"], path: "Tests/ModelTests"),
        .testTarget(name: "LanguageTests", dependencies: ["FinchLanguage", "FinchModels", "TestSupport"], path: "Tests/LanguageTests", exclude: ["Golden"]),
        .testTarget(name: "FrontEndTests", dependencies: ["FinchKernel", "FinchREPL", "FinchLanguage", "TestSupport"], path: "Tests/FrontEndTests"),
    ],
    cxxLanguageStandard: .cxx17
)
