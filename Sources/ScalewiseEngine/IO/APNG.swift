import CPNG

/// Animated PNG (the per-scale progression of a generation), assembled chunk by chunk: libpng 1.6
/// has no APNG writer, and the format is only three extra chunk types over PNG.
/// Layout: IHDR, text, acTL, then per frame fcTL + (IDAT for frame 0 | fdAT), IEND. Viewers without
/// APNG support show frame 0, so the first frame should be the one that matters alone.
public enum APNG {
    /// Writes all `frames` (same size) shown `delayMs` each, looping `loops` times (0 = forever).
    public static func write(frames: [RGBImage], delayMs: Int, text: [(String, String)] = [], loops: Int = 0,
                             to path: String, overwrite: Bool = false) throws {
        let bytes = try encode(frames: frames, delayMs: delayMs, text: text, loops: loops, path: path)
        try AtomicFile.write(to: path, overwrite: overwrite) { fd, _ in
            try bytes.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
        }
    }

    static func encode(frames: [RGBImage], delayMs: Int, text: [(String, String)], loops: Int, path: String) throws -> [UInt8] {
        guard let first = frames.first else { throw PNGError(path: path, detail: "an animation needs at least one frame") }
        let (w, h) = (first.width, first.height)
        guard w > 0, h > 0, w <= 1 << 24, h <= 1 << 24 else { throw PNGError(path: path, detail: "cannot write a \(w)×\(h) image") }
        guard frames.allSatisfy({ $0.width == w && $0.height == h && $0.pixels.count == w * h * 3 }) else {
            throw PNGError(path: path, detail: "all frames must be \(w)×\(h)")
        }
        // fcTL stores the delay as a u16 fraction; milliseconds over 1000 is exact up to 65.5 s.
        guard (0...0xFFFF).contains(delayMs), (0...Int(Int32.max)).contains(loops) else {
            throw PNGError(path: path, detail: "delay must be 0…65535 ms and loops ≥ 0")
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        chunk("IHDR", be32(w) + be32(h) + [8, 2, 0, 0, 0], into: &out)  // 8-bit RGB, deflate, adaptive filters, no interlace
        for (key, value) in text {
            let c = try PNGText.Chunk(key: key, value: value, path: path)
            if c.utf8 {
                chunk("iTXt", c.keyBytes + [0, 0, 0, 0, 0] + c.valueBytes, into: &out)  // uncompressed, no language tag
            } else {
                chunk("tEXt", c.keyBytes + [0] + c.valueBytes, into: &out)
            }
        }
        chunk("acTL", be32(frames.count) + be32(loops), into: &out)
        var sequence = 0
        for (i, frame) in frames.enumerated() {
            let control = be32(sequence) + be32(w) + be32(h) + be32(0) + be32(0)
                + be16(delayMs) + be16(1000) + [0, 0]  // dispose NONE, blend SOURCE: every frame is whole
            chunk("fcTL", control, into: &out)
            sequence += 1
            let data = try deflate(filtered(frame), path: path)
            if i == 0 {
                chunk("IDAT", data, into: &out)
            } else {
                chunk("fdAT", be32(sequence) + data, into: &out)
                sequence += 1
            }
        }
        chunk("IEND", [], into: &out)
        return out
    }

    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    /// length, type, data, CRC-32 of type + data.
    static func chunk(_ type: String, _ data: [UInt8], into out: inout [UInt8]) {
        let body = Array(type.utf8) + data
        out += be32(data.count) + body
        let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        out += be32(Int(crc))
    }

    /// Every scanline with the Paeth filter (type 4), which suits smooth generated images.
    static func filtered(_ image: RGBImage) -> [UInt8] {
        let stride = image.width * 3
        var out = [UInt8]()
        out.reserveCapacity((stride + 1) * image.height)
        image.pixels.withUnsafeBufferPointer { px in
            for y in 0..<image.height {
                out.append(4)
                let row = y * stride
                for x in 0..<stride {
                    let a = x >= 3 ? Int(px[row + x - 3]) : 0
                    let b = y > 0 ? Int(px[row - stride + x]) : 0
                    let c = x >= 3 && y > 0 ? Int(px[row - stride + x - 3]) : 0
                    let p = a + b - c
                    let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                    let predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                    out.append(UInt8(truncatingIfNeeded: Int(px[row + x]) - predictor))
                }
            }
        }
        return out
    }

    static func deflate(_ data: [UInt8], path: String) throws -> [UInt8] {
        var length = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let rc = out.withUnsafeMutableBufferPointer { dst in
            data.withUnsafeBufferPointer { src in compress2(dst.baseAddress, &length, src.baseAddress, uLong(src.count), 6) }
        }
        guard rc == Z_OK else { throw PNGError(path: path, detail: "zlib compress2 failed (\(rc))") }
        return Array(out.prefix(Int(length)))
    }
}
