import ArgumentParser
import Foundation
import FinchCheckpoint
import FinchModels
import FinchTensor

/// `finch bench`: Finch against PyTorch on identical shapes, interleaved in one run.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Finch against PyTorch (encoder inference), interleaved in one run.",
        discussion: """
        Runs Finch and the PyTorch reference (Tests/Reference/bench_server.py, started with --python)
        in alternating rounds on the same model, batch and sequence length, and prints samples/s, the
        ratio, model GFLOP/s, the share of the sgemm peak measured in the same run, and peak resident
        memory. Run it from the repository root in a release build.
        """)

    @Option(help: "Model folder (default: $FINCH_MODELS/all-MiniLM-L6-v2).") var model: String?
    @Option(help: "Sequences per forward pass.") var batch = 32
    @Option(help: "Tokens per sequence (no padding).") var seq = 128
    @Option(help: "Threads for Finch's BLAS and for torch.") var threads = 1
    @Option(help: "Interleaved rounds (the median round is reported).") var rounds = 5
    @Option(help: "Forward passes per round.") var passes = 2
    @Option(help: "Python with torch and transformers (default: .venv/bin/python if present, else python3).") var python: String?
    @Flag(help: "Skip the PyTorch side.") var finchOnly = false
    @Flag(help: "Print one JSON object instead of the table.") var json = false

    func run() throws {
        let folder = URL(fileURLWithPath: model ?? defaultModelFolder("all-MiniLM-L6-v2"))
        Threads.setCount(threads)
        let peak = measureSgemmPeak()
        let encoder = try EncoderLoader.load(folder: folder, task: .embed)
        let input = benchmarkBatch(batch: batch, seq: seq)
        let activations = EncoderActivations(config: encoder.config, keepsEveryLayer: false)
        try encoder.forward(input, activations: activations) // warm-up, allocates buffers

        var reference: ReferenceProcess?
        var torchVersion = ""
        if !finchOnly {
            let process = try ReferenceProcess(
                python: python ?? defaultPython(), script: "Tests/Reference/bench_server.py",
                arguments: ["--model", folder.path, "--batch", "\(batch)", "--seq", "\(seq)", "--threads", "\(threads)"])
            torchVersion = try process.receive()["torch"] as? String ?? "?"
            reference = process
        }
        var finchRounds: [Double] = [], torchRounds: [Double] = []
        var torchRSS = 0
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<passes { try encoder.forward(input, activations: activations) }
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

        let flops = encoderFlops(encoder.config, batch: batch, seq: seq)
        let finch = Measurement(name: "Finch", secondsPerPass: median(finchRounds), flops: flops, peakRSSKiB: peakResidentKiB())
        let torch = torchRounds.isEmpty ? nil
            : Measurement(name: "PyTorch \(torchVersion)", secondsPerPass: median(torchRounds), flops: flops, peakRSSKiB: torchRSS)
        let title = "encoder inference — \(folder.lastPathComponent), batch \(batch), seq \(seq), \(threads) thread(s), \(rounds) interleaved rounds of \(passes) passes"
        if json {
            print(benchJSON(title: title, peak: peak, finch: finch, torch: torch, batch: batch))
        } else {
            print(benchTable(title: title, peak: peak, finch: finch, torch: torch, batch: batch))
        }
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

func benchTable(title: String, peak: Double, finch: Measurement, torch: Measurement?, batch: Int) -> String {
    var lines = [title, String(format: "sgemm peak measured in this run: %.1f GFLOP/s (OpenBLAS core %@)", peak, Threads.coreName)]
    lines.append("side                 samples/s   GFLOP/s   % of sgemm peak   peak RSS")
    for m in [finch] + (torch.map { [$0] } ?? []) {
        let name = m.name.padding(toLength: 20, withPad: " ", startingAt: 0)
        lines.append(name + String(format: " %9.1f %9.1f %12.0f %%   %7.0f MiB",
                                   Double(batch) / m.secondsPerPass, m.gflops, 100 * m.gflops / peak, Double(m.peakRSSKiB) / 1024))
    }
    if let torch {
        lines.append(String(format: "Finch / PyTorch: %.2f× samples/s, %.2f× peak memory",
                            torch.secondsPerPass / finch.secondsPerPass, Double(finch.peakRSSKiB) / Double(max(torch.peakRSSKiB, 1))))
    }
    return lines.joined(separator: "\n")
}

func benchJSON(title: String, peak: Double, finch: Measurement, torch: Measurement?, batch: Int) -> String {
    func side(_ m: Measurement) -> [String: Any] {
        ["samples_per_second": Double(batch) / m.secondsPerPass, "gflops": m.gflops, "peak_rss_mib": Double(m.peakRSSKiB) / 1024]
    }
    var object: [String: Any] = ["title": title, "sgemm_peak_gflops": peak, "finch": side(finch)]
    if let torch {
        object["pytorch"] = side(torch)
        object["ratio"] = torch.secondsPerPass / finch.secondsPerPass
    }
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self)
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

/// Multiply-adds ×2 of one encoder forward: the linear layers plus the two attention products.
func encoderFlops(_ c: EncoderConfig, batch: Int, seq: Int) -> Double {
    let tokens = Double(batch * seq), h = Double(c.hiddenSize), f = Double(c.intermediateSize)
    let linear = 2 * tokens * (4 * h * h + 2 * h * f)
    let attention = 4 * Double(batch) * Double(seq) * Double(seq) * h
    return Double(c.layerCount) * (linear + attention)
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
