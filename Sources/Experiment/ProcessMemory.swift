import CMalloc
import Foundation

/// This process's memory as the kernel counts it (Linux /proc), for `memory`: what is resident now, the
/// peak so far, and how much of it is pages of memory-mapped checkpoint files.
public struct ProcessMemory: Sendable, Equatable {
    /// Resident set size now (VmRSS), bytes.
    public let resident: Int
    /// The highest resident set size so far (VmHWM), bytes.
    public let peak: Int
    /// Resident pages of mapped checkpoint files (*.safetensors, *.gguf), summed from /proc/self/smaps.
    public let mappedCheckpoints: Int

    /// Heap bytes the allocator holds free (glibc's mallinfo2 `fordblks`): memory an earlier run freed that
    /// stays resident and is reused by the next allocations, so the next run does not add it again.
    public let allocatorFree: Int

    public init(resident: Int, peak: Int, mappedCheckpoints: Int, allocatorFree: Int = 0) {
        self.resident = resident
        self.peak = peak
        self.mappedCheckpoints = mappedCheckpoints
        self.allocatorFree = allocatorFree
    }

    /// Reads /proc/self/status, /proc/self/smaps and the allocator's statistics; zeros where /proc is
    /// missing (not Linux).
    public static func current() -> ProcessMemory {
        let status = readAll("/proc/self/status"), smaps = readAll("/proc/self/smaps")
        let free = Int(mallinfo2().fordblks)
        return ProcessMemory(resident: kilobytes(of: "VmRSS", in: status) * 1024, peak: kilobytes(of: "VmHWM", in: status) * 1024,
                             mappedCheckpoints: mappedResident(smaps: smaps, suffixes: [".safetensors", ".gguf"]), allocatorFree: free)
    }

    /// Gives the heap the allocator holds free back to the operating system (glibc's malloc_trim), so a run
    /// that starts after another one is measured from what the process really needs, not from buffers the
    /// allocator kept and may not reuse for differently sized requests.
    public static func returnFreedHeap() {
        malloc_trim(0)
    }

    /// Bytes this process can still grow by before memory runs out: the system's MemAvailable, lowered to
    /// what is left under the process's cgroup limit (memory.max less memory.current) when one is set, and
    /// to `FINCH_MEMORY_LIMIT` (bytes, or a number with KB/MB/GB/KiB/MiB/GiB) less the resident size when
    /// that is set. Nil where none of them can be read (not Linux).
    public static func availableToGrow(resident: Int = current().resident,
                                       environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        var limits: [Int] = []
        let memoryInfo = readAll("/proc/meminfo")
        if memoryInfo.contains("MemAvailable:") { limits.append(kilobytes(of: "MemAvailable", in: memoryInfo) * 1024) }
        let cgroupMax = readAll("/sys/fs/cgroup/memory.max").trimmingCharacters(in: .whitespacesAndNewlines)
        let cgroupCurrent = readAll("/sys/fs/cgroup/memory.current").trimmingCharacters(in: .whitespacesAndNewlines)
        if let max = Int(cgroupMax), let used = Int(cgroupCurrent) { limits.append(Swift.max(0, max - used)) }
        if let text = environment["FINCH_MEMORY_LIMIT"], let limit = byteCount(text) { limits.append(Swift.max(0, limit - resident)) }
        return limits.min()
    }

    /// "8GB", "512 MiB", "1500000000" as bytes; nil when it is not a size.
    public static func byteCount(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Double)] = [("KIB", 1024), ("MIB", 1_048_576), ("GIB", 1_073_741_824), ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("B", 1)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            guard let number = Double(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), number >= 0 else { return nil }
            return Int(number * scale)
        }
        guard let number = Double(trimmed), number >= 0 else { return nil }
        return Int(number)
    }

    /// The whole of a /proc file. (Foundation's String(contentsOfFile:) stops after the first read, about
    /// 4 kB: /proc files report a size of 0.) Empty when it cannot be opened.
    static func readAll(_ path: String) -> String {
        guard let file = fopen(path, "r") else { return "" }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The value of a "Key:   1234 kB" line of /proc/…/status, in kB (0 when absent).
    static func kilobytes(of key: String, in status: String) -> Int {
        for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2, let value = Int(fields[1]) { return value }
        }
        return 0
    }

    /// Sum of the Rss lines of the mappings whose path ends with one of `suffixes`, in bytes. smaps lists
    /// each mapping as a header line ("start-end perms offset dev inode path") followed by "Key: N kB" lines.
    static func mappedResident(smaps: String, suffixes: [String]) -> Int {
        var total = 0
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), !first.hasSuffix(":") {
                // A mapping header: the path, if any, is the sixth field onwards.
                let path = fields.count >= 6 ? fields[5...].joined(separator: " ") : ""
                inside = suffixes.contains { path.hasSuffix($0) }
            } else if inside, first == "Rss:", fields.count >= 2, let kB = Int(fields[1]) {
                total += kB * 1024
            }
        }
        return total
    }
}
