import FinchLanguage
import Testing
import TestSupport

/// The full syntax tree, ranges included, of representative cells, compared with
/// Golden/parser/<name>.txt: the source, a `---` line, then `ASTPrinter.tree` of what it parses to.
@Suite("Parser goldens")
struct ParserGoldenTests {
    static let cells: [(name: String, source: String)] = [
        ("literals", """
            n = 16
            lr = 2e-4
            dropout = 0.05
            half = .5
            steps = 1_000
            train_part = 80%
            params = 7B
            small = 110M
            tiny = 4.5k
            flag = true
            """),
        ("strings", #"""
            bn = "আমি খুব খুশি"
            mixed = "ami khub happy 😀"
            escapes = "tab\there \"quoted\" \u{1F600}"
            prompt = """
            প্রশ্ন: what is LoRA?
              উত্তর:
            """
            """#),
        ("dataset-commands", """
            data load "reviews.csv" text=review label=sentiment format=csv labels=[neg, neu, pos]
            data show n=5 split=train
            data split train=80% valid=10% test=10% seed=42 stratify=true
            data folds k=5
            """),
        ("adapter-commands", """
            model load "models/banglabert" task=classify labels=3
            lora r=16 alpha=32 dropout=0.05 targets=[query, value] rslora=false bias=lora_only
            qlora r=16 alpha=32 targets=all-linear quant=nf4 double_quant=true block=64
            estimate params=7B method=qlora seq=512 batch=8 r=16 gpu=A100-40GB hours=2.5
            save adapter "out/adapter"
            """),
        ("train-over-lines", """
            train epochs=5 lr=2e-4 batch=16 \\
                  schedule=cosine warmup_ratio=0.1   # the usual
            sweep lr=[1e-4,
                      2e-4,
                      5e-4,
                     ] r=[8, 16] method=grid
            """),
        ("expressions", """
            base = 1e-4
            train lr=base*2 epochs=3
            6*7
            -2**2 + (1 - x-1) / 4
            print x * 2
            """),
        ("help-and-comments", """
            # Help comes in three spellings.
            lora?
            ?data load
            data split?

            help train   # the help command itself
            """),
    ]

    @Test(arguments: cells.map(\.name))
    func parse(_ name: String) throws {
        let source = try #require(Self.cells.first { $0.name == name }?.source)
        let tree = ASTPrinter.tree(try Parser.parse(SourceText(name: "cell[1]", text: source)))
        try GoldenFiles(beside: #filePath, subfolder: "parser").check(source + "\n---\n" + tree + "\n", name + ".txt")
    }
}
