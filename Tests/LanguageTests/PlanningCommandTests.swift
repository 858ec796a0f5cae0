import Foundation
import Testing
import FinchCheckpoint
@testable import FinchExperiment
import FinchLanguage
import TestSupport

/// `memory` and `estimate`: categories that add up, 4-bit bytes equal to bitsandbytes' own storage,
/// decoder shapes equal to the published parameter counts, and price-file errors. (The 15 % check of the
/// predicted peak against a real run's VmHWM is Tests/CLI/memory.sh: it needs a fresh process.)
@Suite(.serialized) struct PlanningCommandTests {
    /// The categories of `memory` add up to the predicted peak, the gradients are one float per value
    /// PEFT's counts call trainable, and AdamW's state is twice that.
    @Test func memoryCategoriesAddUp() throws {
        let interpreter = try sst2Session(extra: "lora r=4 alpha=8 targets=[query, value]")
        let result = run(interpreter, "memory batch=8 seq=32")
        try check(result)
        let json = try #require(result.json)
        let categories = try #require(json["categories"])
        let sum = MemoryCategory.allCases.compactMap { categories[$0.rawValue]?.number }.reduce(0, +)
        #expect(sum == json["predicted_peak_bytes"]?.number)
        let itemSum = try #require(json["items"]?.array).compactMap { $0["bytes"]?.number }.reduce(0, +)
        #expect(itemSum == sum)
        // 37,634 trainable values, as PEFT's print_trainable_parameters counts them (TrainerCommandTests).
        #expect(categories["gradients"]?.number == Double(4 * 37_634))
        #expect(categories["optimizer_state"]?.number == Double(8 * 37_634))
        #expect(categories["adapters"]?.number == 4 * Double(6 * 2 * (4 * 384 + 384 * 4)))
        // Activations of MiniLM at [8, 32]: per block 7·T·H + 2·T·I + B·n·S² + 4T floats (dropout masks are
        // keys, drawn again in backward), hidden states 7·T·H, embeddings T·H + 2T, adapters' saved x·Aᵀ, head.
        let (t, h, i, b, n, s) = (256, 384, 1536, 8, 12, 32)
        let blocks = 6 * (7 * t * h + 2 * t * i + b * n * s * s + 4 * t)
        let adapters = 12 * t * 4
        let expected = 4 * (blocks + 7 * t * h + t * h + 2 * t + b * (6 * h + 4)) + 4 * adapters
        #expect(categories["activations"]?.number == Double(expected))
        #expect(result.plain.contains("predicted peak"))
        #expect(result.plain.contains("with fp32 base weights"))
        // bitsandbytes keeps fp32 moments for tensors under 4096 values: every tensor here (A, B: 1536; head 768).
        #expect(run(interpreter, "memory optim=adamw8bit").json?["categories"]?["optimizer_state"]?.number == Double(8 * 37_634))
        // Paged AdamW maps both moments of each tensor, each rounded up to 64 bytes (the 2-value bias: 8 → 64).
        #expect(run(interpreter, "memory optim=paged_adamw").json?["paged_optimizer_bytes"]?.number == Double(8 * 37_632 + 2 * 64))
    }

    /// QLoRA all-linear on MiniLM: the 4-bit codes and statistics Finch holds are exactly the bytes of
    /// bitsandbytes' Linear4bit weights (packed uint8, nested uint8 codes, fp32 nested absmax and offset),
    /// and at most 0.14 of the fp32 weights of the same layers.
    @Test func qloraBaseBytesMatchBitsandbytes() throws {
        let interpreter = try sst2Session(extra: "qlora r=8 alpha=16")
        let result = run(interpreter, "memory batch=8 seq=32")
        try check(result)
        let items = try #require(result.json?["items"]?.array)
        let codes = try #require(items.first { $0["name"]?.text.contains("4-bit codes") == true }?["bytes"]?.number)
        let statistics = try #require(result.json?["categories"]?["quantization_statistics"]?.number)
        // bitsandbytes' bytes from the reference quant states (Tests/Reference/qlora_reference.py).
        let caseDirectory = try TestPaths.referenceFile("qlora/qlora-minilm-all-linear")
        let reference = try SafetensorsFile(url: caseDirectory.appendingPathComponent("expected.safetensors"))
        let modules = reference.names.filter { $0.hasPrefix("quant.") && $0.hasSuffix(".nested_codes") }
            .map { String($0.dropFirst("quant.".count).dropLast(".nested_codes".count)) }
        #expect(modules.count == 37, "36 block layers and the pooler")
        var bnbCodes = 0, bnbStatistics = 0, fp32 = 0
        for module in modules {
            let nested = try #require(reference.entries["quant.\(module).nested_codes"]).shape.reduce(1, *)
            let nestedAbsmax = try #require(reference.entries["quant.\(module).nested_absmax"]).shape.reduce(1, *)
            let values = nested * 64   // every MiniLM layer is a whole number of 64-value blocks
            bnbCodes += values / 2
            bnbStatistics += nested + 4 * nestedAbsmax + 4
            fp32 += 4 * values
            if let packed = reference.entries["quant.\(module).packed"] { #expect(packed.shape.reduce(1, *) == values / 2, "\(module)") }
        }
        #expect(Int(codes) == bnbCodes)
        // Finch adds the code maps it keeps: 16 floats a layer, and the shared 256-entry 8-bit map.
        #expect(Int(statistics) == bnbStatistics + 37 * 64 + 1024)
        #expect((codes + statistics) / Double(fp32) <= 0.14)
        #expect(result.plain.contains("with fp32 base weights"))
    }

    /// The presets reproduce the published parameter counts, and the estimate's parts are the hand
    /// computation: 7B, 13B, 70B.
    @Test func estimateMatchesHandComputation() throws {
        // Parameter counts of the published checkpoints (model cards / safetensors index).
        let published: [String: Int] = ["1B": 1_235_814_400, "3B": 3_212_749_824, "7B": 6_738_415_616, "8B": 8_030_261_248,
                                        "13B": 13_015_864_320, "34B": 33_743_970_304, "70B": 68_976_648_192]
        for (label, shape) in DecoderShape.presets where published[label] != nil {
            #expect(shape.parameters == published[label], "\(label)")
        }
        let interpreter = makeInterpreter()
        // 7B QLoRA r=16 seq 512 batch 8: linear 6,476,005,376 × 4.127/8 + bf16 embeddings and head
        // 2 × 262,410,240 + fp32 adapters 39,976,960 × 4.
        let seven = try #require(run(interpreter, "estimate params=7B method=qlora r=16 seq=512 batch=8").json)
        #expect(seven["trainable"]?.number == Double(39_976_960))
        #expect(seven["weights_bytes"]?.number == Double(4_025_499_648))
        #expect(seven["optimizer_bytes"]?.number == Double(8 * 39_976_960))
        // Activations: 32 · 4096 · 2·(6·4096 + 2·4096 + 4·11008 + 7·16) + 4096 · 32000 · 10.
        #expect(seven["activations_bytes"]?.number == Double(32 * 4096 * 2 * (6 * 4096 + 2 * 4096 + 4 * 11008 + 112) + 4096 * 32000 * 10))
        #expect(seven["checkpointed_activations_bytes"]?.number
                == Double(32 * 4096 * 4096 * 2 + 4096 * 2 * (6 * 4096 + 2 * 4096 + 4 * 11008 + 112) + 4096 * 32000 * 10))
        // 13B full fine-tuning: 16 bytes a parameter before activations.
        let thirteen = try #require(run(interpreter, "estimate params=13B method=full").json)
        let p13 = 13_015_864_320.0
        #expect((thirteen["weights_bytes"]?.number ?? 0) + (thirteen["gradients_bytes"]?.number ?? 0)
                + (thirteen["optimizer_bytes"]?.number ?? 0) == 16 * p13)
        // 70B LoRA: bf16 base 2 × 68,976,648,192 + adapters (80 · 16 · (4·8192 + 2·(8192 + 1024) + 3·(8192 + 28672))) × 4.
        let seventy = try #require(run(interpreter, "estimate params=70B method=lora batch=1 gpu=H100-80GB hours=10").json)
        let adapters70 = 80 * 16 * (4 * 8192 + 2 * (8192 + 1024) + 3 * (8192 + 28672))
        #expect(seventy["trainable"]?.number == Double(adapters70))
        #expect(seventy["weights_bytes"]?.number == Double(2 * 68_976_648_192 + 4 * adapters70))
        let h100 = try #require(seventy["gpus"]?.array?.first)
        #expect(h100["fits"] == .bool(false))
        #expect(h100["count"]?.number == 2)
        #expect(h100["cost"]?.number == 2 * 2.99 * 10)
    }

    /// Published QLoRA numbers: 7B QLoRA needs about 5–6 GB and 65B fits one 48 GB GPU (Dettmers et al.
    /// 2023, batch 1, gradient checkpointing). A 48 GB card is added through a price file.
    @Test func estimateAgreesWithTheQLoRAPaper() throws {
        let interpreter = makeInterpreter()
        let seven = try #require(run(interpreter, "estimate params=7B method=qlora r=16 seq=512 batch=1").json)
        let sevenGB = (seven["total_bytes"]?.number ?? 0) / 1e9
        #expect(sevenGB > 4.5 && sevenGB < 6, "7B QLoRA: \(sevenGB) GB")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-prices-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try #"{"date": "test", "gpus": {"A6000-48GB": {"memory_gb": 48, "usd_per_hour": 0.8}}}"#
            .write(to: folder.appendingPathComponent("prices.json"), atomically: true, encoding: .utf8)
        let sixtyFive = run(interpreter, "estimate params=65B method=qlora r=16 seq=512 batch=1 gpu=A6000-48GB prices=\"\(folder.path)/prices.json\"")
        try check(sixtyFive)
        #expect(sixtyFive.json?["gpus"]?.array?.first?["fits"] == .bool(true))
        #expect(sixtyFive.json?["price_date"] == "test")
        #expect(sixtyFive.json?["model"] == "LLaMA-65B")
        // Other sizes are an approximation, and say so.
        let odd = try #require(run(interpreter, "estimate params=20B").json)
        #expect(odd["approximate"] == .bool(true))
        #expect(abs((odd["params"]?.number ?? 0) / 20e9 - 1) < 0.05)
    }

    /// A price file that cannot be used is an error at prices= naming the file and the line, column or key.
    @Test func priceFileErrorsSayWhere() throws {
        let interpreter = makeInterpreter()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-prices-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func failure(_ text: String) throws -> String {
            let file = folder.appendingPathComponent("p\(text.count).json")
            try text.write(to: file, atomically: true, encoding: .utf8)
            return run(interpreter, "estimate params=7B prices=\"\(file.path)\"").failure?.rendered ?? "no error"
        }
        let malformed = try failure("{\"gpus\": {\n  \"X\": {\"memory_gb\": 80,, }}}")
        #expect(malformed.contains("is not valid JSON") && malformed.contains("line 2"), "\(malformed)")
        #expect(malformed.contains("prices="), "points at the option: \(malformed)")
        #expect(try failure(#"{"gpus": {"T4-16GB": {"usd_per_hour": -1}}}"#).contains("gpus.T4-16GB.usd_per_hour must be a positive number"))
        #expect(try failure(#"{"gpus": {"B200-192GB": {"usd_per_hour": 6}}}"#).contains("gpus.B200-192GB is a new GPU: it needs memory_gb and usd_per_hour"))
        #expect(try failure(#"{"gpus": {"T4-16GB": {"price": 1}}}"#).contains("gpus.T4-16GB: unknown key \"price\""))
        #expect(try failure(#"{"gpu": {}}"#).contains("unknown key \"gpu\""))
        #expect(run(interpreter, "estimate params=7B gpu=V100").failure?.rendered.contains("unknown GPU 'V100'") == true)
    }

    /// FINCH_MEMORY_LIMIT caps what a run may add (the limit less what is resident), sizes read with units.
    @Test func memoryLimitCapsTheAvailableBytes() {
        #expect(ProcessMemory.byteCount("8GB") == 8_000_000_000)
        #expect(ProcessMemory.byteCount(" 512 MiB") == 512 << 20)
        #expect(ProcessMemory.byteCount("1.5kb") == 1500)
        #expect(ProcessMemory.byteCount("1500000") == 1_500_000)
        #expect(ProcessMemory.byteCount("lots") == nil && ProcessMemory.byteCount("-1GB") == nil)
        let capped = ProcessMemory.availableToGrow(resident: 100_000_000, environment: ["FINCH_MEMORY_LIMIT": "300MB"])
        #expect(capped == 200_000_000)
        #expect(ProcessMemory.availableToGrow(resident: 400_000_000, environment: ["FINCH_MEMORY_LIMIT": "300MB"]) == 0)
        let machine = ProcessMemory.availableToGrow(resident: 0, environment: [:])
        #expect((machine ?? 0) > 200_000_000, "MemAvailable of this machine: \(machine.map(String.init) ?? "unreadable")")
    }

    /// /proc is read whole (Foundation stops /proc reads after ~4 kB), VmRSS agrees with ps, and smaps
    /// mappings are summed by path.
    @Test func processMemoryReadsProc() throws {
        #expect(ProcessMemory.readAll("/proc/self/smaps").utf8.count > 16_384)
        let memory = ProcessMemory.current()
        let ps = Process()
        ps.executableURL = URL(fileURLWithPath: "/bin/ps")
        ps.arguments = ["-o", "rss=", "-p", "\(ProcessInfo.processInfo.processIdentifier)"]
        let pipe = Pipe()
        ps.standardOutput = pipe
        try ps.run()
        ps.waitUntilExit()
        let kB = try #require(Int(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(abs(Double(memory.resident) / Double(kB * 1024) - 1) < 0.1, "VmRSS \(memory.resident), ps \(kB) kB")
        #expect(memory.peak >= memory.resident)
        let smaps = """
            7f27fe800000-7f2803ea9000 r--p 00000000 fe:00 9576469                    /models/a b/model.safetensors
            Size:              92836 kB
            Rss:               42276 kB
            7f2803ea9000-7f2803eaa000 rw-p 00000000 00:00 0
            Rss:                   4 kB
            7f2804000000-7f2804001000 r--p 00000000 fe:00 12                         /models/x.gguf
            Rss:                   8 kB
            """
        #expect(ProcessMemory.mappedResident(smaps: smaps, suffixes: [".safetensors", ".gguf"]) == (42276 + 8) * 1024)
    }

    @Test func helpExplainsBothCommands() throws {
        let interpreter = makeInterpreter()
        let memory = run(interpreter, "help memory")
        try check(memory)
        #expect(memory.plain.contains("memory batch=32 seq=64 optim=adamw8bit"))
        #expect(memory.plain.contains("7·T·H + 2·T·I"))
        let estimate = run(interpreter, "help estimate")
        #expect(estimate.plain.contains("4.127 bits"))
        #expect(estimate.plain.contains("January 2026"))
    }
}
