import CPNG
import Foundation

extension PNG {
    /// The text chunks of a PNG (tEXt, zTXt, iTXt, anywhere in the file; the first of a repeated key wins)
    /// without decoding a pixel: what `generate --from-png` needs, in time that does not grow with the
    /// image. Compressed text inflates to at most `maxTextBytes`.
    public static func readText(_ path: String, maxTextBytes: Int = 1 << 20) throws -> [String: String] {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch let e as WeightsError {
            throw PNGError(path: path, detail: e.detail)
        }
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard let sig = file.bytes(0, 8), Array(sig) == signature else { throw PNGError(path: path, detail: "not a PNG file") }
        func bad(_ d: String) -> PNGError { PNGError(path: path, detail: d) }
        var text: [String: String] = [:]
        var p = 8, chunks = 0
        while true {
            guard let length = file.uint(at: p, width: 4).map({ Int(UInt32(truncatingIfNeeded: $0).byteSwapped) }),
                  let typeBytes = file.bytes(p + 4, 4) else { throw bad("truncated before IEND") }
            guard length < 1 << 31, let data = file.bytes(p + 8, length), file.bytes(p + 8 + length, 4) != nil else {
                throw bad("chunk at byte \(p) runs past the end of the file")
            }
            chunks += 1
            guard chunks <= 1_000_000 else { throw bad("more than a million chunks") }
            let type = String(decoding: typeBytes, as: UTF8.self)
            if type == "IEND" { break }
            if ["tEXt", "zTXt", "iTXt"].contains(type), let (key, value) = try textChunk(type, data, maxTextBytes, bad),
               text[key] == nil {
                text[key] = value
            }
            p += 12 + length
        }
        return text
    }

    /// (key, value) of one text chunk, nil for one that is not well formed (skipped, as libpng warns and skips).
    private static func textChunk(_ type: String, _ data: UnsafeRawBufferPointer, _ limit: Int,
                                  _ bad: (String) -> PNGError) throws -> (String, String)? {
        let bytes = Array(data)
        guard let nul = bytes.firstIndex(of: 0), (1...79).contains(nul) else { return nil }
        let key = latin1(bytes[..<nul])
        var rest = bytes[(nul + 1)...]
        switch type {
        case "tEXt":
            return (key, latin1(rest))
        case "zTXt":
            guard rest.first == 0 else { return nil }
            return (key, latin1(try inflate(Array(rest.dropFirst()), limit, bad)))
        default:  // iTXt: compression flag, method, language\0, translated keyword\0, text
            guard rest.count >= 2 else { return nil }
            let compressed = rest[rest.startIndex] != 0
            rest = rest.dropFirst(2)
            guard let l = rest.firstIndex(of: 0) else { return nil }
            rest = rest[(l + 1)...]
            guard let t = rest.firstIndex(of: 0) else { return nil }
            let body = Array(rest[(t + 1)...])
            let utf8 = compressed ? try inflate(body, limit, bad) : body
            return (key, String(decoding: utf8, as: UTF8.self))
        }
    }

    private static func latin1<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    private static func inflate(_ src: [UInt8], _ limit: Int, _ bad: (String) -> PNGError) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: limit)
        var outLength = uLongf(limit)
        let rc = out.withUnsafeMutableBufferPointer { o in
            src.withUnsafeBufferPointer { s in uncompress(o.baseAddress, &outLength, s.baseAddress, uLong(s.count)) }
        }
        if rc == Z_BUF_ERROR && outLength == uLongf(limit) { throw bad("a compressed text chunk inflates to more than \(limit) bytes") }
        guard rc == Z_OK else { throw bad("a compressed text chunk is corrupt") }
        return Array(out.prefix(Int(outLength)))
    }
}
