import ScalewiseKernels

/// A read-only bag of named tensors: a `.safetensors` file or a PyTorch `.pth` checkpoint.
/// Models ask for weights by their official names and get a one-line error naming the key and the
/// file when one is missing or misshapen.
///
/// Our int8 convention: a tensor stored as I8 with a sibling `<key>.qscale` (F32 or F16, one value per
/// first-dimension row) means `w[r, …] = q[r, …] · scale[r]`. `floats` dequantizes transparently and
/// the `.qscale` siblings are hidden from `keys`.
public protocol WeightSource: Sendable {
    var path: String { get }
    /// Tensor names in file order, `.qscale` siblings excluded.
    var keys: [String] { get }
    var metadata: [String: String] { get }
    func has(_ key: String) -> Bool
    func shape(_ key: String) throws -> [Int]
    /// The stored element type (I8 for a quantized tensor, even though `floats` dequantizes it).
    func dtype(_ key: String) throws -> DType
    /// Contiguous row-major F32 values, converted from any stored dtype (and dequantized).
    func floats(_ key: String) throws -> [Float]
    /// Integer and bool tensors (buffers such as `lvl_1L`); floating-point tensors are an error.
    func ints(_ key: String) throws -> [Int]
    /// The precision linear layers built from this source hold their weights in (fp32 for a plain file;
    /// `PrecisionWeights` sets another).
    var linearPrecision: Precision { get }
}

public extension WeightSource {
    var linearPrecision: Precision { .fp32 }

    func expect(_ key: String, shape expected: [Int]) throws {
        let actual = try shape(key)
        guard actual == expected else {
            throw WeightsError(.wrongShape, file: path, key: key, "shape \(actual), expected \(expected)")
        }
    }

    func floats(_ key: String, shape expected: [Int]) throws -> [Float] {
        try expect(key, shape: expected)
        return try floats(key)
    }
}

/// One tensor's location. Bounds are validated when the entry is built, so reading never leaves the map.
struct TensorEntry: Sendable {
    let dtype: DType
    let shape: [Int]
    let numel: Int
    let file: MappedFile
    /// Byte offset of element [0, …, 0].
    let byteOffset: Int
    /// Element strides; nil means contiguous row-major.
    let strides: [Int]?
    /// Bytes from `byteOffset` that the tensor may touch (all of them validated to lie in the file).
    let spanBytes: Int

    /// Calls `body` with the tensor's contiguous bytes: a view into the map, or a gathered copy when
    /// the tensor is a strided view (torch saves `.t()` and slices as views of a larger storage).
    func withContiguousBytes<R>(key: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let region = file.bytes(byteOffset, spanBytes) else {
            throw WeightsError(.badOffsets, file: file.path, key: key, "data lies outside the file")
        }
        guard let strides, numel > 0 else { return try body(region) }
        let size = dtype.size
        var out = [UInt8](repeating: 0, count: numel * size)
        var index = [Int](repeating: 0, count: shape.count)
        var element = 0
        out.withUnsafeMutableBytes { dst in
            for e in 0..<numel {
                dst.baseAddress!.advanced(by: e * size).copyMemory(from: region.baseAddress!.advanced(by: element * size), byteCount: size)
                var d = shape.count - 1
                while d >= 0 {
                    index[d] += 1
                    element += strides[d]
                    if index[d] < shape[d] { break }
                    element -= strides[d] * shape[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return try out.withUnsafeBytes(body)
    }
}

/// The shared lookup/convert logic behind both file formats.
struct TensorTable: Sendable {
    let path: String
    let entries: [String: TensorEntry]
    let keys: [String]

    /// Later duplicates replace earlier ones, as assigning into a Python dict does.
    init(path: String, ordered: [(String, TensorEntry)]) {
        self.path = path
        var entries: [String: TensorEntry] = [:]
        var order: [String] = []
        for (k, e) in ordered {
            if entries.updateValue(e, forKey: k) == nil { order.append(k) }
        }
        self.entries = entries
        keys = order.filter { k in
            guard k.hasSuffix(".qscale") else { return true }
            return entries[String(k.dropLast(".qscale".count))]?.dtype != .i8
        }
    }

    func entry(_ key: String) throws -> TensorEntry {
        guard let e = entries[key] else { throw WeightsError(.missingKey, file: path, key: key, "not found") }
        return e
    }

    func floats(_ key: String) throws -> [Float] {
        let e = try entry(key)
        var values = try e.withContiguousBytes(key: key) { ElementCodec.floats($0, e.dtype, count: e.numel) }
        e.file.release(e.byteOffset, e.spanBytes)
        guard e.dtype == .i8, let s = entries[key + ".qscale"] else { return values }
        guard s.dtype == .f32 || s.dtype == .f16 else {
            throw WeightsError(.wrongDType, file: path, key: key + ".qscale", "dtype \(s.dtype), expected F32 or F16")
        }
        guard let rows = e.shape.first, s.numel == rows else {
            throw WeightsError(.wrongShape, file: path, key: key + ".qscale",
                               "shape \(s.shape) does not give one scale per row of \(e.shape)")
        }
        let scale = try s.withContiguousBytes(key: key + ".qscale") { ElementCodec.floats($0, s.dtype, count: s.numel) }
        let rowLength = rows == 0 ? 0 : e.numel / rows
        for r in 0..<rows {
            for i in r * rowLength ..< (r + 1) * rowLength { values[i] *= scale[r] }
        }
        return values
    }

    func ints(_ key: String) throws -> [Int] {
        let e = try entry(key)
        let values = try e.withContiguousBytes(key: key) { ElementCodec.ints($0, e.dtype, count: e.numel) }
        guard let values else {
            throw WeightsError(.wrongDType, file: path, key: key, "dtype \(e.dtype) is not an integer type")
        }
        return values
    }
}

/// A weight source whose linear layers load in `precision` (all else unchanged).
public struct PrecisionWeights: WeightSource {
    let base: WeightSource
    public let linearPrecision: Precision

    public init(_ base: WeightSource, precision: Precision) {
        self.base = base
        linearPrecision = precision
    }

    public var path: String { base.path }
    public var keys: [String] { base.keys }
    public var metadata: [String: String] { base.metadata }
    public func has(_ key: String) -> Bool { base.has(key) }
    public func shape(_ key: String) throws -> [Int] { try base.shape(key) }
    public func dtype(_ key: String) throws -> DType { try base.dtype(key) }
    public func floats(_ key: String) throws -> [Float] { try base.floats(key) }
    public func ints(_ key: String) throws -> [Int] { try base.ints(key) }
}
