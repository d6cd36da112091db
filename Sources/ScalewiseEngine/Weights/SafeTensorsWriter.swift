/// Builds a `.safetensors` file. Tensor data may be given eagerly or as a closure that is called once,
/// at write time, so converting a multi-gigabyte checkpoint holds one tensor in memory at a time.
/// The output is published atomically (see `AtomicFile`) and never replaces a file unless asked to.
public struct SafeTensorsWriter {
    private enum Payload {
        case floats([Float])
        case lazyFloats(() throws -> [Float])
        case lazyBytes(() throws -> [UInt8])
    }

    private struct Item {
        let name: String
        let dtype: DType
        let shape: [Int]
        let byteCount: Int
        let payload: Payload
    }

    public var metadata: [String: String]
    private var items: [Item] = []
    private var names = Set<String>()

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    public var count: Int { items.count }

    /// Stores `values` (row-major, `shape`) as F32, F16 or BF16.
    public mutating func add(_ name: String, shape: [Int], values: [Float], as dtype: DType = .f32) throws {
        let n = try append(name, shape: shape, dtype: dtype, floatOnly: true, payload: .floats(values))
        guard n == values.count else {
            items.removeLast()
            names.remove(name)
            throw WeightsError(.badArgument, file: "(writer)", key: name, "\(values.count) values for shape \(shape)")
        }
    }

    /// Like `add`, but `values` is only called during `write`.
    public mutating func add(_ name: String, shape: [Int], as dtype: DType = .f32, values: @escaping () throws -> [Float]) throws {
        _ = try append(name, shape: shape, dtype: dtype, floatOnly: true, payload: .lazyFloats(values))
    }

    /// Raw little-endian element bytes of any dtype (integer buffers are copied, not converted).
    public mutating func add(_ name: String, shape: [Int], dtype: DType, bytes: @escaping () throws -> [UInt8]) throws {
        _ = try append(name, shape: shape, dtype: dtype, floatOnly: false, payload: .lazyBytes(bytes))
    }

    private mutating func append(_ name: String, shape: [Int], dtype: DType, floatOnly: Bool, payload: Payload) throws -> Int {
        func fail(_ detail: String) -> WeightsError { WeightsError(.badArgument, file: "(writer)", key: name, detail) }
        guard !name.isEmpty, name != "__metadata__" else { throw fail("reserved or empty name") }
        guard !floatOnly || [.f32, .f16, .bf16].contains(dtype) else { throw fail("cannot store floats as \(dtype)") }
        guard let numel = Checked.numel(shape), let bytes = Checked.mul(numel, dtype.size) else {
            throw fail("invalid shape \(shape)")
        }
        guard names.insert(name).inserted else { throw fail("added twice") }
        items.append(Item(name: name, dtype: dtype, shape: shape, byteCount: bytes, payload: payload))
        return numel
    }

    /// The official writer's layout: tensors ordered by element size (largest first), then name, packed
    /// without gaps after a header padded with spaces to a multiple of 8, so every tensor is naturally
    /// aligned and the official reader's "no holes" check passes.
    private var layout: [Item] {
        items.sorted { ($0.dtype.size, $1.name) > ($1.dtype.size, $0.name) }
    }

    private func headerBytes(for ordered: [Item]) -> [UInt8] {
        var json = "{"
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { JSON.quote($0) + ":" + JSON.quote(metadata[$0]!) }
            json += "\"__metadata__\":{" + pairs.joined(separator: ",") + "}"
        }
        var offset = 0
        for item in ordered {
            if json.count > 1 { json += "," }
            let shape = item.shape.map(String.init).joined(separator: ",")
            json += JSON.quote(item.name) + ":{\"dtype\":\"\(item.dtype.rawValue)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(offset),\(offset + item.byteCount)]}"
            offset += item.byteCount
        }
        json += "}"
        var bytes = Array(json.utf8)
        bytes += [UInt8](repeating: 0x20, count: (8 - bytes.count % 8) % 8)
        return bytes
    }

    public func write(to path: String, overwrite: Bool = false) throws {
        let ordered = layout
        let header = headerBytes(for: ordered)
        try AtomicFile.write(to: path, overwrite: overwrite) { fd, _ in
            var prefix = [UInt8](repeating: 0, count: 8)
            for i in 0..<8 { prefix[i] = UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64(i))) }
            try (prefix + header).withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
            for item in ordered {
                let bytes: [UInt8]
                switch item.payload {
                case .floats(let v): bytes = ElementCodec.encode(v, as: item.dtype)!
                case .lazyFloats(let f): bytes = ElementCodec.encode(try f(), as: item.dtype)!
                case .lazyBytes(let f): bytes = try f()
                }
                guard bytes.count == item.byteCount else {
                    throw WeightsError(.badArgument, file: path, key: item.name,
                                       "got \(bytes.count) bytes, \(item.dtype) \(item.shape) needs \(item.byteCount)")
                }
                try bytes.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
            }
        }
    }
}
