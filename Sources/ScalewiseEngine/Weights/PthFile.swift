/// One storage blob of a checkpoint: `<root>/data/<key>` in the zip, used in place from the map.
struct TorchStorage {
    let key: String
    let dtype: DType
    let numel: Int
    /// Byte offset of the blob in the checkpoint file.
    let fileOffset: Int
}

/// A PyTorch checkpoint written by `torch.save` (the zip format, PyTorch ≥ 1.6), read without Python.
///
/// `data.pkl` is run through `Unpickler`, which turns each `_rebuild_tensor_v2(storage, offset, size,
/// stride, …)` into a view of the mapped storage. Official checkpoints are either a flat state dict or
/// one wrapped in other dicts (`{'model': sd}` for FlexVAR's VAE, `{'mvar_wo_ddp': sd}`,
/// `{'trainer': {'var_wo_ddp': sd}}`); `prefer` lists the key paths to try, first match wins, and `[]`
/// means the top level. Non-tensor values inside the chosen dict are ignored.
public final class PthFile: WeightSource {
    public static let defaultPrefer: [[String]] = [["trainer", "var_wo_ddp"], ["mvar_wo_ddp"], ["model"], ["state_dict"], []]

    public let path: String
    /// The key path of the dict that was taken as the state dict (`[]` = top level).
    public let statePath: [String]
    public var metadata: [String: String] { [:] }
    private let table: TensorTable

    public init(path: String, prefer: [[String]] = PthFile.defaultPrefer) throws {
        self.path = path
        let zip = try ZipArchive(file: try MappedFile(path: path))
        // The single top-level folder is named after the file stem at save time, so search, don't guess.
        let pickles = zip.entries.filter { $0.name.hasSuffix("/data.pkl") || $0.name == "data.pkl" }
        guard let pkl = pickles.min(by: { $0.name.count < $1.name.count }) else {
            throw WeightsError(.badZip, file: path, "no data.pkl entry: not a torch.save checkpoint")
        }
        let root = String(pkl.name.dropLast("data.pkl".count))
        let range = try zip.storedRange(of: pkl)
        let loader = StorageLoader(zip: zip, root: root, path: path)
        var vm = Unpickler(data: zip.file.bytes(range.offset, range.length)!, path: "\(path) (\(pkl.name))",
                           persistentLoad: loader.load, reduce: loader.reduce)
        let top = try vm.run()

        for keyPath in prefer {
            var node: PickleValue? = top
            for k in keyPath {
                guard case .dict(let d)? = node else { node = nil; break }
                node = d[k]
            }
            guard case .dict(let d)? = node else { continue }
            let tensors: [(String, TensorEntry)] = d.pairs.compactMap { pair in
                guard case .string(let k) = pair.key, case .tensor(let t) = pair.value else { return nil }
                return (k, t)
            }
            if tensors.isEmpty { continue }
            statePath = keyPath
            table = TensorTable(path: path, ordered: tensors)
            return
        }
        var topKeys = "the top level is not a dict"
        if case .dict(let d) = top {
            topKeys = "top-level keys: " + d.pairs.prefix(20).map { pair in
                if case .string(let s) = pair.key { return s }
                return "(non-string)"
            }.joined(separator: ", ")
        }
        let tried = prefer.map { $0.isEmpty ? "(top level)" : $0.joined(separator: ".") }.joined(separator: ", ")
        throw WeightsError(.noStateDict, file: path, "no dict of tensors at \(tried); \(topKeys)")
    }

    public var keys: [String] { table.keys }
    public func has(_ key: String) -> Bool { table.entries[key] != nil }
    public func shape(_ key: String) throws -> [Int] { try table.entry(key).shape }
    public func dtype(_ key: String) throws -> DType { try table.entry(key).dtype }
    public func floats(_ key: String) throws -> [Float] { try table.floats(key) }
    public func ints(_ key: String) throws -> [Int] { try table.ints(key) }
}

/// The torch-specific half of unpickling: persistent ids → storages, and the handful of callables a
/// state dict uses. Everything else becomes `.opaque` and is never run.
private struct StorageLoader {
    let zip: ZipArchive
    let root: String
    let path: String

    static let storageTypes: [String: DType] = [
        "FloatStorage": .f32, "DoubleStorage": .f64, "HalfStorage": .f16, "BFloat16Storage": .bf16,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool,
    ]

    func fail(_ detail: String) -> WeightsError { WeightsError(.badPickle, file: path, detail) }

    /// pid = ('storage', torch.<T>Storage, key, location, numel)
    func load(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let t) = pid, t.count == 5, case .string("storage") = t[0], case .global(let module, let typeName) = t[1],
              case .string(let key) = t[2], case .int(let numel) = t[4], numel >= 0 else {
            throw fail("persistent id is not ('storage', type, key, location, numel)")
        }
        guard module == "torch", let dtype = Self.storageTypes[typeName] else {
            throw WeightsError(.unsupported, file: path, "storage '\(key)' has unsupported type \(module).\(typeName)")
        }
        let name = root + "data/" + key
        guard let entry = zip.entry(named: name) else { throw WeightsError(.badZip, file: path, "storage entry '\(name)' is missing") }
        let range = try zip.storedRange(of: entry)
        guard let bytes = Checked.mul(numel, dtype.size), bytes <= range.length else {
            throw WeightsError(.badZip, file: path, "storage '\(name)' holds \(range.length) bytes, fewer than \(numel) × \(dtype)")
        }
        return .storage(TorchStorage(key: key, dtype: dtype, numel: numel, fileOffset: range.offset))
    }

    func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let module, let name) = callable else { return .opaque("call of a non-global") }
        switch (module, name) {
        case ("collections", "OrderedDict"), ("builtins", "dict"), ("__builtin__", "dict"):
            return .dict(PickleDict())
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            return .tensor(try rebuildTensor(args))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            guard case .tuple(let a) = args, let data = a.first, case .tensor = data else {
                throw fail("_rebuild_parameter without a tensor")
            }
            return data
        default:
            return .opaque("\(module).\(name)(…)")
        }
    }

    /// (storage, storage_offset, size, stride, …). A view into a larger storage (a slice, `.t()`) keeps
    /// its offset and strides; reading it gathers a contiguous copy.
    private func rebuildTensor(_ args: PickleValue) throws -> TensorEntry {
        guard case .tuple(let a) = args, a.count >= 4, case .storage(let s) = a[0], case .int(let offset) = a[1],
              case .tuple(let sizeItems) = a[2], case .tuple(let strideItems) = a[3] else {
            throw fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, …)")
        }
        let ints: ([PickleValue]) -> [Int]? = { items in
            let v = items.compactMap { item -> Int? in if case .int(let i) = item, i >= 0 { return i } else { return nil } }
            return v.count == items.count ? v : nil
        }
        guard let shape = ints(sizeItems), var strides = ints(strideItems), strides.count == shape.count, offset >= 0 else {
            throw WeightsError(.badShape, file: path, "storage '\(s.key)': bad size/stride/offset")
        }
        guard let numel = Checked.numel(shape) else {
            throw WeightsError(.badShape, file: path, "storage '\(s.key)': size \(shape) has too many elements")
        }
        // A size-1 dim's stride is arbitrary in torch and never moves the index.
        for d in shape.indices where shape[d] == 1 { strides[d] = 0 }
        if numel == 0 {
            return TensorEntry(dtype: s.dtype, shape: shape, numel: 0, file: zip.file, byteOffset: s.fileOffset, strides: nil, spanBytes: 0)
        }
        var last = offset
        for d in shape.indices {
            guard let reach = Checked.mul(shape[d] - 1, strides[d]), let sum = Checked.add(last, reach) else { last = Int.max; break }
            last = sum
        }
        guard last < s.numel else {
            throw WeightsError(.badShape, file: path, "storage '\(s.key)': size \(shape), stride \(strides), offset \(offset) reach past its \(s.numel) elements")
        }
        // Broadcast views (stride 0) could expand a tiny storage into an impossible allocation.
        guard numel <= s.numel || numel <= 1 << 28 else {
            throw WeightsError(.unsupported, file: path, "storage '\(s.key)': an expanded view of \(numel) elements is not supported")
        }
        // After the numel == 0 return, so these partial products cannot overflow.
        var contiguous = [Int](repeating: 0, count: shape.count)
        var step = 1
        for d in shape.indices.reversed() {
            contiguous[d] = shape[d] == 1 ? 0 : step
            step *= shape[d]
        }
        let isContiguous = strides == contiguous
        return TensorEntry(dtype: s.dtype, shape: shape, numel: numel, file: zip.file, byteOffset: s.fileOffset + offset * s.dtype.size,
                           strides: isContiguous ? nil : strides, spanBytes: (isContiguous ? numel : last - offset + 1) * s.dtype.size)
    }
}
