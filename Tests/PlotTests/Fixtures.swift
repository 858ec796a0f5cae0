import FinchPlot

/// Charts like the ones Finch draws, from deterministic data (integer arithmetic and + − × ÷ only,
/// so every platform computes the same values).
enum Fixtures {
    /// A fixed pseudo-random sequence in [0, 1).
    static func noise(_ count: Int, seed: UInt64) -> [Double] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(UInt64(1) << 53)
        }
    }

    /// Train loss every 5 steps and validation loss every 50, falling towards 0.25 (`plot loss`).
    static let lossCurves: LineChart = {
        let jitter = noise(60, seed: 7)
        let train = (1...60).map { index -> DataPoint in
            let step = Double(index * 5)
            return DataPoint(x: step, y: 0.25 + 0.7 / (1 + step / 40) + 0.06 * (jitter[index - 1] - 0.5))
        }
        let validation = (1...6).map { index -> DataPoint in
            let step = Double(index * 50)
            return DataPoint(x: step, y: 0.3 + 0.62 / (1 + step / 45) + 0.004 * Double(index))
        }
        return LineChart(title: "Loss — sst2, LoRA r=16", xLabel: "step", yLabel: "loss",
                         series: [Series(name: "train", points: train), Series(name: "validation", points: validation, style: .lineAndPoints)])
    }()

    /// An lrfind: loss against a learning rate growing 1.2× per step from 1e-7, log x, suggestion marked.
    static let lrFind: LineChart = {
        var rate = 1e-7
        var points: [DataPoint] = []
        for index in 0..<89 {
            let u = Double(index) / 88
            let dip = u < 0.75 ? 0.45 * u * u / (0.75 * 0.75) : 0.45 - 2.2 * (u - 0.75) * (u - 0.75) * 8
            points.append(DataPoint(x: rate, y: 0.72 - dip))
            rate *= 1.2
        }
        let lowest = points.min { $0.y < $1.y }!
        return LineChart(title: "Learning-rate range test", xLabel: "learning rate", yLabel: "loss",
                         series: [Series(name: "loss", points: points)], xScale: .log,
                         annotations: [.verticalLine(x: 3.2e-4, label: "suggested lr 3.2e-4"),
                                       .marker(x: lowest.x, y: lowest.y, label: "min loss")])
    }()

    /// Two clusters of points (a scatter plot through the `.points` style) with a baseline.
    static let scatter: LineChart = {
        let a = noise(40, seed: 3), b = noise(40, seed: 4)
        let first = (0..<20).map { DataPoint(x: 2 + 3 * a[$0], y: 1 + 2 * b[$0]) }
        let second = (20..<40).map { DataPoint(x: -1 + 2 * a[$0], y: -2 + 3 * b[$0]) }
        return LineChart(title: "Embeddings, first two components", xLabel: "pc1", yLabel: "pc2",
                         series: [Series(name: "positive", points: first, style: .points),
                                  Series(name: "negative", points: second, style: .points)],
                         annotations: [.horizontalLine(y: 0, label: "y = 0")])
    }()

    /// Label balance of a data set (`data stats`).
    static let labelBalance = BarChart(title: "Label balance — train", categoryLabel: "label", valueLabel: "rows",
                                       bars: [("negative", 412), ("neutral", 130), ("positive", 600)])

    /// Accuracy and F1 per run, side by side (`runs`).
    static let metricsPerRun = BarChart(
        title: "Runs", categoryLabel: "run", valueLabel: "score",
        categories: ["r8 lr1e-4", "r16 lr2e-4", "r16 lr5e-4"],
        series: [BarSeries(name: "accuracy", values: [0.812, 0.847, 0.803]),
                 BarSeries(name: "f1_macro", values: [0.774, 0.829, 0.791])])

    /// Bengali and code-mixed labels with characters XML must escape: drawn horizontally.
    static let bengaliLabels = BarChart(
        title: "লেবেল <ভারসাম্য> & \"balance\"", categoryLabel: "label", valueLabel: "rows",
        bars: [("ইতিবাচক (positive)", 1021), ("নেতিবাচক (negative)", 684), ("নিরপেক্ষ — neutral", 237),
               ("মিশ্র <mixed> & 'other'", 58)])

    /// Change in F1 against a baseline, negative values included.
    static let deltas = BarChart(title: "Δ F1 against the baseline", categoryLabel: "run", valueLabel: "Δ f1",
                                 bars: [("bitfit", -0.031), ("lora r8", 0.012), ("lora r16", 0.027), ("head only", -0.064)],
                                 orientation: .vertical)

    /// Token lengths of 2,000 texts in given bins with p50, p90 and p99 (`data stats`).
    static let tokenLengths: Histogram = {
        let u = noise(6000, seed: 11)
        let lengths = (0..<2000).map { index -> Double in
            let base = 8 + 40 * (u[3 * index] + u[3 * index + 1])
            return (base + (u[3 * index + 2] > 0.9 ? 120 * u[3 * index + 2] : 0)).rounded(.down)
        }
        return Histogram(title: "Token lengths — train", xLabel: "tokens", values: lengths,
                         binning: .edges(stride(from: 0, through: 256, by: 16).map(Double.init)))
    }()

    /// The same idea with automatic bins and two values outside any finite range.
    static let automaticBins = Histogram(title: "Automatic bins", xLabel: "value",
                                         values: noise(300, seed: 5).map { 10 * $0 * $0 } + [.nan, .infinity])

    /// A three-class confusion matrix (`confusion`).
    static let confusion = Heatmap.confusion(labels: ["negative", "neutral", "positive"],
                                             counts: [[412, 30, 8], [25, 88, 17], [10, 21, 570]],
                                             title: "Confusion — sst2 test")

    /// Six classes with long Bengali names: rotated column labels, smaller cells.
    static let bengaliConfusion = Heatmap.confusion(
        labels: ["ইতিবাচক", "নেতিবাচক", "নিরপেক্ষ", "রাজনৈতিক সমালোচনা", "ক্রিকেট <খেলা>", "other & mixed"],
        counts: [[120, 5, 9, 2, 0, 1], [7, 98, 11, 14, 3, 0], [10, 9, 66, 4, 6, 5],
                 [1, 12, 3, 41, 0, 2], [0, 2, 5, 0, 37, 1], [3, 1, 4, 2, 1, 9]],
        title: "Confusion — bengali-absa")
}
