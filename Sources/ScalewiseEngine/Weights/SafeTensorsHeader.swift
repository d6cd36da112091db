/// The header of a `.safetensors` file, checked: `u64 LE header length`, a JSON object mapping each name to
/// `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data after the header) plus an
/// optional `__metadata__` string→string map. Shapes, sizes and offsets are checked against each other and
/// the file's length, so `SafeTensorsFile` only maps what is there. Kept apart from the tensors so that the
/// parsers' fuzz harness (tools/fuzz) can build it alone.
struct SafeTensorsHeader {
    struct Tensor {
        let key: String
        let dtype: DType
        let shape: [Int]
        let numel: Int
        /// Byte offsets relative to the data after the header.
        let begin: Int, end: Int
    }

    /// The official reader refuses headers over 100 MB; a real header is a few hundred KB.
    static let maxHeaderBytes = 100_000_000

    let metadata: [String: String]
    /// In header order.
    let tensors: [Tensor]
    /// Where the data starts in the file.
    let dataStart: Int

    init(file: MappedFile, path: String) throws {
        guard let headerLength = file.uint(at: 0, width: 8) else {
            throw WeightsError(.fileTooShort, file: path, "file too short (\(file.count) bytes) for a safetensors header")
        }
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw WeightsError(.badHeader, file: path, "header length \(headerLength) is absurd (limit \(Self.maxHeaderBytes))")
        }
        guard let header = file.bytes(8, Int(headerLength)) else {
            throw WeightsError(.badHeader, file: path, "header length \(headerLength) runs past the end of the file (\(file.count) bytes)")
        }
        let json: JSON
        do {
            json = try JSON.parse(header)
        } catch {
            throw WeightsError(.invalidJSON, file: path, "invalid JSON header at byte \(8 + error.offset): \(error.message)")
        }
        guard case .object(let members) = json else {
            throw WeightsError(.invalidJSON, file: path, "JSON header is not an object")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = file.count - dataStart
        var metadata: [String: String] = [:]
        var seen = Set<String>()
        var tensors: [Tensor] = []
        for (key, value) in members {
            guard seen.insert(key).inserted else { throw WeightsError(.badHeader, file: path, key: key, "appears twice in the header") }
            if key == "__metadata__" {
                metadata = try Self.metadata(value, path: path)
                continue
            }
            let (dtype, shape, begin, end) = try Self.describe(value, key: key, path: path)
            guard let numel = Checked.numel(shape) else {
                throw WeightsError(.badShape, file: path, key: key, "shape \(shape) has a negative dim or too many elements")
            }
            guard let bytes = Checked.mul(numel, dtype.size), bytes == end - begin else {
                throw WeightsError(.badOffsets, file: path, key: key,
                                   "data_offsets [\(begin), \(end)] hold \(end - begin) bytes, but \(dtype) \(shape) needs \(numel) × \(dtype.size)")
            }
            guard end <= dataSize else {
                throw WeightsError(.badOffsets, file: path, key: key, "data_offsets [\(begin), \(end)] run past the end of the data (\(dataSize) bytes)")
            }
            tensors.append(Tensor(key: key, dtype: dtype, shape: shape, numel: numel, begin: begin, end: end))
        }
        let byStart = tensors.filter { $0.end > $0.begin }.sorted { $0.begin < $1.begin }
        for (a, b) in zip(byStart, byStart.dropFirst()) where b.begin < a.end {
            throw WeightsError(.badOffsets, file: path, key: b.key, "data_offsets [\(b.begin), \(b.end)] overlap '\(a.key)' [\(a.begin), \(a.end)]")
        }
        self.metadata = metadata
        self.tensors = tensors
        self.dataStart = dataStart
    }

    private static func metadata(_ value: JSON, path: String) throws -> [String: String] {
        guard case .object(let pairs) = value else {
            throw WeightsError(.badHeader, file: path, "__metadata__ is not an object")
        }
        var out: [String: String] = [:]
        for (k, v) in pairs {
            guard case .string(let s) = v else {
                throw WeightsError(.badHeader, file: path, "__metadata__ value for '\(k)' is not a string")
            }
            out[k] = s
        }
        return out
    }

    private static func describe(_ value: JSON, key: String, path: String) throws -> (DType, [Int], Int, Int) {
        guard case .object(let fields) = value else {
            throw WeightsError(.badHeader, file: path, key: key, "header entry is not an object")
        }
        func field(_ name: String) throws -> JSON {
            guard let v = fields.first(where: { $0.0 == name })?.1 else {
                throw WeightsError(.badHeader, file: path, key: key, "header entry has no '\(name)'")
            }
            return v
        }
        func ints(_ name: String) throws -> [Int] {
            guard case .array(let items) = try field(name) else {
                throw WeightsError(.badHeader, file: path, key: key, "'\(name)' is not an array")
            }
            return try items.map { item in
                guard case .int(let i) = item else {
                    throw WeightsError(.badHeader, file: path, key: key, "'\(name)' holds a non-integer")
                }
                return i
            }
        }
        guard case .string(let dtypeName) = try field("dtype") else {
            throw WeightsError(.badHeader, file: path, key: key, "'dtype' is not a string")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw WeightsError(.unknownDType, file: path, key: key, "unknown dtype '\(dtypeName)'")
        }
        let shape = try ints("shape")
        let offsets = try ints("data_offsets")
        guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
            throw WeightsError(.badOffsets, file: path, key: key, "data_offsets \(offsets) are not [begin, end] with 0 ≤ begin ≤ end")
        }
        return (dtype, shape, offsets[0], offsets[1])
    }
}
