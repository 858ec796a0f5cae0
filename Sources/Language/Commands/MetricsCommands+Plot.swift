import Foundation
import FinchExperiment
import FinchOptim
import FinchPlot

/// plot loss | lr | metrics | lrfind | schedule.
extension MetricsCommands {
    static let scheduleOptions = ["kind", "steps", "warmup", "lr"]

    static let plot = CommandSpec(
        "plot", group: .metrics, summary: "Plot the last run's loss, learning rate or validation metrics, an lrfind, or a schedule",
        positionals: [ArgumentSpec("what", .choice(["loss", "lr", "metrics", "lrfind", "schedule"]), optional: false,
                                   help: "loss: training loss per step (and its smoothing); lr: the learning rate per step; metrics: validation accuracy, F1 and loss; lrfind: the last lrfind's curve; schedule: a learning-rate schedule, no run needed")],
        options: [
            ArgumentSpec("kind", .choice(LearningRateSchedule.Kind.names), default: "cosine", help: "plot schedule: the schedule's shape"),
            ArgumentSpec("steps", .integer(min: 1, max: 1_000_000), default: "100", help: "plot schedule: optimizer steps in the run"),
            ArgumentSpec("warmup", .integer(min: 0), default: "10 (at most steps)", help: "plot schedule: steps of linear warmup from 0"),
            ArgumentSpec("lr", .number(min: 0), default: "2e-4", help: "plot schedule: the peak learning rate"),
        ],
        details: """
        loss draws the mean training loss of every step with an exponential moving average (β = 0.9, bias-corrected, \
        as TensorBoard's smoothing) and, when the run validated, the validation loss. schedule shows the learning \
        rate a train with schedule=KIND would use, as transformers' get_scheduler computes it: a teaching aid \
        that needs no model.
        """,
        example: "plot schedule kind=cosine steps=100 warmup=10 lr=2e-4\nplot schedule kind=linear steps=50 warmup=5") { call in
        let what = call.string("what")!
        if what != "schedule", let misplaced = scheduleOptions.first(where: call.has) {
            throw call.error("'\(misplaced)' is an option of plot schedule, not of plot \(what)", at: misplaced)
        }
        switch what {
        case "schedule": return try scheduleChart(call)
        case "lrfind": return try lrfindChart(call)
        default: break
        }
        guard let run = call.trainer.run else {
            throw SessionError("no training run yet to plot", hint: "train first (train epochs=1), or plot a schedule without one: plot schedule kind=cosine steps=100")
        }
        let state = run.trainer.state
        switch what {
        case "loss":
            guard !state.losses.isEmpty else { throw SessionError("the last run has no finished step yet", hint: "train resume continues it") }
            let steps = state.losses.indices.map { Double($0 + 1) }
            var series = [Series(name: "loss", x: steps, y: state.losses),
                          Series(name: "smoothed", x: steps, y: smoothed(state.losses))]
            if !state.evaluations.isEmpty {
                series.append(Series(name: "validation loss", x: state.evaluations.map { Double($0.step) },
                                     y: state.evaluations.map(\.metrics.loss), style: .lineAndPoints))
            }
            return chartOutput(LineChart(title: "Training loss", xLabel: "step", yLabel: "loss", series: series), what: what)
        case "lr":
            guard !run.learningRates.isEmpty else { throw SessionError("the last run has no finished step yet", hint: "train resume continues it") }
            let series = Series(name: "lr", x: run.learningRates.indices.map { Double($0 + 1) }, y: run.learningRates)
            return chartOutput(LineChart(title: "Learning rate", xLabel: "step", yLabel: "learning rate", series: [series]), what: what)
        default:
            guard !state.evaluations.isEmpty else {
                throw SessionError("the last run has no validation results",
                                   hint: "split with a valid part (data split train=80% valid=10% test=10%) and train with eval_every=N")
            }
            let steps = state.evaluations.map { Double($0.step) }
            let scores = LineChart(title: "Validation metrics", xLabel: "step", yLabel: "score", series: [
                Series(name: "accuracy", x: steps, y: state.evaluations.map(\.metrics.accuracy), style: .lineAndPoints),
                Series(name: "f1_macro", x: steps, y: state.evaluations.map(\.metrics.f1Macro), style: .lineAndPoints),
                Series(name: "f1_weighted", x: steps, y: state.evaluations.map(\.metrics.f1Weighted), style: .lineAndPoints),
            ])
            let loss = LineChart(title: "Validation loss", xLabel: "step", yLabel: "loss", series: [
                Series(name: "loss", x: steps, y: state.evaluations.map(\.metrics.loss), style: .lineAndPoints),
            ])
            var output = chartOutput(scores, what: what, also: [loss])
            output.json = .object([("plot", .string(what)), ("step", JSONValue(steps)),
                                   ("accuracy", JSONValue(state.evaluations.map(\.metrics.accuracy))),
                                   ("f1_macro", JSONValue(state.evaluations.map(\.metrics.f1Macro))),
                                   ("f1_weighted", JSONValue(state.evaluations.map(\.metrics.f1Weighted))),
                                   ("loss", JSONValue(state.evaluations.map(\.metrics.loss)))])
            return output
        }
    }

    /// The learning rate of every step of a schedule built from the options.
    static func scheduleChart(_ call: Invocation) throws -> Output {
        let name = call.string("kind", default: "cosine")
        let steps = call.int("steps", default: 100), warmup = call.int("warmup") ?? min(10, steps)
        let lr = call.double("lr", default: 2e-4)
        let schedule: LearningRateSchedule
        do {
            schedule = try LearningRateSchedule(kind: .init(name: name), baseRate: lr, warmup: .steps(warmup), totalSteps: steps)
        } catch {
            let culprit = ["warmup", "steps", "lr", "kind"].first(where: call.has)
            throw call.error("\(error)", at: culprit)
        }
        let rates = (0..<steps).map { schedule.rate(at: $0) }
        let chart = LineChart(title: "\(name) schedule: lr \(Render.scientific(lr)), \(warmup) warmup of \(steps) steps",
                              xLabel: "step", yLabel: "learning rate",
                              series: [Series(name: "lr", x: (0..<steps).map(Double.init), y: rates)])
        var output = chartOutput(chart, what: "schedule")
        output.json = .object([("plot", "schedule"), ("kind", .string(name)), ("steps", JSONValue(steps)), ("warmup", JSONValue(warmup)),
                               ("lr", JSONValue(lr)), ("step", JSONValue((0..<steps).map(Double.init))), ("rate", JSONValue(rates))])
        return output
    }

    /// The last lrfind: loss and smoothed loss against a log-scale learning rate, the suggestion marked.
    static func lrfindChart(_ call: Invocation) throws -> Output {
        guard let result = call.metrics.lastLRFind else {
            throw SessionError("no lrfind result to plot", hint: "run the range test first: lrfind start=1e-7 end=1 steps=100")
        }
        let rates = result.points.map(\.learningRate)
        var annotations: [Annotation] = []
        if let suggestion = result.suggestion {
            annotations.append(.verticalLine(x: suggestion, label: "suggested \(Render.scientific(suggestion))"))
        }
        let chart = LineChart(title: "Learning-rate range test", xLabel: "learning rate", yLabel: "loss", series: [
            Series(name: "loss", x: rates, y: result.points.map(\.loss), style: .points),
            Series(name: "smoothed", x: rates, y: result.points.map(\.smoothedLoss)),
        ], xScale: .log, annotations: annotations)
        var output = chartOutput(chart, what: "lrfind")
        if let suggestion = result.suggestion {
            let line = "suggested lr \(Render.scientific(suggestion)): \(result.reason)"
            output.plain += "\n" + line
            output.caption = line
        }
        output.json = .object([("plot", "lrfind"), ("lr", JSONValue(rates)), ("loss", JSONValue(result.points.map(\.loss))),
                               ("smoothed", JSONValue(result.points.map(\.smoothedLoss))),
                               ("suggestion", result.suggestion.map { JSONValue($0) } ?? .null), ("reason", .string(result.reason))])
        return output
    }

    /// A chart's text and SVG (further charts below it), with the points of every series as JSON.
    static func chartOutput(_ chart: LineChart, what: String, also more: [LineChart] = []) -> Output {
        let size = Render.textSize
        let charts = [chart] + more
        let json: JSONValue = .object([("plot", .string(what)), ("series", .array(charts.flatMap(\.series).map { series in
            .object([("name", .string(series.name)), ("x", JSONValue(series.points.map(\.x))), ("y", JSONValue(series.points.map(\.y)))])
        }))])
        if more.isEmpty { return Render.chart(chart, json: json) }
        // The first chart alone is the SVG form (woven Markdown); HTML shows them all.
        return Output(plain: charts.map { $0.text(width: size.width, height: size.height) }.joined(separator: "\n\n"),
                      html: "<div>" + charts.map { HTML.image(svg: $0.svg()) }.joined() + "</div>", svg: chart.svg(), json: json)
    }

    /// An exponential moving average with bias correction: s_t = β·s_{t−1} + (1 − β)·x_t, shown as s_t / (1 − β^t).
    static func smoothed(_ values: [Double], beta: Double = 0.9) -> [Double] {
        var average = 0.0, correction = 1.0
        return values.map { value in
            average = beta * average + (1 - beta) * value
            correction *= beta
            return average / (1 - correction)
        }
    }
}
