/// A memory-mapped `.safetensors` file: `u64 LE header length`, a JSON header mapping each name to
/// `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data after the header) plus an
/// optional `__metadata__` string→string map, then the raw little-endian tensor bytes.
/// Every structural property is checked at open time (`SafeTensorsHeader`), so a malformed file is one thrown
/// `WeightsError`.
public final class SafeTensorsFile: WeightSource {
    /// The official reader refuses headers over 100 MB; a real header is a few hundred KB.
    public static let maxHeaderBytes = SafeTensorsHeader.maxHeaderBytes

    public let path: String
    public let metadata: [String: String]
    private let table: TensorTable

    public init(path: String) throws {
        self.path = path
        let file = try MappedFile(path: path)
        let header = try SafeTensorsHeader(file: file, path: path)
        metadata = header.metadata
        table = TensorTable(path: path, ordered: header.tensors.map {
            ($0.key, TensorEntry(dtype: $0.dtype, shape: $0.shape, numel: $0.numel, file: file,
                                 byteOffset: header.dataStart + $0.begin, strides: nil, spanBytes: $0.end - $0.begin))
        })
    }

    public var keys: [String] { table.keys }
    public func has(_ key: String) -> Bool { table.entries[key] != nil }
    public func shape(_ key: String) throws -> [Int] { try table.entry(key).shape }
    public func dtype(_ key: String) throws -> DType { try table.entry(key).dtype }
    public func floats(_ key: String) throws -> [Float] { try table.floats(key) }
    public func ints(_ key: String) throws -> [Int] { try table.ints(key) }
}
