import COpenBLAS

/// A dense Float32 array with a shape, owning 64-byte-aligned memory.
///
/// A reference type on purpose: activations and weights are large and are passed to BLAS by pointer, so
/// copies must be explicit (`copy()`), never implicit copy-on-write. `@unchecked Sendable` because a tensor
/// is immutable after loading (weights) or owned by one session at a time (activations).
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let ptr: UnsafeMutablePointer<Float>

    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        ptr = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        ptr.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(shape: [Int], data: [Float]) {
        self.init(shape: shape)
        precondition(data.count == count, "data has \(data.count) values, shape \(shape) needs \(count)")
        data.withUnsafeBufferPointer { ptr.update(from: $0.baseAddress!, count: count) }
    }

    deinit { ptr.deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: ptr, count: count)) }

    public func copy() -> Tensor {
        let t = Tensor(shape: shape)
        t.ptr.update(from: ptr, count: count)
        return t
    }

    /// A copy with another shape of the same size.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        let t = Tensor(shape: newShape)
        t.ptr.update(from: ptr, count: count)
        return t
    }

    public subscript(i: Int) -> Float {
        get { ptr[i] }
        set { ptr[i] = newValue }
    }
}

/// OpenBLAS's thread pool.
public enum Threads {
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    public static var count: Int { Int(openblas_get_num_threads()) }
}
