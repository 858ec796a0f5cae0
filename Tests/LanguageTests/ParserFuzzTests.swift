import FinchLanguage
import Foundation
import Testing

/// Feeds random and mutated statements through the lexer, the parser and the completeness check: none may
/// crash, every error must point inside its input and render, and a text must be complete exactly when it
/// parses. Seeded, so a failure reproduces; run it with
/// `swift test -c release -Xswiftc -enable-testing --filter ParserFuzzTests`.
@Suite("Parser fuzzing")
struct ParserFuzzTests {
    static let inputCount = 100_000
    static let seed: UInt64 = 0xF1_4C_5EED

    /// Valid Finch lines, most of them from the language's design page.
    static let corpus: [String] = [
        #"data load "reviews.csv" text=review label=sentiment"#,
        #"data load "file.tsv" text=text label=label format=tsv labels=[neg, neu, pos]"#,
        "data show n=5 split=train", "data stats", "data split train=80% valid=10% test=10% seed=42 stratify=true",
        "data sample n=1000 seed=1", "data folds k=5 seed=42",
        #"model load "models/banglabert" task=classify labels=3"#, "model info", #"tokenize "আমি খুব খুশি""#,
        #"embed "ami khub happy 😀" "text" pool=mean normalize=true"#,
        "lora r=16 alpha=32 dropout=0.05 targets=[query, value] rslora=false bias=lora_only",
        "qlora r=16 alpha=32 targets=all-linear quant=nf4 double_quant=true block=64",
        "bitfit", "full", "params", "memory batch=16 seq=128",
        "estimate params=7B method=qlora seq=512 batch=8 r=16 gpu=A100-40GB hours=2.5",
        "train epochs=5 lr=2e-4 batch=16 accumulate=2 warmup=100 schedule=cosine weight_decay=0.01 clip=1.0",
        "train eval_every=100 save_every=100 keep=3 patience=3 best=f1_macro seed=42 max_length=256 optim=adamw",
        "train resume", "lrfind start=1e-7 end=1 steps=100",
        "sweep lr=[1e-4, 2e-4, 5e-4] r=[8, 16] method=grid trials=4 epochs=1 metric=f1_macro",
        "cv k=5 epochs=3", "eval split=test", "report", "confusion", "errors n=10", "plot loss", "runs",
        #"predict "text" "আরেকটি লেখা""#, #"generate "prompt" max_tokens=64 temperature=0.7 top_p=0.9"#,
        #"agreement "a.csv" "b.csv""#, #"save adapter "dir""#, #"load adapter "dir""#, "merge", "unmerge",
        #"export model "dir""#, #"export script "train.py" launcher=accelerate deepspeed=zero2"#,
        "help lora", "print 6*7", "seed 42", "threads 4", "sessions", "reset all",
        "x = 6*7", "lr = 2e-4 * 2 ** -1", "base = (1 + 2) * 3 - -4 / .5", "steps = 1_000 + 4.5k",
        "prompt = \"\"\"\nপ্রশ্ন:\n  what is LoRA? \\u{1F600}\n\"\"\"", "lora?", "?data load",
        "train epochs=5 \\\n    lr=1e-4", "sweep lr=[1e-4,\n  2e-4,  # two rates\n]", "# a comment",
        #"s = "escaped \" \\ \n \t \u{0995}""#,
    ]

    /// Pieces that tend to break lexers: quotes, brackets, continuations, operators, scripts and emoji.
    static let fragments: [String] = [
        "\"", "\"\"\"", "[", "]", "(", ")", "\\", "\\\n", "=", "\n", "\r\n", "#", "?", "-", "**", "%", ",", " ", "\t",
        "আ", "ি", "্", "খুশি", "😀", "👨‍👩‍👧", "\u{301}", "\u{200B}", "\u{FEFF}", "e", "7B", "1e", ".", "_", "k=",
        "\\u{", "\\u{D800}", "\\q", "'", "“",
    ]

    @Test func noInputCrashesOrMisplacesItsError() {
        var random = SplitMix64(seed: Self.seed)
        var tally = Tally()
        let clock = ContinuousClock()
        let started = clock.now
        for _ in 0..<Self.inputCount {
            let text = Self.input(using: &random)
            check(text, tally: &tally)
            if tally.failures > 20 { break }
        }
        let elapsed = clock.now - started
        print("fuzzed \(tally.inputs) inputs in \(elapsed): \(tally.parsed) parsed, \(tally.rejected) rejected, \(tally.incomplete) incomplete")
        #expect(tally.failures == 0)
        #expect(tally.inputs == Self.inputCount)
        // The generator must exercise both sides, or the test says nothing.
        #expect(tally.parsed > Self.inputCount / 10)
        #expect(tally.rejected > Self.inputCount / 10)
        #expect(tally.incomplete > Self.inputCount / 100)
    }

    struct Tally {
        var inputs = 0, parsed = 0, rejected = 0, incomplete = 0, failures = 0
    }

    func check(_ text: String, tally: inout Tally) {
        tally.inputs += 1
        let source = SourceText(name: "cell[1]", text: text)
        let lineLengths = Self.lineLengths(text)
        func fail(_ what: String) {
            tally.failures += 1
            Issue.record("\(what) for input \(text.debugDescription)")
        }
        do {
            _ = try Lexer.tokenize(text)
        } catch {
            if !Self.isInside(error.range, lineLengths) { fail("lexer error \(error) out of range") }
        }
        let parses: Bool
        do {
            let statements = try Parser.parse(source)
            tally.parsed += 1
            parses = true
            for statement in statements where !Self.isInside(statement.range, lineLengths) {
                fail("statement range \(statement.range) out of range")
            }
        } catch {
            tally.rejected += 1
            parses = false
            if error.range == nil || !Self.isInside(error.range, lineLengths) { fail("parser error \(error) out of range") }
            if !error.rendered(in: source).hasPrefix("cell[1]:") { fail("bad rendering of \(error)") }
        }
        let completeness = InputCompleteness.check(text)
        if case .incomplete = completeness { tally.incomplete += 1 }
        if parses != (completeness == .complete) { fail("parses: \(parses), but completeness is \(completeness)") }
    }

    /// Characters per line, lines ending at "\n" or "\r\n" as the lexer counts them.
    static func lineLengths(_ text: String) -> [Int] {
        text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.map(\.count)
    }

    /// Whether both ends of `range` are on a line of the text, at most one column past its end.
    static func isInside(_ range: SourceRange?, _ lineLengths: [Int]) -> Bool {
        guard let range else { return true }
        func isInside(_ location: FinchLanguage.SourceLocation) -> Bool {
            guard location.line >= 1, location.line <= lineLengths.count else { return false }
            return location.column >= 1 && location.column <= lineLengths[location.line - 1] + 1
        }
        return isInside(range.start) && isInside(range.end) && range.start <= range.end
    }

    // MARK: Inputs

    static func input(using random: inout SplitMix64) -> String {
        switch random.next() % 10 {
        case 0: return randomTokens(using: &random)
        case 1: return String(String.UnicodeScalarView((0..<Int.random(in: 1...12, using: &random)).map { _ in randomScalar(using: &random) }))
        default:
            let lineCount = Int.random(in: 1...3, using: &random)
            let lines = (0..<lineCount).map { _ in corpus.randomElement(using: &random)! }
            var text = lines.joined(separator: "\n")
            for _ in 0..<Int.random(in: 1...3, using: &random) { text = mutate(text, using: &random) }
            return text
        }
    }

    static func mutate(_ text: String, using random: inout SplitMix64) -> String {
        var characters = Array(text)
        let position = Int.random(in: 0...characters.count, using: &random)
        switch random.next() % 6 {
        case 0:
            var bytes = Array(text.utf8)
            guard !bytes.isEmpty else { return text }
            bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8(1) << UInt8(random.next() % 8)
            return String(decoding: bytes, as: UTF8.self)
        case 1, 2:
            characters.insert(contentsOf: fragments.randomElement(using: &random)!, at: position)
        case 3:
            let end = min(characters.count, position + Int.random(in: 1...6, using: &random))
            characters.removeSubrange(position..<end)
        case 4:
            characters.insert(Character(randomScalar(using: &random)), at: position)
        default:
            let other = Array(corpus.randomElement(using: &random)!)
            let start = Int.random(in: 0..<other.count, using: &random)
            characters.insert(contentsOf: other[start..<min(other.count, start + 12)], at: position)
        }
        return String(characters)
    }

    static func randomTokens(using random: inout SplitMix64) -> String {
        let pieces = ["lora", "x", "=", "r", "16", "2e-4", "80%", "7B", "[", "]", "(", ")", ",", "+", "-", "*", "/", "**", "?",
                      "\"a\"", "\"আমি\"", "true", "all-linear", "\n", "\\\n", "#c\n", "\"\"\"\nl\n\"\"\""]
        return (0..<Int.random(in: 1...14, using: &random)).map { _ in
            pieces.randomElement(using: &random)! + (random.next() % 3 == 0 ? "" : " ")
        }.joined()
    }

    /// A scalar from ASCII, Latin, Bengali, symbols, emoji or anywhere in the planes (never a surrogate).
    static func randomScalar(using random: inout SplitMix64) -> Unicode.Scalar {
        let ranges: [ClosedRange<UInt32>] = [0x20...0x7E, 0x00...0x1F, 0xA0...0x24F, 0x980...0x9FF, 0x2000...0x206F, 0x1F300...0x1FAFF, 0...0x10FFFF]
        while true {
            let range = ranges.randomElement(using: &random)!
            if let scalar = Unicode.Scalar(UInt32.random(in: range, using: &random)) { return scalar }
        }
    }

    /// A small, fast, seedable generator (SplitMix64), so fuzz runs repeat exactly.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
