import Foundation

/// Writes a folder all at once: its files go into a temporary folder beside it, which then takes the
/// folder's place in one step (Linux `renameat2(RENAME_EXCHANGE)` swaps the two; elsewhere the old one is
/// set aside first). A crash at any moment leaves either the previous folder or the new one under the
/// name, never a mix; leftovers of a killed writer (`.NAME.tmp-PID`) are removed by the next write.
public enum AtomicFolder {
    /// Fills a temporary folder with `fill` and swaps it in as `folder`. With `keepingOtherFiles`, entries of
    /// the previous folder that `fill` did not write are carried over (hard links, or copies across devices).
    public static func write(_ folder: URL, keepingOtherFiles: Bool = false, _ fill: (URL) throws -> Void) throws {
        let manager = FileManager.default
        let parent = folder.deletingLastPathComponent()
        do {
            try manager.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(parent, "cannot create the folder (\(error.localizedDescription))")
        }
        let prefix = ".\(folder.lastPathComponent)"
        StaleTemporaries.remove(in: parent, prefix: prefix)
        let temporary = parent.appendingPathComponent("\(prefix).tmp-\(getpid())")
        try? manager.removeItem(at: temporary)
        guard mkdir(temporary.path, 0o755) == 0 else {
            throw CheckpointError(temporary, "cannot create the folder (\(String(cString: strerror(errno))))")
        }
        do {
            try fill(temporary)
            if keepingOtherFiles { try carryOver(from: folder, into: temporary) }
            FaultInjection.reached(.folderBeforeSwap, destination: folder)
            try swapIn(temporary, as: folder)
        } catch let error as CheckpointError where error.path.hasPrefix(temporary.path + "/") {
            try? manager.removeItem(at: temporary)
            // Name the file where the user asked for it, not inside the temporary folder.
            throw CheckpointError(folder.path + error.path.dropFirst(temporary.path.count), error.problem)
        } catch {
            try? manager.removeItem(at: temporary)
            throw error
        }
        try? manager.removeItem(at: temporary)  // the previous folder, after an exchange
    }

    /// Links (or copies) into `temporary` every entry of `folder` that is not there yet.
    private static func carryOver(from folder: URL, into temporary: URL) throws {
        let manager = FileManager.default
        let written = Set((try? manager.contentsOfDirectory(atPath: temporary.path)) ?? [])
        for name in (try? manager.contentsOfDirectory(atPath: folder.path)) ?? [] where !written.contains(name) {
            let source = folder.appendingPathComponent(name), target = temporary.appendingPathComponent(name)
            if link(source.path, target.path) == 0 { continue }
            do { try manager.copyItem(at: source, to: target) } catch {
                throw CheckpointError(source, "cannot keep this file in the rewritten folder (\(error.localizedDescription))")
            }
        }
    }

    /// Puts `temporary` at `folder`; afterwards `temporary` holds the previous folder (if any) or nothing.
    private static func swapIn(_ temporary: URL, as folder: URL) throws {
        var status = stat()
        guard stat(folder.path, &status) == 0 else {
            guard rename(temporary.path, folder.path) == 0 else {
                throw CheckpointError(folder, "cannot move the finished folder into place (\(String(cString: strerror(errno))))")
            }
            return
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else { throw CheckpointError(folder, "is a file, not a folder") }
        if let exchange = renameExchange, exchange(AT_FDCWD, temporary.path, AT_FDCWD, folder.path, 2 /* RENAME_EXCHANGE */) == 0 {
            return
        }
        // No atomic exchange on this file system: set the old folder aside, move the new one in, restore on failure.
        let aside = folder.deletingLastPathComponent().appendingPathComponent(".\(folder.lastPathComponent).tmp-\(getpid())-old")
        guard rename(folder.path, aside.path) == 0 else {
            throw CheckpointError(folder, "cannot replace the existing folder (\(String(cString: strerror(errno))))")
        }
        guard rename(temporary.path, folder.path) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = rename(aside.path, folder.path)
            throw CheckpointError(folder, "cannot move the finished folder into place (\(reason)); the previous one is unchanged")
        }
        _ = rename(aside.path, temporary.path)
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32

    /// glibc's renameat2 (2.28+), looked up at run time so the build does not depend on its declaration.
    private static let renameExchange: RenameAt2? = {
        guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
    }()
}

/// Temporary files and folders (`.NAME.tmp-PID…`) left by writers that were killed.
public enum StaleTemporaries {
    /// Removes the entries of `folder` whose name starts with `prefix` and goes on with `….tmp-PID…`, when
    /// process PID no longer runs.
    public static func remove(in folder: URL, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let marker = name.range(of: ".tmp-", range: name.index(name.startIndex, offsetBy: prefix.count)..<name.endIndex) else { continue }
            let digits = name[marker.upperBound...].prefix { $0.isNumber }
            guard let pid = pid_t(digits), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
    }
}
