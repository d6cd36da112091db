import CPNG
import Foundation

/// A PNG that could not be read or written. One line, naming the file.
public struct PNGError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    public let path: String
    public let detail: String
    public var description: String { "\(terminalSafe(path)): \(WeightsError.sanitized(detail))" }
    public var errorDescription: String? { description }
}

/// 8-bit RGB PNGs with text chunks, through libpng (see Sources/CPNG/shim.h for why the calls are in C).
///
/// Text follows what A1111 writes through PIL: a value that is all Latin-1 goes in a `tEXt` chunk,
/// anything else in an uncompressed UTF-8 `iTXt` chunk, so `parameters` reads back the same in A1111,
/// ComfyUI and PIL.
public enum PNG {
    /// The largest width or height `read` accepts (16384² RGB is 768 MiB of pixels).
    public static let maxDimension = 16384
    /// The most pixels `read` decodes by default (4096², 48 MiB of RGB).
    public static let maxInputPixels = 4096 * 4096

    /// Writes atomically; an existing file is only replaced with `overwrite` (`FileWriteError.exists` otherwise).
    public static func write(_ image: RGBImage, text: [(String, String)] = [], to path: String, overwrite: Bool = false) throws {
        // RGBImage's fields are mutable, so its init's precondition is no guarantee here; libpng would
        // read past a short buffer.
        guard image.width > 0, image.height > 0, image.width <= 1 << 24, image.height <= 1 << 24,
              image.pixels.count == image.width * image.height * 3 else {
            throw PNGError(path: path, detail: "cannot write a \(image.width)×\(image.height) image of \(image.pixels.count) bytes")
        }
        let chunks = try text.map { try PNGText.Chunk(key: $0.0, value: $0.1, path: path) }
        var cTexts: [cpng_text_in] = []
        var allocations: [UnsafeMutablePointer<CChar>] = []
        defer { allocations.forEach { $0.deallocate() } }
        func cString(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            p[bytes.count] = 0
            allocations.append(p)
            return p
        }
        for c in chunks {
            cTexts.append(cpng_text_in(key: cString(c.keyBytes), text: cString(c.valueBytes), length: c.valueBytes.count, utf8: c.utf8 ? 1 : 0))
        }
        try AtomicFile.write(to: path, overwrite: overwrite) { _, temp in
            var message = [CChar](repeating: 0, count: Int(CPNG_MESSAGE_SIZE))
            let rc = image.pixels.withUnsafeBufferPointer { px in
                cpng_write_rgb8(temp, px.baseAddress, UInt32(image.width), UInt32(image.height), cTexts, Int32(cTexts.count), &message)
            }
            guard rc == 0 else {
                throw PNGError(path: path, detail: "libpng: " + String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
    }

    /// Any PNG as 8-bit RGB (palette, gray, 16-bit and interlaced are converted by libpng; alpha is
    /// dropped, keeping the stored colour) plus its text chunks; for a repeated key the first wins.
    ///
    /// Inputs are bounded before any pixel is decoded: at most `maxPixels` pixels (a 16384² image compresses
    /// to under 1 MB and would take seconds and 768 MiB to decode). Only regular files are opened (a FIFO
    /// would block).
    public static func read(_ path: String, maxPixels: Int = maxInputPixels) throws -> (RGBImage, [String: String]) {
        let fd: Int32
        switch SafeOpen.openInput(path) {
        case .success(let r): fd = r.fd
        case .failure(let e): throw PNGError(path: path, detail: e.cannotOpen.map { "cannot open for reading: \($0)" } ?? e.detail)
        }
        var r = cpng_read_result()
        let rc = cpng_read_rgb8(fd, &r, UInt32(maxDimension), UInt64(max(0, maxPixels)))
        defer { cpng_read_free(&r) }
        guard rc == 0 else {
            let message = withUnsafeBytes(of: &r.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw PNGError(path: path, detail: rc == -1 ? "\(message): \(errnoText())" : message)
        }
        let count = Int(r.width) * Int(r.height) * 3
        let pixels = [UInt8](UnsafeBufferPointer(start: r.rgb, count: count))
        var text: [String: String] = [:]
        for i in 0..<Int(r.num_text) {
            guard let k = r.keys[i], let v = r.texts[i] else { continue }
            let key = PNGText.latin1(k)
            if text[key] == nil { text[key] = r.utf8[i] != 0 ? String(cString: v) : PNGText.latin1(v) }
        }
        return (RGBImage(width: Int(r.width), height: Int(r.height), pixels: pixels), text)
    }
}

/// PNG text-chunk rules shared by the PNG and APNG writers.
enum PNGText {
    struct Chunk {
        let keyBytes: [UInt8]
        let valueBytes: [UInt8]
        /// iTXt (UTF-8) rather than tEXt (Latin-1).
        let utf8: Bool

        /// PNG keywords are 1–79 printable Latin-1 characters without leading, trailing or double spaces.
        init(key: String, value: String, path: String) throws {
            let k = key.unicodeScalars.map(\.value)
            guard (1...79).contains(k.count), k.allSatisfy({ (0x20...0x7E).contains($0) || (0xA1...0xFF).contains($0) }),
                  k.first != 0x20, k.last != 0x20, !key.contains("  ") else {
                throw PNGError(path: path, detail: "invalid PNG text keyword '\(key)' (1–79 printable Latin-1 characters)")
            }
            guard !value.unicodeScalars.contains("\0") else {
                throw PNGError(path: path, detail: "PNG text '\(key)' contains a NUL character")
            }
            keyBytes = k.map { UInt8($0) }
            let scalars = value.unicodeScalars.map(\.value)
            utf8 = scalars.contains { $0 > 0xFF }
            valueBytes = utf8 ? Array(value.utf8) : scalars.map { UInt8($0) }
        }
    }

    static func latin1(_ p: UnsafePointer<CChar>) -> String {
        var s = String.UnicodeScalarView()
        var q = p
        while q.pointee != 0 {
            s.append(Unicode.Scalar(UInt8(bitPattern: q.pointee)))
            q += 1
        }
        return String(s)
    }
}
