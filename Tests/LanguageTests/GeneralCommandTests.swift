import Foundation
import Testing
import FinchLanguage

@Suite struct GeneralCommandTests {
    @Test func bareExpressionIsTheCellsValue() throws {
        let interpreter = makeInterpreter()
        #expect(run(interpreter, "6*7").plain == "42")
        #expect(run(interpreter, "x = 2\nx ** 10").plain == "1024")
        #expect(run(interpreter, "lr = 2e-4\nlr * 2").plain == "0.0004")
        #expect(run(interpreter, "\"a\" + \"b\"").plain == "ab")
        #expect(run(interpreter, "[1, 2] + [3]").plain == "[1, 2, 3]")
        #expect(run(interpreter, "80% * 10").plain == "8")
        #expect(run(interpreter, "7B / 1M").plain == "7000")
    }

    @Test func printWritesStreamsAndKeepsBengaliExactly() throws {
        let interpreter = makeInterpreter()
        let host = RecordingHost()
        try check(run(interpreter, "print \"আমি খুব খুশি\" \"ami khub happy 😀\"\nprint \"oops\" to=stderr", host: host))
        #expect(host.printed == "আমি খুব খুশি ami khub happy 😀\n")
        #expect(host.events.contains(.stream(toStandardError: true, text: "oops\n")))
    }

    @Test func outputsBeforeTheLastStatementAreShownAsTheyCome() throws {
        let interpreter = makeInterpreter()
        let host = RecordingHost()
        let result = run(interpreter, "seed 7\nthreads 1\n6*7", host: host)
        #expect(result.plain == "42")
        #expect(host.outputs.map(\.plain).first == "seed 7")
        #expect(host.outputs.count == 2)
    }

    @Test func variablesFeedOptionsAndCommandNamesAreReserved() throws {
        let interpreter = makeInterpreter()
        try check(run(interpreter, "s = 11\nseed s"))
        #expect(interpreter.seed == 11)
        let failure = try #require(run(interpreter, "train = 3").failure)
        #expect(failure.rendered == """
            cell[1]:1:1: error: 'train' is a command; choose another variable name
            train = 3
            ^~~~~
            """)
    }

    @Test func failingStatementStopsTheCellAndKeepsWhatCameBefore() throws {
        let interpreter = makeInterpreter()
        let result = run(interpreter, "a = 1\nb = a / 0\nc = 3")
        let failure = try #require(result.failure)
        #expect(failure.statementIndex == 1)
        #expect(failure.rendered == """
            cell[1]:2:9: error: division by zero
            b = a / 0
                    ^
            """)
        #expect(interpreter.variables["a"] == .number(1))
        #expect(interpreter.variables["c"] == nil)
    }

    @Test func misspeltCommandSuggestsTheClosest() throws {
        let failure = try #require(run(makeInterpreter(), "trian epochs=1").failure)
        #expect(failure.rendered == """
            cell[1]:1:1: error: unknown command 'trian'
            trian epochs=1
            ^~~~~
            note: did you mean 'train'?
            note: 'help' lists the commands
            """)
        let sub = try #require(run(makeInterpreter(), "data lod \"x.csv\"").failure)
        #expect(sub.rendered == """
            cell[1]:1:6: error: unknown command 'data lod'
            data lod "x.csv"
                 ^~~
            note: did you mean 'data load'?
            note: 'data' commands: data load, data show, data stats, data split, data sample, data folds
            """)
    }

    @Test func helpCoversEveryCommandAndTheQuestionMarkOpensThePager() throws {
        let interpreter = makeInterpreter()
        let overview = run(interpreter, "help").plain
        for spec in CommandTable.all { #expect(overview.contains(spec.name), "help lists \(spec.name)") }
        let lora = run(interpreter, "help lora").plain
        #expect(lora.hasPrefix("usage: lora [r=R] [alpha=ALPHA]"))
        #expect(lora.contains("an integer from 1 to 4096 (default 16)"))
        let host = RecordingHost()
        try check(run(interpreter, "lora?", host: host))
        guard case .page(let page)? = host.events.first else { Issue.record("no page event"); return }
        #expect(page.plain == lora)
    }

    @Test func everyCommandHasHelpTextAndAnExampleThatParses() throws {
        for spec in CommandTable.all {
            #expect(!spec.summary.isEmpty)
            for argument in spec.positionals + spec.options { #expect(!argument.help.isEmpty, "\(spec.name) \(argument.name)") }
            #expect(throws: Never.self) { try Parser.parse(SourceText(name: spec.name, text: spec.example)) }
            for line in spec.example.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                #expect(CommandTable.longestMatch(words) != nil || line.contains("="), "example of \(spec.name): \(line)")
            }
        }
    }

    @Test func sleepStopsWhenInterrupted() throws {
        let interpreter = makeInterpreter()
        let started = Date()
        let interrupter = interpreter.interrupter
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { interrupter.interrupt() }
        let failure = try #require(run(interpreter, "sleep 30").failure)
        #expect(failure.interrupted)
        #expect(Date().timeIntervalSince(started) < 1.5)
        #expect(run(interpreter, "6*7").plain == "42")
    }

    @Test func clearAndResetAndSessions() throws {
        let interpreter = makeInterpreter()
        let host = RecordingHost()
        try check(run(interpreter, "x = 1\nclear", host: host))
        #expect(host.events.contains(.clear))
        #expect(run(interpreter, "sessions").plain.contains("x = 1"))
        try check(run(interpreter, "reset variables"))
        #expect(interpreter.variables.isEmpty)
    }

    @Test func completionOffersCommandsKeysValuesAndPaths() throws {
        let interpreter = makeInterpreter()
        #expect(interpreter.complete("dat", cursor: 3).matches == ["data"])
        let sub = interpreter.complete("data lo", cursor: 7)
        #expect(sub.matches == ["load"])
        #expect(sub.start == 5)
        #expect(interpreter.complete("lora ta", cursor: 7).matches == ["targets="])
        #expect(interpreter.complete("train schedule=co", cursor: 17).matches.contains("cosine"))
        let path = interpreter.complete("data load \"sst2/de", cursor: 18)
        #expect(path.matches == ["sst2/dev.tsv"])
        #expect(path.start == 11)
        // Positions count Unicode scalars: a Bengali string before the cursor.
        let bengali = "print \"আমি\"\ndat"
        let result = interpreter.complete(bengali, cursor: bengali.unicodeScalars.count)
        #expect(result.matches == ["data"])
        #expect(result.start == bengali.unicodeScalars.count - 3)
    }

    @Test func inspectionShowsHelpForTheWordAtTheCursor() throws {
        let interpreter = makeInterpreter()
        #expect(interpreter.inspect("lora r=8", cursor: 2)?.plain.hasPrefix("usage: lora") == true)
        #expect(interpreter.inspect("lora alpha=8", cursor: 7)?.plain.hasPrefix("lora alpha=…") == true)
        #expect(interpreter.inspect("zzz", cursor: 1) == nil)
    }

    @Test func hugeAndNonWholeNumbersAreErrorsNotCrashes() throws {
        let interpreter = makeInterpreter()
        #expect(run(interpreter, "data sample n=1e30").failure?.diagnostic.message == "'n' is too large: 1e+30")
        #expect(run(interpreter, "data show n=1.5").failure?.diagnostic.message == "'n' expects a whole number, not 1.5")
        #expect(run(interpreter, "x = \"ab\" * 1e12").failure?.diagnostic.message == "a repeated string may hold at most 10,000,000 characters")
    }

    @Test func printNeedsKnownVariablesAndTakesNegativeNumbers() throws {
        let interpreter = makeInterpreter()
        let host = RecordingHost()
        try check(run(interpreter, "lr = 2e-4\nprint -1 lr", host: host))
        #expect(host.printed == "-1 0.0002\n")
        let failure = try #require(run(interpreter, "print lrr").failure)
        #expect(failure.diagnostic.message == "unknown variable 'lrr'")
        #expect(failure.diagnostic.notes == ["did you mean 'lr'?"])
    }
}
