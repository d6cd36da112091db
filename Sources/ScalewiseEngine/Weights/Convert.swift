import Foundation

/// Opens a weights file by its content, not its name: a zip is a `.pth` checkpoint, anything else is
/// tried as safetensors.
public func openWeights(_ path: String, prefer: [[String]] = PthFile.defaultPrefer) throws -> any WeightSource {
    let file = try MappedFile(path: path)
    if file.uint(at: 0, width: 4) == 0x0403_4b50 || file.uint(at: 0, width: 2) == 0x0280 {
        return try PthFile(path: path, prefer: prefer)
    }
    return try SafeTensorsFile(path: path)
}

public struct ConversionSummary: Sendable, Equatable {
    public var tensors: Int
    /// Size of the tensor data written (header excluded).
    public var bytes: Int
}

/// Merges one or more `.pth`/`.safetensors` files into one safetensors file (what `scalewise convert`
/// runs). Floating-point tensors are stored as `dtype`; int8 tensors with a `.qscale` are dequantized;
/// integer and bool buffers keep their dtype, since a float cannot hold every int64. A key present in
/// two inputs is an error rather than a silent choice. Metadata: the inputs' (in order), then `metadata` (where
/// an empty value removes the key).
/// `prefixes[i]`, when given, is put before every key of input i (a tokenizer stored inside its generator's file).
@discardableResult
public func convertToSafeTensors(inputs: [String], output: String, dtype: DType = .f32, metadata: [String: String] = [:],
                                 prefixes: [String] = [], overwrite: Bool = false) throws -> ConversionSummary {
    guard [.f32, .f16, .bf16].contains(dtype) else {
        throw WeightsError(.badArgument, file: output, "cannot convert to \(dtype); use F32, F16 or BF16")
    }
    guard !inputs.isEmpty else { throw WeightsError(.badArgument, file: output, "no input files") }
    if !overwrite, access(output, F_OK) == 0 { throw FileWriteError(kind: .exists, path: output, detail: "") }
    var writer = SafeTensorsWriter()
    var origin: [String: String] = [:]
    var summary = ConversionSummary(tensors: 0, bytes: 0)
    for (i, input) in inputs.enumerated() {
        let source = try openWeights(input)
        let prefix = i < prefixes.count ? prefixes[i] : ""
        if prefix.isEmpty { writer.metadata.merge(source.metadata) { $1 } }
        for key in source.keys {
            if let first = origin[prefix + key] {
                throw WeightsError(.badArgument, file: input, key: key, "also present in \(first)")
            }
            origin[prefix + key] = input
            let stored = try source.dtype(key)
            let shape = try source.shape(key)
            let dequantize = stored == .i8 && source.has(key + ".qscale")
            if stored.isFloatingPoint || dequantize {
                try writer.add(prefix + key, shape: shape, as: dtype) { try source.floats(key) }
                summary.bytes += (Checked.numel(shape) ?? 0) * dtype.size
            } else {
                try writer.add(prefix + key, shape: shape, dtype: stored) { rawBytes(try source.ints(key), as: stored) }
                summary.bytes += (Checked.numel(shape) ?? 0) * stored.size
            }
            summary.tensors += 1
        }
    }
    writer.metadata.merge(metadata) { $1 }
    writer.metadata = writer.metadata.filter { !$0.value.isEmpty }  // an empty value in `metadata` drops the key
    try writer.write(to: output, overwrite: overwrite)
    return summary
}

/// Little-endian bytes of integer elements (values came from the same dtype, so nothing is lost).
private func rawBytes(_ values: [Int], as dtype: DType) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(values.count * dtype.size)
    for v in values {
        for b in 0..<dtype.size { out.append(UInt8(truncatingIfNeeded: v >> (8 * b))) }
    }
    return out
}
