import FinchLanguage
import Testing

@Suite("Did you mean")
struct SuggestionsTests {
    static let cases: [(word: String, candidates: [String], expected: String?)] = [
        ("rnak", ["r", "alpha", "rank"], "rank"),
        ("alpah", ["r", "alpha"], "alpha"),
        ("ab", ["ba"], "ba"),
        ("epochz", ["lr", "epochs"], "epochs"),
        ("LORA", ["qlora", "lora"], "lora"),
        ("Lr", ["lr", "lrfind"], "lr"),
        ("r", ["rs", "r"], "r"),
        ("bat", ["bad", "cat"], "bad"),
        ("bat", ["cat", "bad"], "cat"),
        ("trai", ["eval", "train"], "train"),
        ("sched", ["seed", "schedule"], "schedule"),
        ("warm", ["warmup", "warmup_ratio"], nil),
        ("lrate", ["lr", "epochs"], nil),
        ("xyz", ["lora", "train"], nil),
        ("scheduel", ["schedule", "seed"], "schedule"),
        ("sedule", ["schedule"], "schedule"),
        ("sdl", ["schedule"], nil),
        ("", ["lora"], nil),
        ("lora", [], nil),
        ("লেবল", ["লেবেল", "label"], "লেবেল"),
    ]

    @Test(arguments: cases.indices)
    func closest(_ index: Int) {
        let (word, candidates, expected) = Self.cases[index]
        #expect(Suggestions.closest(to: word, among: candidates) == expected, "\(word) among \(candidates)")
    }

    @Test func theLimitGrowsWithTheWordsLength() {
        // Two edits are allowed from six letters on (6 / 3), one below.
        #expect(Suggestions.closest(to: "epocs", among: ["epochs"]) == "epochs")
        #expect(Suggestions.closest(to: "eposh", among: ["epochs"]) == nil)
        #expect(Suggestions.closest(to: "epxchz", among: ["epochs"]) == "epochs")
        #expect(Suggestions.closest(to: "epxxhz", among: ["epochs"]) == nil)
    }
}
