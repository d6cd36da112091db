import Foundation
import XCTest
@testable import ScalewiseEngine

final class PNGTests: XCTestCase {
    static let a1111 = """
    a photo of a cat, "studio" lighting
    Negative prompt: blurry
    Steps: 10, Sampler: VAR, CFG scale: 4, Seed: 42, Size: 256x256, Model: var-d16, Version: scalewise 0.1
    """

    func testRoundTripPixelsAndTextChunks() throws {
        let dir = try TempDir()
        let image = randomImage(width: 7, height: 5, seed: 1)
        let text = [("parameters", Self.a1111), ("scalewise", #"{"v":1,"seed":42,"prompt":"a \"cat\""}"#),
                    ("Comment", "café"), ("Title", "猫 cat")]
        let path = dir.file("out.png")
        try PNG.write(image, text: text, to: path)
        let (back, chunks) = try PNG.read(path)
        XCTAssertEqual(back, image)
        XCTAssertEqual(chunks, Dictionary(uniqueKeysWithValues: text))
        // Latin-1 text goes in tEXt (é as the single byte 0xE9), anything else in iTXt, all before IDAT.
        let parsed = parseChunks(try readBytes(path))
        XCTAssertEqual(parsed.map(\.type).filter { $0 != "IDAT" }, ["IHDR", "tEXt", "tEXt", "tEXt", "iTXt", "IEND"])
        XCTAssertLessThan(parsed.lastIndex { $0.type == "iTXt" }!, parsed.firstIndex { $0.type == "IDAT" }!)
        XCTAssertEqual(parsed[3].data, Array("Comment".utf8) + [0, 0x63, 0x61, 0x66, 0xE9])
        XCTAssertEqual(dir.contents, ["out.png"])
    }

    func testRefusesToOverwriteUnlessForced() throws {
        let dir = try TempDir()
        let path = dir.file("x.png")
        try PNG.write(randomImage(width: 2, height: 2, seed: 1), to: path)
        let before = try readBytes(path)
        let other = randomImage(width: 3, height: 1, seed: 2)
        XCTAssertThrowsError(try PNG.write(other, to: path)) { error in
            XCTAssertEqual("\(error)", "\(path): already exists (use --force to overwrite)")
        }
        XCTAssertEqual(try readBytes(path), before)
        try PNG.write(other, to: path, overwrite: true)
        XCTAssertEqual(try PNG.read(path).0, other)
        XCTAssertEqual(dir.contents, ["x.png"])
    }

    /// Another process creating the output while we write must win: publishing uses link(2), not rename.
    func testAtomicWriteNeverReplacesAFileThatAppearedMeanwhile() throws {
        let dir = try TempDir()
        let path = dir.file("race.png")
        XCTAssertThrowsError(try AtomicFile.write(to: path, overwrite: false) { fd, _ in
            _ = try dir.write("race.png", [1, 2, 3])
            try [UInt8](repeating: 9, count: 10).withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
        }) { XCTAssertEqual($0 as? FileWriteError, FileWriteError(kind: .exists, path: path, detail: "")) }
        XCTAssertEqual(try readBytes(path), [1, 2, 3])
        XCTAssertEqual(dir.contents, ["race.png"])
    }

    func testReadsGrayPaletteAlphaSixteenBitAndInterlaced() throws {
        let dir = try TempDir()
        func rgb(_ v: [UInt8]) -> [UInt8] { v.flatMap { [$0, $0, $0] } }
        let cases: [(String, [UInt8], [UInt8])] = [
            ("gray8", try makePNG(width: 2, height: 2, colorType: 0, bitDepth: 8, scanlines: [[0, 100], [200, 255]]), rgb([0, 100, 200, 255])),
            ("gray1", try makePNG(width: 3, height: 1, colorType: 0, bitDepth: 1, scanlines: [[0b1010_0000]]), rgb([255, 0, 255])),
            ("palette8", try makePNG(width: 2, height: 2, colorType: 3, bitDepth: 8, scanlines: [[1, 0], [0, 1]],
                                     extra: [("PLTE", [10, 20, 30, 40, 50, 60])]), [40, 50, 60, 10, 20, 30, 10, 20, 30, 40, 50, 60]),
            ("palette4", try makePNG(width: 3, height: 1, colorType: 3, bitDepth: 4, scanlines: [[0x10, 0x20]],
                                     extra: [("PLTE", [1, 2, 3, 4, 5, 6, 7, 8, 9])]), [4, 5, 6, 1, 2, 3, 7, 8, 9]),
            ("rgba8", try makePNG(width: 2, height: 1, colorType: 6, bitDepth: 8, scanlines: [[1, 2, 3, 0, 4, 5, 6, 255]]), [1, 2, 3, 4, 5, 6]),
            ("rgb16", try makePNG(width: 1, height: 2, colorType: 2, bitDepth: 16, scanlines: [[0, 0, 0xFF, 0xFF, 0x80, 0x80], [0x12, 0x12, 0x34, 0x34, 0x56, 0x56]]),
             [0, 255, 128, 0x12, 0x34, 0x56]),
            ("grayAlpha16", try makePNG(width: 2, height: 1, colorType: 4, bitDepth: 16, scanlines: [[0x40, 0x40, 0, 0, 0xC8, 0xC8, 0xFF, 0xFF]]),
             rgb([0x40, 0xC8])),
            // Adam7 on 2×2: pass 1 holds (0,0), pass 6 holds (1,0), pass 7 holds row 1; other passes are empty.
            ("interlaced", try makePNG(width: 2, height: 2, colorType: 2, bitDepth: 8, scanlines: [[1, 2, 3], [4, 5, 6], [7, 8, 9, 10, 11, 12]], interlaced: true),
             [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
        ]
        for (name, bytes, expected) in cases {
            let (image, text) = try PNG.read(try dir.write(name + ".png", bytes))
            XCTAssertEqual(image.pixels, expected, name)
            XCTAssertEqual(text, [:], name)
        }
        // Text after IDAT and compressed zTXt are read too.
        var late = try makePNG(width: 1, height: 1, colorType: 0, bitDepth: 8, scanlines: [[9]])
        late.removeLast(12)
        APNG.chunk("zTXt", Array("note".utf8) + [0, 0] + (try APNG.deflate(Array("zipped".utf8), path: "")), into: &late)
        APNG.chunk("IEND", [], into: &late)
        XCTAssertEqual(try PNG.read(try dir.write("late.png", late)).1, ["note": "zipped"])
    }

    func testCorruptAndMissingFilesThrowWithoutCrashing() throws {
        let dir = try TempDir()
        let path = dir.file("good.png")
        try PNG.write(randomImage(width: 9, height: 6, seed: 3), text: [("parameters", "x")], to: path)
        let bytes = try readBytes(path)
        for cut in stride(from: 0, to: bytes.count, by: 13) {
            let p = try dir.write("cut.png", Array(bytes[..<cut]))
            XCTAssertThrowsError(try PNG.read(p), "cut at \(cut)") { error in
                XCTAssertTrue(error is PNGError, "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        var rng = SplitMix64(state: 5)
        var survived = 0
        for _ in 0..<300 {
            var corrupt = bytes
            corrupt[Int.random(in: 8..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            if (try? PNG.read(try dir.write("flip.png", corrupt))) != nil { survived += 1 }
        }
        XCTAssertLessThan(survived, 300)
        let notPNG = try dir.write("a.png", Array("GIF89a........".utf8))
        XCTAssertThrowsError(try PNG.read(notPNG)) { XCTAssertEqual("\($0)", "\(notPNG): not a PNG file") }
        XCTAssertThrowsError(try PNG.read(dir.file("absent.png"))) {
            XCTAssertEqual("\($0)", "\(dir.file("absent.png")): cannot open for reading: No such file or directory")
        }
        var badCRC = bytes
        badCRC[bytes.count - 14] ^= 0xFF  // the IDAT chunk's CRC (IEND is the last 12 bytes)
        XCTAssertThrowsError(try PNG.read(try dir.write("crc.png", badCRC))) { XCTAssertEqual("\($0)", "\(dir.file("crc.png")): IDAT: CRC error") }
    }

    func testInvalidTextIsRejectedBeforeWriting() throws {
        let dir = try TempDir()
        let image = randomImage(width: 1, height: 1, seed: 0)
        for key in ["", String(repeating: "k", count: 80), "bad\nkey", " lead", "猫"] {
            XCTAssertThrowsError(try PNG.write(image, text: [(key, "v")], to: dir.file("k.png")), key) { XCTAssertTrue($0 is PNGError) }
        }
        XCTAssertThrowsError(try PNG.write(image, text: [("k", "a\0b")], to: dir.file("k.png"))) { error in
            XCTAssertEqual("\(error)", "\(dir.file("k.png")): PNG text 'k' contains a NUL character")
        }
        XCTAssertThrowsError(try PNG.write(RGBImage(width: 0, height: 3), to: dir.file("k.png")))
        var short = RGBImage(width: 2, height: 2)
        short.pixels.removeLast()
        XCTAssertThrowsError(try PNG.write(short, to: dir.file("k.png"))) {
            XCTAssertEqual("\($0)", "\(dir.file("k.png")): cannot write a 2×2 image of 11 bytes")
        }
        XCTAssertEqual(dir.contents, [])
    }

    func testPillowReadsTheSamePixelsAndText() throws {
        let dir = try TempDir()
        let image = randomImage(width: 6, height: 4, seed: 9)
        let path = dir.file("pil.png")
        try PNG.write(image, text: [("parameters", Self.a1111), ("Title", "猫")], to: path)
        let script = """
        import sys, json
        try:
            from PIL import Image
        except ImportError:
            sys.exit(77)
        im = Image.open(sys.argv[1])
        print(im.mode, im.size, im.tobytes().hex(), json.dumps(im.text, sort_keys=True))
        """
        guard let (status, output) = python(script, args: [path]) else { throw XCTSkip("python3 with Pillow not available") }
        XCTAssertEqual(status, 0, output)
        let hex = image.pixels.map { String(format: "%02x", $0) }.joined()
        let json = #"{"Title": "\u732b", "parameters": "a photo of a cat, \"studio\" lighting\nNegative prompt: blurry\nSteps: 10, Sampler: VAR, CFG scale: 4, Seed: 42, Size: 256x256, Model: var-d16, Version: scalewise 0.1"}"#
        XCTAssertEqual(output, "RGB (6, 4) \(hex) \(json)\n")
    }
}
