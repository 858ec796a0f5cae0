import Foundation

/// A contiguous, row-major fp32 tensor.
///
/// Storage is either owned (allocated 64-byte aligned, zeroed) or borrowed from an owner that keeps the
/// memory alive, such as a memory-mapped checkpoint file. Borrowed storage may be read-only pages:
/// call `makeWritable()` before writing into a tensor you did not allocate.
public final class Tensor: @unchecked Sendable {
    /// Dimensions, outermost first.
    public let shape: [Int]
    /// Number of elements (product of `shape`).
    public let count: Int
    /// The first element.
    public private(set) var data: UnsafeMutablePointer<Float>
    private var ownsStorage: Bool
    private var owner: AnyObject?

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = Tensor.allocate(count)
        self.ownsStorage = true
        self.owner = nil
    }

    /// A tensor holding `values`, which must have `shape`'s element count.
    public convenience init(_ values: [Float], shape: [Int]) {
        self.init(zeros: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A tensor viewing memory that `owner` keeps alive (no copy).
    public init(borrowing pointer: UnsafeMutablePointer<Float>, shape: [Int], owner: AnyObject) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = pointer
        self.ownsStorage = false
        self.owner = owner
    }

    deinit {
        if ownsStorage { free(data) }
    }

    /// For a tensor borrowing a checkpoint's memory-mapped weights: tells the kernel that its whole pages
    /// are no longer needed, so they leave the resident set (read again from the file if ever touched).
    /// Called when a layer's fp32 weight is replaced (4-bit quantization); owned storage is left alone.
    public func releaseMappedPages() {
        guard !ownsStorage, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: UnsafeRawPointer(data))
        let first = (start + page - 1) / page * page
        let last = (start + count * MemoryLayout<Float>.stride) / page * page
        if last > first, let base = UnsafeMutableRawPointer(bitPattern: first) {
            madvise(base, last - first, Int32(MADV_DONTNEED))
        }
    }

    /// Whether the storage was allocated by this tensor (and so may be written).
    public var isOwned: Bool { ownsStorage }

    /// Copies borrowed storage into owned memory, so the tensor can be written (e.g. merged into).
    public func makeWritable() {
        guard !ownsStorage else { return }
        let copy = Tensor.allocate(count)
        copy.update(from: data, count: count)
        data = copy
        ownsStorage = true
        owner = nil
    }

    /// The elements as an array (copies).
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Element access by flat index.
    @inlinable public subscript(index: Int) -> Float {
        get { data[index] }
        set { data[index] = newValue }
    }

    /// A deep copy with owned storage.
    public func copy() -> Tensor {
        let result = Tensor(zeros: shape)
        result.data.update(from: data, count: count)
        return result
    }

    /// Bytes held by this tensor's storage.
    public var byteCount: Int { count * MemoryLayout<Float>.stride }

    static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let status = posix_memalign(&raw, 64, bytes)
        precondition(status == 0 && raw != nil, "out of memory allocating \(bytes) bytes")
        memset(raw!, 0, bytes)
        return raw!.bindMemory(to: Float.self, capacity: max(count, 1))
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = (0..<min(count, 6)).map { String(format: "%.5g", data[$0]) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(preview)\(count > 6 ? ", …" : "")])"
    }
}
