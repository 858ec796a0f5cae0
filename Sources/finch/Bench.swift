import ArgumentParser
import Foundation
import FinchCheckpoint
import FinchModels
import FinchOptim
import FinchPEFT
import FinchTensor

extension FrozenPrecision: ExpressibleByArgument {}

/// What `finch bench` measures.
enum BenchMode: String, CaseIterable, ExpressibleByArgument {
    case inference
    case loraQV = "lora-qv"
    case loraAll = "lora-all"
    case qlora
    case full

    var defaultBatch: Int { self == .inference ? 32 : 16 }
    var title: String {
        switch self {
        case .inference: "encoder inference"
        case .loraQV: "training step, LoRA r=16 on query,value"
        case .loraAll: "training step, LoRA r=16 on all-linear"
        case .qlora: "training step, QLoRA (NF4, double quantization, block 64) + LoRA r=16 on all-linear"
        case .full: "training step, full fine-tuning"
        }
    }
}

/// `finch bench`: Finch against PyTorch on identical shapes, interleaved in one run.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Finch against PyTorch (inference and training steps), interleaved in one run.",
        discussion: """
        For each mode, runs Finch and the PyTorch reference (Tests/Reference/bench_server.py, started with
        --python) in alternating rounds on the same model, batch and sequence length, and prints samples/s,
        the ratio, model GFLOP/s, the share of the sgemm peak measured in the same run, and peak resident
        memory (each mode runs in its own Finch and Python processes, so peaks do not mix). Training
        modes are a whole step: forward, cross-entropy, backward, AdamW, with the model's dropout.
        Run it from the repository root in a release build.
        """)

    @Option(help: "Model folder (default: $FINCH_MODELS/all-MiniLM-L6-v2).") var model: String?
    @Option(parsing: .upToNextOption, help: "Modes: inference, lora-qv, lora-all, qlora, full (default: all).") var mode: [BenchMode] = BenchMode.allCases
    @Option(help: "Sequences per pass (default: 32 for inference, 16 for training).") var batch: Int?
    @Option(help: "Tokens per sequence (no padding).") var seq = 128
    @Option(help: "Threads for Finch's BLAS and for torch.") var threads = 1
    @Option(help: "Precision of Finch's products with frozen weights: fp32, or bf16 (AVX512-BF16; PyTorch stays fp32).")
    var precision: FrozenPrecision = .fp32
    @Option(help: "Interleaved rounds (the median round is reported).") var rounds = 5
    @Option(help: "Passes per round.") var passes = 2
    @Option(help: "Python with torch, transformers and peft (default: .venv/bin/python if present, else python3).") var python: String?
    @Flag(help: "Skip the PyTorch side.") var finchOnly = false
    @Flag(help: "Print one JSON object per mode instead of the table.") var json = false

    func run() throws {
        let folder = URL(fileURLWithPath: model ?? defaultModelFolder("all-MiniLM-L6-v2"))
        if mode.count > 1 {
            // One child process per mode, so each peak resident memory is that mode's own.
            var lines: [String] = []
            for m in mode {
                var arguments = ["bench", "--mode", m.rawValue, "--model", folder.path, "--seq", "\(seq)", "--threads", "\(threads)",
                                 "--rounds", "\(rounds)", "--passes", "\(passes)", "--precision", precision.rawValue, "--json"]
                if let batch { arguments += ["--batch", "\(batch)"] }
                if let python { arguments += ["--python", python] }
                if finchOnly { arguments.append("--finch-only") }
                lines.append(try runChild(arguments))
                if !json { print(try benchTable(fromJSON: lines.last!)); print() }
            }
            if json { lines.forEach { print($0) } }
            return
        }
        let result = try measure(mode[0], folder: folder)
        print(json ? result : try benchTable(fromJSON: result))
    }

    /// Measures one mode in this process; returns its JSON line.
    func measure(_ mode: BenchMode, folder: URL) throws -> String {
        Threads.setCount(threads)
        try precision.checkAvailable()
        let batchSize = batch ?? mode.defaultBatch
        let peak = measureSgemmPeak()
        let pass = try finchPass(mode, folder: folder, batch: batchSize)
        try pass.run()  // warm-up, allocates buffers
        var reference: ReferenceProcess?
        var torchVersion = ""
        if !finchOnly {
            let process = try ReferenceProcess(
                python: python ?? defaultPython(), script: "Tests/Reference/bench_server.py",
                arguments: ["--model", folder.path, "--mode", mode.rawValue, "--batch", "\(batchSize)", "--seq", "\(seq)",
                            "--threads", "\(threads)"])
            torchVersion = try process.receive()["torch"] as? String ?? "?"
            reference = process
        }
        var finchRounds: [Double] = [], torchRounds: [Double] = []
        var torchRSS = 0
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<passes { try pass.run() }
            finchRounds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(passes))
            if let reference {
                reference.send("run \(passes)")
                let reply = try reference.receive()
                let seconds = reply["seconds"] as? [Double] ?? []
                torchRounds.append(seconds.reduce(0, +) / Double(max(seconds.count, 1)))
                torchRSS = reply["max_rss_kb"] as? Int ?? 0
            }
        }
        reference?.close()
        let flops = pass.flops
        // Full fine-tuning trains every weight, and trained weights compute in fp32 whatever the precision.
        let name = precision == .fp32 || mode == .full ? "Finch" : "Finch \(precision.rawValue)"
        let finch = Measurement(name: name, secondsPerPass: median(finchRounds), flops: flops, peakRSSKiB: peakResidentKiB())
        let torch = torchRounds.isEmpty ? nil
            : Measurement(name: "PyTorch \(torchVersion)", secondsPerPass: median(torchRounds), flops: flops, peakRSSKiB: torchRSS)
        let title = "\(mode.title) — \(folder.lastPathComponent), batch \(batchSize), seq \(seq), \(threads) thread(s), \(rounds) interleaved rounds of \(passes) passes"
        return benchJSON(mode: mode, title: title, peak: peak, finch: finch, torch: torch, batch: batchSize)
    }
}

/// Finch's side of one benchmark pass, and the model FLOPs it performs.
struct FinchPass {
    let run: () throws -> Void
    let flops: Double
}

extension Bench {
    func finchPass(_ mode: BenchMode, folder: URL, batch: Int) throws -> FinchPass {
        let input = benchmarkBatch(batch: batch, seq: seq)
        if mode == .inference {
            let encoder = try EncoderLoader.load(folder: folder, task: .embed)
            try encoder.setFrozenPrecision(precision)
            let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
            return FinchPass(run: { try encoder.forward(input, activations: activations) },
                             flops: encoderFlops(encoder.config, batch: batch, seq: seq).total)
        }
        let encoder = try EncoderLoader.load(folder: folder, task: .classify(labels: 3, seed: 0))
        try encoder.setFrozenPrecision(precision)
        let parameters: [Parameter]
        var lora: LoRAModel?
        switch mode {
        case .loraQV, .loraAll, .qlora:
            if mode == .qlora { try QLoRA.quantize(encoder, targets: .allLinear, format: .qlora) }
            let model = try LoRAModel(encoder: encoder, configuration: LoRAConfiguration(
                rank: 16, alpha: 32, dropout: 0.05, targets: mode == .loraQV ? .modules(["query", "value"]) : .allLinear), seed: 0)
            model.setTraining(true)
            parameters = model.trainableParameters()
            lora = model
        default:
            parameters = encoder.prepareTraining(.full)
        }
        let optimizer = try AdamW(parameters: parameters)
        let step = ClassifierStep(config: encoder.config)
        step.dropout = Dropout(seed: 0, config: encoder.config)
        let labels = (0..<batch).map { $0 % 3 }
        let loss = CrossEntropy()
        let costs = encoderFlops(encoder.config, batch: batch, seq: seq)
        // Backward: input gradients of every linear layer and twice the attention products; weight
        // gradients only where weights train (full fine-tuning), plus the adapters' small products.
        let adapterFlops = Double(lora?.adapted.reduce(0) { $0 + $1.adapter.a.count + $1.adapter.b.count } ?? 0) * 2 * Double(batch * seq) * 3
        let flops = costs.linear * (mode == .full ? 3 : 2) + costs.attention * 3 + adapterFlops
        return FinchPass(run: {
            let logits = try step.forward(encoder, input)
            let (_, gradient) = try loss.lossAndGradient(logits: logits, labels: labels)
            step.backward(encoder, input, logitsGradient: gradient)
            optimizer.step(learningRate: 1e-5)
            for p in parameters { p.zeroGradient() }
        }, flops: flops)
    }
}

/// One side's result.
struct Measurement {
    let name: String
    let secondsPerPass: Double
    let flops: Double
    let peakRSSKiB: Int
    var gflops: Double { flops / secondsPerPass / 1e9 }
}

func benchJSON(mode: BenchMode, title: String, peak: Double, finch: Measurement, torch: Measurement?, batch: Int) -> String {
    func side(_ m: Measurement) -> [String: Any] {
        ["name": m.name, "samples_per_second": Double(batch) / m.secondsPerPass, "gflops": m.gflops,
         "peak_rss_mib": Double(m.peakRSSKiB) / 1024]
    }
    var object: [String: Any] = ["mode": mode.rawValue, "title": title, "sgemm_peak_gflops": peak, "core": Threads.coreName,
                                 "finch": side(finch)]
    if let torch {
        object["pytorch"] = side(torch)
        object["ratio"] = torch.secondsPerPass / finch.secondsPerPass
        object["memory_ratio"] = Double(finch.peakRSSKiB) / Double(max(torch.peakRSSKiB, 1))
    }
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self)
}

/// The table a person reads, from one mode's JSON line.
func benchTable(fromJSON line: String) throws -> String {
    guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
          let peak = object["sgemm_peak_gflops"] as? Double else { throw ValidationError("unreadable benchmark result: \(line)") }
    var lines = [object["title"] as? String ?? "",
                 String(format: "sgemm peak measured in this run: %.1f GFLOP/s (OpenBLAS core %@)", peak, (object["core"] as? String ?? "?") as NSString),
                 "side                 samples/s   GFLOP/s   % of sgemm peak   peak RSS"]
    for key in ["finch", "pytorch"] {
        guard let side = object[key] as? [String: Any] else { continue }
        let gflops = side["gflops"] as? Double ?? 0
        lines.append((side["name"] as? String ?? key).padding(toLength: 20, withPad: " ", startingAt: 0)
            + String(format: " %9.1f %9.1f %12.0f %%   %7.0f MiB", side["samples_per_second"] as? Double ?? 0, gflops,
                     100 * gflops / peak, side["peak_rss_mib"] as? Double ?? 0))
    }
    if let ratio = object["ratio"] as? Double, let memory = object["memory_ratio"] as? Double {
        lines.append(String(format: "Finch / PyTorch: %.2f× samples/s, %.2f× peak memory", ratio, memory))
    }
    return lines.joined(separator: "\n")
}

/// Runs this executable with `arguments` and returns its last output line.
func runChild(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path) {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    }
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0, let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last else {
        throw ValidationError("finch \(arguments.joined(separator: " ")) failed with status \(process.terminationStatus)")
    }
    return String(line)
}

/// The benchmark's token ids, identical to bench_reference.py's.
func benchmarkBatch(batch: Int, seq: Int) -> EncoderBatch {
    var ids = [Int32](repeating: 0, count: batch * seq)
    for b in 0..<batch {
        for s in 0..<seq {
            ids[b * seq + s] = s == 0 ? 101 : s == seq - 1 ? 102 : Int32(1000 + (b * 7919 + s * 104729) % 20000)
        }
    }
    return EncoderBatch(batchSize: batch, sequenceLength: seq, ids: ids,
                        attentionMask: [Int32](repeating: 1, count: batch * seq),
                        typeIds: [Int32](repeating: 0, count: batch * seq))
}

/// Multiply-adds ×2 of one encoder forward: the linear layers and the two attention products.
func encoderFlops(_ c: EncoderConfig, batch: Int, seq: Int) -> (linear: Double, attention: Double, total: Double) {
    let tokens = Double(batch * seq), h = Double(c.hiddenSize), f = Double(c.intermediateSize)
    let linear = Double(c.layerCount) * 2 * tokens * (4 * h * h + 2 * h * f)
    let attention = Double(c.layerCount) * 4 * Double(batch) * Double(seq) * Double(seq) * h
    return (linear, attention, linear + attention)
}

/// Single-run sgemm throughput on a shape like the encoder's largest product (best of 5).
func measureSgemmPeak() -> Double {
    let (m, n, k) = (4096, 1536, 384)
    let a = Tensor(zeros: [m, k]), b = Tensor(zeros: [n, k]), c = Tensor(zeros: [m, n])
    var random = SeededRandom(seed: 1)
    random.fillUniform(a, -1, 1)
    random.fillUniform(b, -1, 1)
    var best = Double.infinity
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        BLAS.gemm(transposeB: true, m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: k, c: c.data, ldc: n)
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return 2 * Double(m * n * k) / best / 1e9
}

func defaultModelFolder(_ name: String) -> String {
    let root = ProcessInfo.processInfo.environment["FINCH_MODELS"].flatMap { $0.isEmpty ? nil : $0 }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/finch/models").path
    return root + "/" + name
}

func defaultPython() -> String {
    FileManager.default.isExecutableFile(atPath: ".venv/bin/python") ? ".venv/bin/python" : "python3"
}
