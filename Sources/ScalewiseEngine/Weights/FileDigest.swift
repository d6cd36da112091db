import CCrypto
import Foundation

/// The SHA-256 of a file's bytes, as Hugging Face shows it for LFS files: how a PNG's record names the exact
/// weights it was made with (`model_sha256`, `tokenizer_sha256`). Hashing a checkpoint reads all of it, so
/// `DigestCache` keeps each file's hash until the file changes.
public enum FileDigest {
    /// Bytes per read: large reads keep a multi-gigabyte file at the digest's own speed.
    static let chunk = 8 << 20

    /// The SHA-256 of the regular file at `path`, 64 lowercase hex digits.
    public static func sha256(path: String) throws -> String {
        try withInput(path) { fd in try sha256(fd: fd, path: path) }
    }

    /// Opens `path` as a regular file (never blocking on a FIFO) for `body`.
    static func withInput<T>(_ path: String, _ body: (Int32) throws -> T) throws -> T {
        let fd: Int32
        switch SafeOpen.openInput(path) {
        case .success(let r): fd = r.fd
        case .failure(let e): throw WeightsError(.io, file: path, e.detail)
        }
        defer { close(fd) }
        return try body(fd)
    }

    /// The SHA-256 of what `fd` holds from its current offset to its end.
    static func sha256(fd: Int32, path: String) throws -> String {
        guard let ctx = EVP_MD_CTX_new() else { throw WeightsError(.io, file: path, "cannot hash: OpenSSL is out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1 else { throw WeightsError(.io, file: path, "cannot hash: no SHA-256 in OpenSSL") }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer, chunk)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw WeightsError(.io, file: path, "cannot read: \(errnoText())") }
            if n == 0 { break }
            guard EVP_DigestUpdate(ctx, buffer, n) == 1 else { throw WeightsError(.io, file: path, "cannot hash") }
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(ctx, &digest, &length) == 1, length == 32 else { throw WeightsError(.io, file: path, "cannot hash") }
        return hex(digest.prefix(32))
    }

    static func hex<C: Collection<UInt8>>(_ bytes: C) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out += [digits[Int(b >> 4)], digits[Int(b & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `text` is a SHA-256 as records keep it: 64 lowercase hex digits.
    public static func isSHA256(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
