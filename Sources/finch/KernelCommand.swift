import ArgumentParser
import FinchKernel
import FinchREPL
import Foundation

/// `finch kernel`: Finch as a Jupyter kernel, and `finch kernel install` for its kernelspec.
struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel",
        abstract: "Run Finch as a Jupyter kernel.",
        discussion: """
        Jupyter starts the kernel itself, with the connection file it wrote, once the kernelspec is \
        installed: run `finch kernel install`, then choose the Finch kernel in JupyterLab, Notebook, \
        VS Code or `jupyter console --kernel finch`. Cell history is kept in $FINCH_HISTORY_FILE \
        (default ~/.local/share/finch/history.jsonl).
        """,
        subcommands: [KernelInstall.self])

    @Option(name: [.customLong("connection-file"), .customShort("f")], help: "The connection file Jupyter wrote for this kernel.")
    var connectionFile: String?

    func run() throws {
        guard let connectionFile else {
            throw ValidationError("""
                missing --connection-file: Jupyter starts the kernel with the connection file it wrote.
                Run `finch kernel install` once, then choose the Finch kernel in Jupyter (or run \
                `jupyter console --kernel finch`).
                """)
        }
        let interpreter = try makeKernelInterpreter()
        let server = try KernelServer(connectionFile: URL(fileURLWithPath: connectionFile), interpreter: interpreter)
        // SIGINT (a terminal's Ctrl-C, `kill -INT`) interrupts the running cell instead of ending the kernel.
        let interruptSignal = InterruptSignal { server.interrupt() }
        server.stopWhenOrphaned()
        _ = withExtendedLifetime(interruptSignal) { server.run() }
        // A cell that ignored the interrupt must not keep the process alive after the shutdown reply.
        Foundation.exit(0)
    }
}

/// `finch kernel install`: writes the kernelspec that lets Jupyter start `finch kernel`.
struct KernelInstall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Install the Finch kernelspec, so that Jupyter lists the Finch kernel.",
        discussion: """
        Writes kernel.json (which starts this finch binary, by its absolute path) and the logos to \
        KERNELS/finch, where KERNELS is the kernels folder of the user's Jupyter data directory (the \
        default), of PREFIX/share/jupyter (--prefix), or of the active Python environment (--sys-prefix).
        """)

    @Flag(help: "Install for the current user (the default).") var user = false
    @Option(help: "Install under PREFIX/share/jupyter/kernels.") var prefix: String?
    @Flag(help: "Install into the active Python environment ($VIRTUAL_ENV or $CONDA_PREFIX).") var sysPrefix = false
    @Option(help: "The kernel's name (its folder).") var name = KernelSpec.name
    @Option(help: "The name Jupyter shows.") var displayName = "Finch"

    func validate() throws {
        if [user, prefix != nil, sysPrefix].filter({ $0 }).count > 1 {
            throw ValidationError("choose one of --user, --prefix and --sys-prefix")
        }
        if name.isEmpty || name.contains("/") { throw ValidationError("--name must be a plain folder name") }
    }

    func run() throws {
        let destination: KernelSpec.Destination = prefix.map { .prefix($0) } ?? (sysPrefix ? .sysPrefix : .user)
        let folder = try KernelSpec.install(
            executable: currentExecutablePath(), destination: destination, name: name, displayName: displayName)
        print("Installed the \(displayName) kernelspec in \(folder.path)")
    }
}

/// The absolute path of the running `finch` binary.
private func currentExecutablePath() -> String {
    #if os(Linux)
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
    #endif
    if let path = Bundle.main.executableURL?.resolvingSymlinksInPath().path { return path }
    return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
}
