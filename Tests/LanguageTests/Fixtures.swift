import Foundation
import FinchLanguage
import TestSupport

/// An interpreter whose relative paths resolve in ../shared/data and whose model names resolve in the
/// prepared models folder.
func makeInterpreter() -> Interpreter {
    Interpreter(workingDirectory: TestPaths.data, modelsDirectory: TestPaths.models)
}

/// 48 SST-2 dev rows split 50/50 into train and valid, all-MiniLM-L6-v2 with a 2-label head.
func sst2Session(extra: String = "") throws -> Interpreter {
    _ = try TestPaths.model("all-MiniLM-L6-v2")
    let interpreter = makeInterpreter()
    try check(run(interpreter, """
        data load "sst2/dev.tsv" text=content label=label
        data sample n=48 seed=1
        data split train=50% valid=50% test=0%
        model load "all-MiniLM-L6-v2"
        \(extra)
        """))
    return interpreter
}

/// Throws the rendered failure of a cell that should have succeeded.
func check(_ result: CellResult) throws {
    if let failure = result.failure { throw CellFailed(rendered: failure.rendered) }
}

struct CellFailed: Error, CustomStringConvertible {
    let rendered: String
    var description: String { rendered }
}

extension CellResult {
    /// The JSON form of the cell's value.
    var json: JSONValue? { value?.json }
    var plain: String { value?.plain ?? "" }
}

extension JSONValue {
    var number: Double? { if case .number(let x) = self { x } else { nil } }
    var array: [JSONValue]? { if case .array(let items) = self { items } else { nil } }
}
