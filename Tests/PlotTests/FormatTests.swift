@testable import FinchPlot
import Testing

@Suite struct FormatTests {
    @Test func fixedPrecisionIsTrimmedAndNeverNegativeZero() {
        #expect(NumberFormat.coordinate(12.345) == "12.35")
        #expect(NumberFormat.coordinate(100) == "100")
        #expect(NumberFormat.coordinate(0.1 + 0.2) == "0.3")
        #expect(NumberFormat.coordinate(-0.001) == "0")
        #expect(NumberFormat.coordinate(-3.5) == "-3.5")
        #expect(NumberFormat.fixed(2.5, decimals: 3) == "2.5")
        #expect(NumberFormat.fixed(0.05, decimals: 1) == "0.1")
        #expect(NumberFormat.fixed(.nan, decimals: 2) == "NaN")
        #expect(NumberFormat.fixed(-.infinity, decimals: 2) == "-inf")
        #expect(NumberFormat.fixed(1e20, decimals: 2) == "1e20")
    }

    @Test func compactLabels() {
        #expect(NumberFormat.compact(0) == "0")
        #expect(NumberFormat.compact(0.87345) == "0.873")
        #expect(NumberFormat.compact(412) == "412")
        #expect(NumberFormat.compact(2500) == "2.5k")
        #expect(NumberFormat.compact(12_345) == "12.3k")
        #expect(NumberFormat.compact(999_960) == "1M")
        #expect(NumberFormat.compact(7e9) == "7B")
        #expect(NumberFormat.compact(3.2e-4) == "3.2e-4")
        #expect(NumberFormat.compact(-0.000_012_34) == "-1.23e-5")
        #expect(NumberFormat.compact(1e-300) == "1e-300")
        #expect(NumberFormat.compact(2e15) == "2e15")
        #expect(NumberFormat.scientific(9.996e-5, significant: 2) == "1e-4")
    }

    @Test func ticksFollowOneTwoFiveSteps() {
        let loss = Axis(covering: [0.31, 0.93], scale: .linear, tickCount: 5)
        #expect(loss.labels == ["0.2", "0.4", "0.6", "0.8", "1"])
        let steps = Axis(covering: [0, 2500], scale: .linear, tickCount: 5)
        #expect(steps.labels == ["0", "500", "1k", "1.5k", "2k", "2.5k"])
        let learningRates = Axis(covering: [0, 4.5e-4], scale: .linear, tickCount: 5)
        #expect(learningRates.labels == ["0", "1e-4", "2e-4", "3e-4", "4e-4", "5e-4"])
        let negative = Axis(covering: [-0.064, 0.027], scale: .linear, tickCount: 5, includeZero: true)
        #expect(negative.ticks.first! < 0 && negative.ticks.contains(0))
        #expect(Axis(covering: [2e-4, 2e-4], scale: .linear, tickCount: 4).labels.count >= 3)
        #expect(Axis(covering: [], scale: .linear, tickCount: 5).lower == 0)
    }

    @Test func logTicksAreDecades() {
        let lr = Axis(covering: [1e-7, 0.9], scale: .log, tickCount: 8)
        #expect(lr.labels == ["1e-7", "1e-6", "1e-5", "1e-4", "1e-3", "1e-2", "1e-1", "1"])
        #expect(lr.fraction(1e-7) == 0 && lr.fraction(1) == 1)
        let narrow = Axis(covering: [0.3, 0.9], scale: .log, tickCount: 5)
        #expect(narrow.labels == ["0.1", "0.2", "0.5", "1"])
        let huge = Axis(covering: [1e-8, 1e8], scale: .log, tickCount: 4)
        #expect(huge.labels == ["1e-8", "1e-4", "1", "10k", "100M"])
    }

    @Test func displayWidthCountsColumns() {
        #expect(TextWidth.of("loss") == 4)
        #expect(TextWidth.of("日本語") == 6)
        #expect(TextWidth.of("한국") == 4)
        #expect(TextWidth.of("🙂") == 2)
        #expect(TextWidth.of("e\u{301}") == 1)                  // combining acute accent
        #expect(TextWidth.of("ক্রিকেট") == 6)                   // hasanta takes no column; the vowel signs do
        #expect(TextWidth.of("খেলা") == 4)
        #expect(TextWidth.of("a\u{200D}b") == 2)                // zero-width joiner
        #expect(TextWidth.of("⠤⠤ █▉▊") == 6)
    }

    @Test func truncationRespectsClustersAndColumns() {
        #expect(TextWidth.truncate("positive", to: 5) == "posi…")
        #expect(TextWidth.truncate("日本語テキスト", to: 6) == "日本…")
        let bengali = TextWidth.truncate("রাজনৈতিক সমালোচনা", to: 8)
        #expect(TextWidth.of(bengali) <= 8 && bengali.hasSuffix("…"))
        #expect(TextWidth.truncate("short", to: 10) == "short")
        #expect(TextWidth.truncate("x", to: 0) == "")
        #expect(TextWidth.pad("ক্ষ", to: 4) == "ক্ষ  ")              // ka, hasanta (0), ssa
    }
}
