import Foundation
import FinchTensor

/// AdamW whose two moment buffers live in a memory-mapped file instead of ordinary memory. The numbers are
/// `AdamW`'s, bit for bit (the same update runs on the same values; only where the moments live differs), and
/// checkpoints are interchangeable with `AdamW`'s (`<name>.exp_avg`, `.exp_avg_sq`, `.step`).
///
/// The file is created in `folder` (default `$TMPDIR`, else /tmp), its blocks reserved up front with
/// `posix_fallocate` (so a full disk is an error now, not a SIGBUS later), mapped `MAP_SHARED`, and unlinked at
/// once: it has no name, and the kernel frees it when the mapping goes (at deinit, or when the process dies).
/// After each step (`releasesPagesAfterStep`, on by default) the mapping's pages are handed back with
/// `madvise(MADV_DONTNEED)`: for a shared file mapping that only drops them from this process's page tables,
/// the values stay in the page cache and the file.
///
/// What it saves: between steps the moments (8 bytes per trained value) are not in the process's resident
/// set, and the kernel can write them to the file and reuse the memory when RAM runs short, where ordinary
/// memory on a machine without swap cannot go anywhere (the run would be killed instead). What it costs: every
/// step faults the pages back in (cheap from the page cache; a disk read for pages the kernel dropped), the
/// kernel writes dirty pages to disk in the background (8 bytes per value per step at most), and the file
/// takes 8 bytes per value of disk. Put it on a disk (not tmpfs, whose pages can only go to swap). It does not
/// shrink weights, gradients or activations, and it gains nothing when memory is plentiful.
public final class PagedAdamW: Optimizer {
    public let kind = OptimizerAlgorithm.pagedAdamW
    public var parameters: [Parameter] { adamw.parameters }
    /// Updates taken per parameter.
    public var stepCounts: [Int] { adamw.stepCounts }
    /// Bytes of the mapped file (both moments of every parameter, each rounded up to 64 bytes).
    public let mappedBytes: Int
    /// Hand the moments' pages back to the kernel after every step (see the type's documentation).
    public var releasesPagesAfterStep = true

    private let adamw: AdamW
    private let mapping: FileMapping

    /// An optimizer for `parameters` with zero moments in a new file in `folder` (nil: `$TMPDIR`, else /tmp).
    /// Throws for a bad hyperparameter (as `AdamW`), or naming the folder when the file cannot be made or mapped.
    public init(parameters: [Parameter], weightDecay: Double = 0.01, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8, folder: String? = nil) throws {
        let layout = Self.layout(parameters.map(\.value.count))
        let directory = folder ?? ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let mapping = try FileMapping(byteCount: max(layout.total, 64), folder: directory)
        let base = mapping.base.assumingMemoryBound(to: Float.self)
        let first = zip(parameters, layout.offsets).map { Tensor(borrowing: base + $1.first / 4, shape: $0.value.shape, owner: mapping) }
        let second = zip(parameters, layout.offsets).map { Tensor(borrowing: base + $1.second / 4, shape: $0.value.shape, owner: mapping) }
        adamw = try AdamW(parameters: parameters, weightDecay: weightDecay, beta1: beta1, beta2: beta2, epsilon: epsilon,
                          firstMoments: first, secondMoments: second)
        self.mapping = mapping
        mappedBytes = mapping.byteCount
    }

    /// Byte offsets of each parameter's two moments in the file (64-byte aligned) and the file's size.
    static func layout(_ counts: [Int]) -> (offsets: [(first: Int, second: Int)], total: Int) {
        var offset = 0
        let offsets = counts.map { count -> (first: Int, second: Int) in
            let bytes = (count * 4 + 63) / 64 * 64
            defer { offset += 2 * bytes }
            return (offset, offset + bytes)
        }
        return (offsets, offset)
    }

    public func step(learningRate: Double) {
        adamw.step(learningRate: learningRate)
        if releasesPagesAfterStep { releaseResidentPages() }
    }

    /// Drops the moments' pages from this process's resident set (`madvise(MADV_DONTNEED)` on the shared
    /// mapping: the values stay in the page cache and the file; the next access faults them back in).
    public func releaseResidentPages() {
        mapping.release()
    }

    public func checkpointState() -> [String: OptimizerStateTensor] { adamw.checkpointState() }

    public func load(checkpointState: [String: OptimizerStateTensor]) throws {
        try adamw.load(checkpointState: checkpointState)
        if releasesPagesAfterStep { releaseResidentPages() }
    }

    /// Resident 0 between steps when pages are released after each step (all of the file otherwise); mapped:
    /// the file.
    public var stateBytes: OptimizerStateBytes {
        OptimizerStateBytes(resident: releasesPagesAfterStep ? 0 : mappedBytes, mapped: mappedBytes)
    }

    /// The mapping's base address (for tests that look at its resident pages).
    var mappedAddress: UnsafeMutableRawPointer { mapping.base }
}

/// A shared, writable mapping of a new, unlinked file of `byteCount` bytes, zero-filled; unmapped at deinit.
final class FileMapping {
    let base: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int, folder: String) throws {
        var template = Array((folder + "/finch-paged-adamw-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw OptimizerError("\(folder): cannot create the paged optimizer's file (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        unlink(String(cString: template))
        let reserved = posix_fallocate(descriptor, 0, off_t(byteCount))
        guard reserved == 0 else {
            throw OptimizerError("\(folder): cannot reserve \(byteCount) bytes for the paged optimizer's moments (\(String(cString: strerror(reserved))))")
        }
        guard let pointer = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0),
              pointer != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw OptimizerError("\(folder): cannot map the paged optimizer's file (\(String(cString: strerror(errno))))")
        }
        base = pointer
        self.byteCount = byteCount
    }

    /// Starts writing dirty pages back (`msync(MS_ASYNC)`) and drops the pages from the resident set.
    func release() {
        msync(base, byteCount, MS_ASYNC)
        madvise(base, byteCount, MADV_DONTNEED)
    }

    deinit { munmap(base, byteCount) }
}
