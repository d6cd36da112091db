// Dense Float32 tensors and reusable scratch buffers: the only storage type the kernels know.

import Synchronization

/// A 64-byte-aligned, manually managed block of Floats. Shared by a `Tensor` and its reshaped views,
/// so that the memory lives as long as any view does.
final class FloatStorage {
    let ptr: UnsafeMutablePointer<Float>
    let capacity: Int

    /// Zero-filled unless `zeroed` is false: callers rely on fresh tensors being zeros (padding, accumulators).
    init(capacity: Int, zeroed: Bool = true) {
        precondition(capacity >= 0, "negative capacity")
        self.capacity = capacity
        // 64 bytes = one AVX-512 vector and one cache line; at least one element so the pointer is never null.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, capacity) * 4, alignment: 64)
        if zeroed {
            raw.initializeMemory(as: Float.self, repeating: 0, count: max(1, capacity))
            ptr = raw.assumingMemoryBound(to: Float.self)
        } else {
            ptr = raw.bindMemory(to: Float.self, capacity: max(1, capacity))
        }
    }

    deinit { ptr.deallocate() }
}

/// A row-major Float32 tensor (batch-free: `[C, H, W]` images, `[rows, features]` activations).
///
/// A class, not a struct: a tensor is a large mutable buffer that the kernels write through `ptr`,
/// and copy-on-write would hide multi-megabyte copies in the hot path.
///
/// `@unchecked Sendable` because the buffer is reached through a raw pointer, which the compiler cannot
/// check. The contract: weights are written once at load time and then only read, so they may be shared by
/// any number of threads; activations belong to one session and are touched by one thread at a time.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    /// The first element. Valid while this tensor (or any view sharing its storage) is alive.
    public let ptr: UnsafeMutablePointer<Float>
    let storage: FloatStorage

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        let count = Tensor.elementCount(shape)
        self.shape = shape
        self.count = count
        storage = FloatStorage(capacity: count)
        ptr = storage.ptr
    }

    /// A tensor holding `values` (row-major), whose count must match the shape.
    public convenience init(shape: [Int], _ values: [Float]) {
        self.init(zeros: shape)
        precondition(values.count == count, "Tensor(shape: \(shape)) needs \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { ptr.update(from: $0.baseAddress!, count: count) }
    }

    /// A view on existing storage: no copy, the storage outlives the view.
    init(shape: [Int], storage: FloatStorage) {
        let count = Tensor.elementCount(shape)
        precondition(count <= storage.capacity, "view of \(count) elements on storage of \(storage.capacity)")
        self.shape = shape
        self.count = count
        self.storage = storage
        ptr = storage.ptr
    }

    /// The elements as a Swift array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: ptr, count: count)) }

    /// A deep copy with its own storage.
    public func copy() -> Tensor {
        let t = Tensor(zeros: shape)
        t.ptr.update(from: ptr, count: count)
        return t
    }

    /// The same elements seen with another shape. Shares storage (writes through either are visible to
    /// both), which is what layer code wants for `[C, H, W]` ↔ `[C, HW]` reinterpretations.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(Tensor.elementCount(newShape) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: newShape, storage: storage)
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { ptr.update(repeating: value, count: count) }

    static func elementCount(_ shape: [Int]) -> Int {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        return shape.reduce(1, *)
    }
}

/// Scratches kept between passes of one network, so that a second pass touches no new pages (a fresh 256-px
/// decode faults in ~170 MB). Each pass takes one for its duration; concurrent passes get one each.
///
/// `@unchecked Sendable`: a scratch is handed to one pass at a time, under the lock.
public final class ScratchPool: @unchecked Sendable {
    private let lock = Mutex<[Scratch]>([])

    public init() {}

    public func with<T>(_ body: (Scratch) -> T) -> T {
        let box = lock.withLock { UncheckedSendable($0.popLast()) }
        let s = box.value ?? Scratch()
        defer {
            let back = UncheckedSendable(s)
            lock.withLock { $0.append(back.value) }
        }
        return body(s)
    }
}

/// Buffers that a caller reuses between kernel calls, so that per-layer temporaries (im2col columns,
/// attention scores, resampling passes) are allocated once per session instead of once per call.
///
/// Not Sendable: one scratch belongs to one thread of work (a session), and the kernels overwrite it freely.
/// Each `Slot` is an independent buffer that only grows; contents are unspecified on every request.
public final class Scratch {
    /// Which buffer. The kernels use the named slots; callers keep their own temporaries in `.user(n)`.
    public enum Slot: Hashable, Sendable {
        case im2col, convOut, convWeights, scores
        case user(Int)
    }

    private var buffers: [Slot: FloatStorage] = [:]
    private var recycled: [FloatStorage] = []

    public init() {}

    /// A map of `shape` for a network pass, NOT zeroed (for outputs the kernels overwrite completely),
    /// reusing the storage of a map given back with `recycle` when one is large enough. Fresh memory costs a
    /// page fault per 4 KiB: a 256 px VQ-VAE decode allocating every map anew took 177k faults and 1.8 s of
    /// kernel time here; with recycling the pass touches new pages only while it grows.
    public func map(_ shape: [Int]) -> Tensor {
        let n = Tensor.elementCount(shape)
        var best: Int? = nil
        for (i, s) in recycled.enumerated() where s.capacity >= n && (best == nil || s.capacity < recycled[best!].capacity) {
            best = i
        }
        if let best { return Tensor(shape: shape, storage: recycled.remove(at: best)) }
        // The pass has outgrown the smaller maps (the decoder's resolution only rises): free them now,
        // not at the end of the pass, so that they do not add to the peak.
        recycled.removeAll { $0.capacity < n }
        return Tensor(shape: shape, storage: FloatStorage(capacity: n, zeroed: false))
    }

    /// Gives `t`'s storage back for `map`. Neither `t` nor any view of it may be used afterwards.
    public func recycle(_ t: Tensor) { recycled.append(t.storage) }

    /// At least `count` Floats in `slot`, 64-byte aligned, valid until the next request for the same slot
    /// with a larger count.
    public func floats(_ count: Int, _ slot: Slot) -> UnsafeMutablePointer<Float> {
        storage(count, slot).ptr
    }

    /// A tensor view on `slot`'s buffer. The view keeps the storage alive, but a later, larger request for
    /// the same slot moves the slot to new storage, so do not hold two live views of one slot.
    public func tensor(_ shape: [Int], _ slot: Slot) -> Tensor {
        Tensor(shape: shape, storage: storage(Tensor.elementCount(shape), slot))
    }

    /// Total Floats held, for memory reports.
    public var capacity: Int { buffers.values.reduce(0) { $0 + $1.capacity } + recycled.reduce(0) { $0 + $1.capacity } }

    private func storage(_ count: Int, _ slot: Slot) -> FloatStorage {
        if let s = buffers[slot], s.capacity >= count { return s }
        let s = FloatStorage(capacity: count)
        buffers[slot] = s
        return s
    }
}

extension Tensor {
    /// A zero tensor (spelling used by the engine).
    public convenience init(shape: [Int]) { self.init(zeros: shape) }
    public convenience init(shape: [Int], data: [Float]) { self.init(shape: shape, data) }
}
