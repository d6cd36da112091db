extension WeightsError {
    /// A file that parses but does not fit the model asking for it.
    static func mismatch(_ file: String, _ detail: String) -> WeightsError { WeightsError(.unsupported, file: file, detail) }
    static func io(_ file: String, _ detail: String) -> WeightsError { WeightsError(.io, file: file, detail) }
}

/// Buffers that official checkpoints carry but inference recomputes or ignores.
let ignoredBuffers = ["attn_bias_for_masking", "lvl_1L", "zero_k_bias", "ema_vocab_hit_SV", "codebook_used"]

extension WeightSource {
    /// Learned parameters (buffers excluded).
    public var parameterCount: Int {
        keys.filter { k in !ignoredBuffers.contains { k.hasSuffix($0) } }
            .reduce(0) { $0 + ((try? shape($1))?.reduce(1, *) ?? 0) }
    }
}

/// Writes `data` to `path` atomically; refuses to replace an existing file unless `overwrite`.
public func writeAtomically(_ data: [UInt8], to path: String, overwrite: Bool) throws {
    try AtomicFile.write(to: path, overwrite: overwrite) { fd, _ in
        try data.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
    }
}
