/// A PNG held in memory (what terminal image protocols such as iTerm2's inline images carry).
extension PNG {
    /// Encodes `image` as an 8-bit RGB PNG without text chunks: IHDR, one IDAT, IEND (PNG spec, ISO/IEC 15948).
    public static func encode(_ image: RGBImage) throws -> [UInt8] {
        let (w, h) = (image.width, image.height)
        guard w > 0, h > 0, w <= 1 << 24, h <= 1 << 24, image.pixels.count == w * h * 3 else {
            throw PNGError(path: "<memory>", detail: "cannot encode a \(w)×\(h) image of \(image.pixels.count) bytes")
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        APNG.chunk("IHDR", APNG.be32(w) + APNG.be32(h) + [8, 2, 0, 0, 0], into: &out)
        APNG.chunk("IDAT", try APNG.deflate(APNG.filtered(image), path: "<memory>"), into: &out)
        APNG.chunk("IEND", [], into: &out)
        return out
    }
}
