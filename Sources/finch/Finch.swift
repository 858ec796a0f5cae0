import ArgumentParser

/// The `finch` command line.
@main
struct Finch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finch",
        abstract: "Fine-tune Hugging Face models with LoRA on the CPU, from Jupyter or a terminal.",
        subcommands: [Repl.self, Run.self, Finetune.self, Embed.self, Tokenize.self, Bench.self, KernelCommand.self, Weave.self, Convert.self],
        defaultSubcommand: Repl.self
    )
}
