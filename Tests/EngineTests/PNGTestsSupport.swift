import CPNG
import Foundation
import XCTest
@testable import ScalewiseEngine

/// CRC-32 (PNG/zlib polynomial) computed here, independently of zlib, to check the writers' chunks.
func referenceCRC(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

struct Chunk: Equatable {
    let type: String
    let data: [UInt8]
}

func be(_ b: ArraySlice<UInt8>) -> Int { b.reduce(0) { $0 << 8 | Int($1) } }

/// Splits a PNG into chunks, failing the test on a bad signature, length or CRC.
func parseChunks(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [Chunk] {
    XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], file: file, line: line)
    var chunks: [Chunk] = []
    var p = 8
    while p + 12 <= bytes.count {
        let length = be(bytes[p..<p + 4])
        guard p + 12 + length <= bytes.count else { XCTFail("chunk overruns file", file: file, line: line); break }
        let body = Array(bytes[p + 4..<p + 8 + length])
        XCTAssertEqual(UInt32(be(bytes[p + 8 + length..<p + 12 + length])), referenceCRC(body), "CRC", file: file, line: line)
        chunks.append(Chunk(type: String(decoding: body.prefix(4), as: UTF8.self), data: Array(body.dropFirst(4))))
        p += 12 + length
    }
    XCTAssertEqual(p, bytes.count, "trailing bytes", file: file, line: line)
    return chunks
}

func inflate(_ data: [UInt8], expected: Int) -> [UInt8]? {
    var out = [UInt8](repeating: 0, count: expected)
    var length = uLong(expected)
    let rc = out.withUnsafeMutableBufferPointer { o in
        data.withUnsafeBufferPointer { uncompress(o.baseAddress, &length, $0.baseAddress, uLong($0.count)) }
    }
    return rc == Z_OK && Int(length) == expected ? out : nil
}

/// Undoes PNG filters 0–4 for `bpp`-byte pixels (the spec's reference algorithm).
func unfilter(_ data: [UInt8], width: Int, height: Int, bpp: Int) -> [UInt8] {
    let stride = width * bpp
    var out = [UInt8](repeating: 0, count: stride * height)
    for y in 0..<height {
        let type = data[y * (stride + 1)]
        for x in 0..<stride {
            let raw = Int(data[y * (stride + 1) + 1 + x])
            let a = x >= bpp ? Int(out[y * stride + x - bpp]) : 0
            let b = y > 0 ? Int(out[(y - 1) * stride + x]) : 0
            let c = x >= bpp && y > 0 ? Int(out[(y - 1) * stride + x - bpp]) : 0
            let predictor: Int
            switch type {
            case 0: predictor = 0
            case 1: predictor = a
            case 2: predictor = b
            case 3: predictor = (a + b) / 2
            default:
                let p = a + b - c
                let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
            }
            out[y * stride + x] = UInt8((raw + predictor) & 0xFF)
        }
    }
    return out
}

/// A PNG of any colour type from raw (unfiltered) scanlines, for exercising the reader's transforms.
func makePNG(width: Int, height: Int, colorType: UInt8, bitDepth: UInt8, scanlines: [[UInt8]], interlaced: Bool = false,
             extra: [(String, [UInt8])] = []) throws -> [UInt8] {
    var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    APNG.chunk("IHDR", APNG.be32(width) + APNG.be32(height) + [bitDepth, colorType, 0, 0, interlaced ? 1 : 0], into: &out)
    for (type, data) in extra { APNG.chunk(type, data, into: &out) }
    APNG.chunk("IDAT", try APNG.deflate(scanlines.flatMap { [0] + $0 }, path: "test"), into: &out)
    APNG.chunk("IEND", [], into: &out)
    return out
}

func randomImage(width: Int, height: Int, seed: UInt64) -> RGBImage {
    var rng = SplitMix64(state: seed)
    return RGBImage(width: width, height: height, pixels: (0..<width * height * 3).map { _ in UInt8.random(in: 0...255, using: &rng) })
}
