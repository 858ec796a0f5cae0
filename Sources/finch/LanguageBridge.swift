import Foundation
import FinchKernel
import FinchLanguage

/// The Finch language as the Jupyter kernel sees it: cells run by the interpreter, events published
/// through the kernel's execution context as MIME bundles.
final class LanguageKernel: KernelInterpreter {
    let interpreter = Interpreter()

    var languageInfo: KernelLanguageInfo {
        KernelLanguageInfo(
            name: "finch", version: FinchVersion.current, mimetype: "text/x-finch", fileExtension: ".finch",
            pygmentsLexer: "text", codemirrorMode: "shell", implementation: "finch", implementationVersion: FinchVersion.current,
            banner: "Finch \(FinchVersion.current): LoRA, QLoRA and full fine-tuning on the CPU. `help` lists the commands; COMMAND? opens help.",
            helpLinks: [("PEFT: LoRA and its variants", "https://huggingface.co/docs/peft/main/en/developer_guides/lora"),
                        ("Jupyter messaging protocol", "https://jupyter-client.readthedocs.io/en/latest/messaging.html")])
    }

    func execute(_ code: String, context: ExecutionContext) -> ExecutionOutcome {
        let host = KernelHost(context)
        let result = interpreter.run(SourceText(name: "cell[\(context.executionCount)]", text: code), host: host)
        if let failure = result.failure {
            return .error(name: failure.interrupted ? "Interrupted" : "FinchError", value: failure.diagnostic.message,
                          traceback: failure.rendered.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        }
        return .ok(result: result.value.map(MimeBundle.init))
    }

    func complete(_ code: String, cursor: Int) -> CompletionResult {
        let completions = interpreter.complete(code, cursor: cursor)
        return CompletionResult(matches: completions.matches, cursorStart: completions.start, cursorEnd: completions.end)
    }

    func inspect(_ code: String, cursor: Int, detailLevel: Int) -> MimeBundle? {
        interpreter.inspect(code, cursor: cursor).map(MimeBundle.init)
    }

    func isComplete(_ code: String) -> Completeness {
        switch interpreter.isComplete(code) {
        case .complete: .complete
        case .incomplete(let indent): .incomplete(indent: indent)
        case .invalid: .invalid
        }
    }

    func interrupt() { interpreter.interrupt() }
}

/// Publishes a running cell's events: outputs as display_data, progress as one display updated in place.
final class KernelHost: LanguageHost {
    private let context: ExecutionContext
    private var shownDisplays: Set<String> = []

    init(_ context: ExecutionContext) { self.context = context }

    func emit(_ event: LanguageEvent) {
        switch event {
        case .output(let output):
            context.display(MimeBundle(output), displayID: nil)
        case let .stream(toStandardError, text):
            context.stream(toStandardError ? .stderr : .stdout, text)
        case let .progress(id, output, _):
            if shownDisplays.insert(id).inserted {
                context.display(MimeBundle(output), displayID: id)
            } else {
                context.updateDisplay(MimeBundle(output), displayID: id)
            }
        case .clear:
            context.clearOutput(wait: false)
        case .page(let output):
            context.page(MimeBundle(output))
        }
    }

    func readLine(prompt: String) throws -> String {
        guard context.allowStdin else {
            throw InputUnavailable(reason: "this front end does not accept input (allow_stdin is false)")
        }
        return try context.input(prompt: prompt, password: false)
    }
}

extension MimeBundle {
    /// The MIME type of an output's JSON form. Not `application/json`: JupyterLab's JSON viewer outranks
    /// text/html and image/svg+xml, so every table and chart would show as a JSON tree. A vendor type keeps
    /// the data in the notebook for programs (nbclient, nbformat) while front ends show the rich form.
    static let finchJSONType = "application/vnd.finch+json"

    /// text/plain always; text/html, image/svg+xml and the JSON form where the output has them.
    init(_ output: Output) {
        var data = ["text/plain": output.plain]
        if let html = output.html { data["text/html"] = html }
        if let svg = output.svg { data["image/svg+xml"] = svg }
        if let json = output.json { data[Self.finchJSONType] = json.text }
        self.init(data)
    }
}

/// The kernel's interpreter (called by `finch kernel`).
func makeKernelInterpreter() throws -> KernelInterpreter { LanguageKernel() }

/// Finch's version, as kernel_info and the REPL banner show it.
enum FinchVersion {
    static let current = "0.2.0"
}
