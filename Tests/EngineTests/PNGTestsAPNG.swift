import Foundation
import XCTest
@testable import ScalewiseEngine

final class PNGTestsAPNG: XCTestCase {
    func testAnimationChunksSequenceAndFramesDecode() throws {
        let dir = try TempDir()
        let frames = (0..<3).map { randomImage(width: 5, height: 4, seed: UInt64(10 + $0)) }
        let path = dir.file("steps.png")
        try APNG.write(frames: frames, delayMs: 120, text: [("parameters", "cat"), ("Title", "猫")], to: path)
        let chunks = parseChunks(try readBytes(path))
        XCTAssertEqual(chunks.map(\.type), ["IHDR", "tEXt", "iTXt", "acTL", "fcTL", "IDAT", "fcTL", "fdAT", "fcTL", "fdAT", "IEND"])
        XCTAssertEqual(chunks[0].data, [0, 0, 0, 5, 0, 0, 0, 4, 8, 2, 0, 0, 0])
        XCTAssertEqual(chunks[2].data, Array("Title".utf8) + [0, 0, 0, 0, 0] + Array("猫".utf8))
        XCTAssertEqual(chunks[3].data, [0, 0, 0, 3, 0, 0, 0, 0])  // 3 frames, loop forever
        let controls = chunks.filter { $0.type == "fcTL" }.map(\.data)
        for (i, c) in controls.enumerated() {
            XCTAssertEqual(be(c[0..<4]), [0, 1, 3][i], "fcTL sequence")
            XCTAssertEqual(Array(c[4...]), [0, 0, 0, 5, 0, 0, 0, 4] + [UInt8](repeating: 0, count: 8) + [0, 120, 0x03, 0xE8, 0, 0])
        }
        let data = chunks.filter { $0.type == "fdAT" }.map(\.data)
        XCTAssertEqual(data.map { be($0[0..<4]) }, [2, 4], "fdAT sequence")
        let streams = [chunks[5].data] + data.map { Array($0.dropFirst(4)) }
        for (i, stream) in streams.enumerated() {
            let raw = try XCTUnwrap(inflate(stream, expected: 4 * (1 + 5 * 3)), "frame \(i) does not inflate")
            XCTAssertEqual(unfilter(raw, width: 5, height: 4, bpp: 3), frames[i].pixels, "frame \(i)")
        }
        // A viewer without APNG support (here libpng) sees frame 0 and the text.
        let (still, text) = try PNG.read(path)
        XCTAssertEqual(still, frames[0])
        XCTAssertEqual(text, ["parameters": "cat", "Title": "猫"])
    }

    func testPillowSeesEveryFrame() throws {
        let dir = try TempDir()
        let frames = (0..<4).map { randomImage(width: 8, height: 3, seed: UInt64(40 + $0)) }
        let path = dir.file("pil.png")
        try APNG.write(frames: frames, delayMs: 250, loops: 2, to: path)
        let script = """
        import sys
        try:
            from PIL import Image
        except ImportError:
            sys.exit(77)
        im = Image.open(sys.argv[1])
        out = [str(im.n_frames), str(im.is_animated), str(im.info.get("loop"))]
        for i in range(im.n_frames):
            im.seek(i)
            out.append(str(im.info.get("duration")) + ":" + im.convert("RGB").tobytes().hex())
        print(" ".join(out))
        """
        guard let (status, output) = python(script, args: [path]) else { throw XCTSkip("python3 with Pillow not available") }
        XCTAssertEqual(status, 0, output)
        let expected = ["4", "True", "2"] + frames.map { "250.0:" + $0.pixels.map { String(format: "%02x", $0) }.joined() }
        XCTAssertEqual(output, expected.joined(separator: " ") + "\n")
    }

    func testRejectsBadInputAndExistingFiles() throws {
        let dir = try TempDir()
        let path = dir.file("a.png")
        let a = randomImage(width: 2, height: 2, seed: 1)
        XCTAssertThrowsError(try APNG.write(frames: [], delayMs: 100, to: path)) {
            XCTAssertEqual("\($0)", "\(path): an animation needs at least one frame")
        }
        XCTAssertThrowsError(try APNG.write(frames: [a, randomImage(width: 3, height: 2, seed: 2)], delayMs: 100, to: path)) {
            XCTAssertEqual("\($0)", "\(path): all frames must be 2×2")
        }
        XCTAssertThrowsError(try APNG.write(frames: [a], delayMs: 70_000, to: path))
        try APNG.write(frames: [a], delayMs: 100, to: path)
        XCTAssertThrowsError(try APNG.write(frames: [a, a], delayMs: 100, to: path)) {
            XCTAssertEqual("\($0)", "\(path): already exists (use --force to overwrite)")
        }
        try APNG.write(frames: [a, a], delayMs: 100, to: path, overwrite: true)
        XCTAssertEqual(parseChunks(try readBytes(path)).filter { $0.type == "fcTL" }.count, 2)
        XCTAssertEqual(dir.contents, ["a.png"])
    }
}
