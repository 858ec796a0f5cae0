import Foundation

/// Finch's Jupyter kernelspec: `kernel.json` plus the two logos, and where `finch kernel install`
/// puts them.
public enum KernelSpec {
    /// The kernel's name: the folder under `kernels/` and what `--kernel finch` selects.
    public static let name = "finch"

    /// Where a kernelspec goes, as `jupyter kernelspec install` understands it.
    public enum Destination: Sendable, Equatable {
        /// The user's Jupyter data directory: `$JUPYTER_DATA_DIR`, else `$XDG_DATA_HOME/jupyter`,
        /// else `~/.local/share/jupyter` (`~/Library/Jupyter` on macOS).
        case user
        /// `PREFIX/share/jupyter`.
        case prefix(String)
        /// The active Python environment's prefix (`$VIRTUAL_ENV`, else `$CONDA_PREFIX`).
        case sysPrefix
    }

    /// The `kernel.json` (indented JSON text) of a kernel started as
    /// `executable kernel --connection-file FILE`, interrupted by `interrupt_request` messages.
    public static func kernelJSON(executable: String, displayName: String = "Finch") -> String {
        let object: [String: Any] = [
            "argv": [executable, "kernel", "--connection-file", "{connection_file}"],
            "display_name": displayName,
            "language": "finch",
            "interrupt_mode": "message",
            "metadata": ["debugger": false],
        ]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The logos as PNG bytes, keyed by file name (`logo-32x32.png`, `logo-64x64.png`).
    public static var logos: [String: Data] {
        [
            "logo-32x32.png": Data(base64Encoded: KernelLogos.png32, options: .ignoreUnknownCharacters)!,
            "logo-64x64.png": Data(base64Encoded: KernelLogos.png64, options: .ignoreUnknownCharacters)!,
        ]
    }

    /// The `share/jupyter` folder of `destination` (its `kernels/` holds kernelspecs).
    /// - Throws: `KernelSpecError` for `.sysPrefix` outside a Python environment.
    public static func dataDirectory(
        for destination: Destination, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(KernelSpecError) -> URL {
        func nonEmpty(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        switch destination {
        case .user:
            if let path = nonEmpty("JUPYTER_DATA_DIR") { return URL(fileURLWithPath: path) }
            let home = nonEmpty("HOME").map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
            #if os(macOS)
            return home.appendingPathComponent("Library/Jupyter")
            #else
            let dataHome = nonEmpty("XDG_DATA_HOME").map { URL(fileURLWithPath: $0) } ?? home.appendingPathComponent(".local/share")
            return dataHome.appendingPathComponent("jupyter")
            #endif
        case .prefix(let prefix):
            return URL(fileURLWithPath: prefix).appendingPathComponent("share/jupyter")
        case .sysPrefix:
            guard let prefix = nonEmpty("VIRTUAL_ENV") ?? nonEmpty("CONDA_PREFIX") else {
                throw KernelSpecError(reason: "--sys-prefix needs an active Python environment ($VIRTUAL_ENV or $CONDA_PREFIX)")
            }
            return URL(fileURLWithPath: prefix).appendingPathComponent("share/jupyter")
        }
    }

    /// Writes the kernelspec (`kernel.json` naming `executable`, and the logos) into
    /// `DATA/kernels/NAME` for `destination`, replacing an older one; returns that folder.
    /// - Throws: `KernelSpecError` when the folder or a file cannot be written.
    @discardableResult
    public static func install(
        executable: String, destination: Destination, name: String = KernelSpec.name, displayName: String = "Finch",
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(KernelSpecError) -> URL {
        let folder = try dataDirectory(for: destination, environment: environment).appendingPathComponent("kernels/\(name)")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(kernelJSON(executable: executable, displayName: displayName).utf8)
                .write(to: folder.appendingPathComponent("kernel.json"), options: .atomic)
            for (file, bytes) in logos {
                try bytes.write(to: folder.appendingPathComponent(file), options: .atomic)
            }
        } catch {
            throw KernelSpecError(reason: "cannot write \(folder.path): \(error.localizedDescription)")
        }
        return folder
    }
}

/// A kernelspec that cannot be installed.
public struct KernelSpecError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
