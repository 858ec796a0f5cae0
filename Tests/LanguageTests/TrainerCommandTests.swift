import Foundation
import Testing
import FinchLanguage
import FinchTensor
import FinchModels
import TestSupport

/// A host that interrupts the interpreter at the first progress update of a command.
final class InterruptingHost: LanguageHost {
    let interpreter: Interpreter
    var events: [LanguageEvent] = []
    init(_ interpreter: Interpreter) { self.interpreter = interpreter }
    func emit(_ event: LanguageEvent) {
        events.append(event)
        if case .progress = event { interpreter.interrupt() }
    }
    func readLine(prompt: String) throws -> String { throw RecordingHost.InputNotAvailable() }
}

@Suite(.serialized) struct TrainerCommandTests {
    @Test func loraCountsParametersAsPEFTDoes() throws {
        let interpreter = try sst2Session()
        let result = run(interpreter, "lora r=4 alpha=8 targets=[query, value]")
        try check(result)
        // 6 layers × {query, value} × (A: 4×384 + B: 384×4), plus the classifier head 384×2 + 2.
        #expect(result.json?["trainable"]?.number == Double(6 * 2 * (4 * 384 + 384 * 4) + 384 * 2 + 2))
        #expect(result.plain.contains("trainable params: 37,634 || all params:"))
        #expect(run(interpreter, "params").json?["trainable"]?.number == 37_634)
        let bitfit = run(interpreter, "bitfit")
        try check(bitfit)
        #expect(bitfit.json?["method"] == "bitfit")
        let full = run(interpreter, "full")
        #expect(full.json?["trainable"]?.number == full.json?["total"]?.number)
    }

    @Test func optionErrorsNameTheKeyAndShowWhatIsAllowed() throws {
        let interpreter = try sst2Session()
        #expect(run(interpreter, "lora r=0").failure?.rendered == """
            cell[1]:1:8: error: 'r' is out of range: 0
            lora r=0
                   ^
            note: expected an integer from 1 to 4096
            """)
        #expect(run(interpreter, "lora alpah=16").failure?.rendered == """
            cell[1]:1:6: error: unknown option 'alpah' for 'lora'
            lora alpah=16
                 ^~~~~
            note: did you mean 'alpha'?
            note: options of 'lora': r, alpha, dropout, targets, rslora, dora, bias, modules_to_save
            """)
        #expect(run(interpreter, "lora r=\"big\"").failure?.rendered == """
            cell[1]:1:8: error: 'r' expects an integer from 1 to 4096, not a string ("big")
            lora r="big"
                   ^~~~~
            """)
        #expect(run(interpreter, "train schedule=cosin").failure?.rendered == """
            cell[1]:1:16: error: 'schedule' cannot be 'cosin'
            train schedule=cosin
                           ^~~~~
            note: did you mean 'cosine'?
            note: allowed values: constant, constant_with_warmup, linear, cosine, cosine_with_restarts, polynomial
            """)
        #expect(run(interpreter, "train max_steps=2").failure?.rendered == """
            cell[1]:1:1: error: no training method set
            train max_steps=2
            ^~~~~
            note: choose one first: lora r=16 alpha=32, bitfit or full
            """)
    }

    @Test func trainRecordsARunAndProgressUpdatesOneDisplay() throws {
        let interpreter = try sst2Session(extra: "lora r=4 alpha=8")
        let host = RecordingHost()
        let result = run(interpreter, "train max_steps=4 batch=8 max_length=32 lr=1e-3", host: host)
        try check(result)
        #expect(result.json?["steps"]?.number == 4)
        #expect(result.json?["accuracy"]?.number != nil, "evaluated on the valid split")
        let updates = host.progress
        #expect(!updates.isEmpty)
        #expect(Set(updates.map(\.id)).count == 1)
        #expect(updates.last?.finished == true)
        #expect(updates.last?.output.plain.hasPrefix("step 4/4") == true)
        #expect(interpreter.metrics.runs.runs.count == 1)
        #expect(run(interpreter, "train resume").failure?.diagnostic.message == "the last run finished at step 4")
    }

    @Test func interruptedTrainResumesToTheSameLossesAsAnUninterruptedRun() throws {
        let reference = try sst2Session(extra: "lora r=4 alpha=8")
        try check(run(reference, "train max_steps=6 batch=8 max_length=32 lr=1e-3 seed=5"))
        let expected = reference.metrics.runs.runs.last!.losses

        let interpreter = try sst2Session(extra: "lora r=4 alpha=8")
        let host = InterruptingHost(interpreter)
        let stopped = interpreter.run(SourceText(name: "cell[1]", text: "train max_steps=6 batch=8 max_length=32 lr=1e-3 seed=5"), host: host)
        let failure = try #require(stopped.failure)
        #expect(failure.interrupted)
        #expect(failure.diagnostic.message.contains("`train resume` continues"))
        try check(run(interpreter, "train resume"))
        #expect(interpreter.metrics.runs.runs.last?.losses == expected)
    }

    @Test func savedAdapterLoadsBackToTheSamePredictions() throws {
        let interpreter = try sst2Session(extra: "lora r=4 alpha=8")
        try check(run(interpreter, "train max_steps=2 batch=8 max_length=32 lr=1e-3"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-lang-adapter-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = "a gorgeous , witty , seductive movie ."
        let before = run(interpreter, "predict \"\(text)\"").json
        try check(run(interpreter, "save adapter \"\(folder.path)\""))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("adapter_model.safetensors").path))
        try check(run(interpreter, "reset train\nload adapter \"\(folder.path)\""))
        #expect(run(interpreter, "predict \"\(text)\"").json == before)
        try check(run(interpreter, "merge"))
        let merged = run(interpreter, "predict \"\(text)\"").json
        let p0 = merged?.array?.first?["probabilities"] ?? merged?["probabilities"]
        let q0 = before?.array?.first?["probabilities"] ?? before?["probabilities"]
        #expect(p0 != nil && q0 != nil)
        try check(run(interpreter, "unmerge"))
    }

    @Test func saveAdapterAsksBeforeWritingIntoAForeignFolder() throws {
        let interpreter = try sst2Session(extra: "lora r=2")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-lang-foreign-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("notes".utf8).write(to: folder.appendingPathComponent("notes.txt"))
        let noInput = run(interpreter, "save adapter \"\(folder.path)\"")
        #expect(noInput.failure?.diagnostic.notes.last == "pass overwrite=true to write into a folder that holds other files")
        let host = RecordingHost()
        host.answers = ["n"]
        #expect(run(interpreter, "save adapter \"\(folder.path)\"", host: host).plain == "not saved")
        host.answers = ["y"]
        try check(run(interpreter, "save adapter \"\(folder.path)\"", host: host))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("adapter_config.json").path))
    }

    @Test func lrfindLeavesTheWeightsAsTheyWere() throws {
        let interpreter = try sst2Session(extra: "lora r=4 alpha=8")
        let text = "an utterly charming film ."
        let before = run(interpreter, "predict \"\(text)\"").json
        let result = run(interpreter, "lrfind start=1e-5 end=1 steps=8 batch=8 max_length=32")
        try check(result)
        #expect(result.json?["lr"]?.array?.isEmpty == false)
        #expect(run(interpreter, "predict \"\(text)\"").json == before)
    }

    @Test func sweepAndCrossValidationRecordRuns() throws {
        let interpreter = try sst2Session(extra: "lora r=2 alpha=4")
        let sweep = run(interpreter, "sweep lr=[1e-3, 2e-3] max_steps=2 batch=8 max_length=32")
        try check(sweep)
        #expect(sweep.json?.array?.count == 2)
        #expect(interpreter.metrics.runs.runs.filter { $0.kind == "sweep" }.count == 2)
        let cv = run(interpreter, "cv k=2 max_steps=2 batch=8 max_length=32")
        try check(cv)
        let f1 = try #require(cv.json?["f1_macro"]?["mean"]?.number)
        #expect(f1 >= 0 && f1 <= 1)
        #expect(run(interpreter, "runs").plain.contains("cv"))
    }

    @Test func embedAndTokenizeKeepBengaliExactly() throws {
        _ = try TestPaths.model("multilingual-e5-small")
        let interpreter = makeInterpreter()
        try check(run(interpreter, "model load \"multilingual-e5-small\" task=embed"))
        let tokens = run(interpreter, "tokenize \"আমি খুব খুশি\"")
        #expect(tokens.json?["text"] == "আমি খুব খুশি")
        let embed = run(interpreter, "embed \"আমি খুব খুশি\" \"ami khub khushi\" prefix=\"query: \"")
        try check(embed)
        let similarities = try #require(embed.json?["similarities"]?.array)
        #expect(abs((similarities[0].array?[0].number ?? 0) - 1) < 1e-5)
        #expect(embed.plain.contains("আমি খুব খুশি"))
    }

    @Test(.enabled(if: FrozenPrecision.bf16Available, "this CPU has no AVX512-BF16"))
    func precisionBF16MovesEmbeddingsAsLittleAsBF16Should() throws {
        _ = try TestPaths.model("all-MiniLM-L6-v2")
        let interpreter = makeInterpreter()
        #expect(run(interpreter, "precision").json?["precision"] == "fp32")
        try check(run(interpreter, "model load \"all-MiniLM-L6-v2\" task=embed"))
        func vectors() throws -> [[Double]] {
            let embed = run(interpreter, "embed \"the film was wonderful\" \"a dull, slow story\"")
            try check(embed)
            return try #require(embed.json?["embeddings"]?.array).map { $0.array!.map { $0.number! } }
        }
        let fp32 = try vectors()
        #expect(run(interpreter, "precision bf16").plain == "precision bf16 (bf16 available)")
        let bf16 = try vectors()
        // A reload keeps the precision.
        try check(run(interpreter, "model load \"all-MiniLM-L6-v2\" task=embed"))
        #expect(try vectors() == bf16)
        for (a, b) in zip(fp32, bf16) {
            let cosine = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } / (a.reduce(0) { $0 + $1 * $1 }.squareRoot() * b.reduce(0) { $0 + $1 * $1 }.squareRoot())
            #expect(cosine > 0.999, "bf16 keeps the direction: cosine \(cosine)")
            #expect(a != b, "bf16 changes the last bits")
        }
        try check(run(interpreter, "precision fp32"))
        #expect(try vectors() == fp32, "fp32 again gives the fp32 numbers exactly")
        let failure = try #require(run(interpreter, "precision fp16").failure)
        #expect(failure.diagnostic.message == "'mode' cannot be 'fp16'")
    }

    @Test func aMistypedLoRAKeepsTheTrainedAdapterAndAMergedOneCannotTrain() throws {
        let interpreter = try sst2Session(extra: "lora r=4 alpha=8")
        try check(run(interpreter, "train max_steps=2 batch=8 max_length=32 lr=1e-3"))
        let typo = try #require(run(interpreter, "lora r=4 targets=[querry]").failure)
        #expect(typo.rendered.hasPrefix("cell[1]:1:18: error: targets [\"querry\"] match no linear layer of this model"))
        #expect(run(interpreter, "params").json?["method"] == "lora", "the trained adapter is still attached")
        try check(run(interpreter, "merge"))
        #expect(run(interpreter, "train max_steps=1").failure?.diagnostic.message == "the adapter is merged into the base weights and cannot train")
        try check(run(interpreter, "unmerge\ntrain max_steps=1 batch=8 max_length=32"))
    }

    @Test func sweepValuesAreCheckedLikeTheOptionsTheyStandFor() throws {
        let interpreter = try sst2Session(extra: "lora r=2")
        let failure = try #require(run(interpreter, "sweep r=[4, 1e12] max_steps=1").failure)
        #expect(failure.diagnostic.message == "'r' is out of range: 1000000000000")
    }

    /// optim=adamw8bit reaches the trainer: with r=16 each LoRA matrix has 16 × 384 = 6144 values, so its
    /// moments are 8-bit (bitsandbytes keeps tensors under 4096 values in fp32), the first loss (before any
    /// update) equals AdamW's and later ones do not, and the run records the option. `help train` lists it.
    @Test func trainWithEightBitAdamW() throws {
        let command = "train max_steps=3 batch=8 max_length=32 lr=1e-3 seed=3"
        let plain = try sst2Session(extra: "lora r=16 alpha=32")
        try check(run(plain, command))
        let interpreter = try sst2Session(extra: "lora r=16 alpha=32")
        let result = run(interpreter, command + " optim=adamw8bit")
        try check(result)
        #expect(result.json?["steps"]?.number == 3)
        let (expected, losses) = (plain.metrics.runs.runs.last!.losses, interpreter.metrics.runs.runs.last!.losses)
        #expect(losses.count == 3 && losses[0] == expected[0] && losses[2] != expected[2])
        #expect(interpreter.metrics.runs.runs.last?.configuration["optim"] == "adamw8bit")
        #expect(plain.metrics.runs.runs.last?.configuration["optim"] == "adamw")
        let help = run(interpreter, "help train").plain
        #expect(help.contains("optim") && help.contains("adamw8bit") && help.contains("paged_adamw"))
        let failure = try #require(run(interpreter, "train optim=adam8bit").failure)
        #expect(failure.diagnostic.message == "'optim' cannot be 'adam8bit'")
    }

    @Test func qloraHoldsTheTargetsInFourBitsAndTrains() throws {
        let interpreter = try sst2Session()
        let result = run(interpreter, "qlora r=4 alpha=8")
        try check(result)
        #expect(result.plain.contains("quantized 37 layers (10,764,288 weights) to nf4, block 64, double quantization"))
        #expect(result.plain.contains("(4.127 bits per weight)"))
        #expect(interpreter.trainer.encoder?.blockLinears.allSatisfy(\.isQuantized) == true)
        try check(run(interpreter, "train max_steps=2 batch=8 max_length=32 lr=1e-3"))
        #expect(run(interpreter, "merge").failure?.diagnostic.message.hasPrefix("cannot merge into") == true)
        let back = run(interpreter, "lora r=4")
        #expect(back.plain.hasPrefix("model reloaded from all-MiniLM-L6-v2"))
        #expect(interpreter.trainer.encoder?.blockLinears.contains(where: \.isQuantized) == false)
    }
}
