import Foundation
import ScalewiseEngine
import XCTest
@testable import ScalewiseTUI

/// The pixel protocols' encoders, decoded back by the independent decoders in GraphicsDecoders.swift.
final class GraphicsEncoderTests: XCTestCase {
    private func image(_ w: Int, _ h: Int, _ f: (Int, Int) -> (Int, Int, Int)) -> RGBImage {
        var px: [UInt8] = []
        for y in 0..<h { for x in 0..<w { let (r, g, b) = f(x, y); px += [UInt8(r & 255), UInt8(g & 255), UInt8(b & 255)] } }
        return RGBImage(width: w, height: h, pixels: px)
    }

    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A 1×6 red column is one register and one sixel with all six bits set ('~'), derived by hand
    /// from the VT340 reference: DCS P1;P2;P3 q, raster attributes, register 0 = RGB 100 % red.
    func testSixelKnownBytes() {
        let red = image(1, 6) { _, _ in (255, 0, 0) }
        XCTAssertEqual(SixelEncoder.encode(red), bytes("\u{1B}P0;1;0q\"1;1;1;6#0;2;100;0;0#0~-\u{1B}\\"))
        // Two colours in one band: a second pass after '$'; runs over three use '!n'.
        let two = image(5, 2) { x, y in y == 0 ? (0, 0, 0) : (255, 255, 255) }
        XCTAssertEqual(SixelEncoder.encode(two), bytes("\u{1B}P0;1;0q\"1;1;5;2#0;2;0;0;0#1;2;100;100;100#0!5@$#1!5A-\u{1B}\\"))
    }

    /// Up to 256 colours are kept exactly, up to the registers' percent precision.
    func testSixelRoundTripWithFewColours() throws {
        let img = image(19, 13) { x, y in ((x * 13) % 256, (y * 19) % 256, (x * y) % 5 * 60) }  // 247 colours
        let decoded = try GraphicsDecode.sixel(SixelEncoder.encode(img))
        XCTAssertEqual(decoded.width, 19)
        XCTAssertEqual(decoded.height, 13)
        XCTAssertLessThanOrEqual(GraphicsDecode.maxDifference(decoded, img), 2)
    }

    /// More colours than registers: median cut keeps the picture close.
    func testSixelMedianCutWithManyColours() throws {
        let img = image(64, 64) { x, y in (x * 4, y * 4, (x + y) * 2) }
        let seq = SixelEncoder.encode(img)
        let text = String(decoding: seq, as: UTF8.self)
        let definitions = try NSRegularExpression(pattern: "#[0-9]+;2;[0-9]+;[0-9]+;[0-9]+")
        let registers = definitions.numberOfMatches(in: text, range: NSRange(text.startIndex..., in: text))
        XCTAssertLessThanOrEqual(registers, 256)
        let decoded = try GraphicsDecode.sixel(seq)
        let diffs = zip(decoded.pixels, img.pixels).map { abs(Int($0) - Int($1)) }
        XCTAssertLessThan(Double(diffs.reduce(0, +)) / Double(diffs.count), 6, "mean error per channel")
        XCTAssertLessThan(diffs.max()!, 40)
    }

    /// A 1×1 red image is one command: f=24 RGB, base64 "/wAA" (FF 00 00), quiet (q=2), last chunk (m=0).
    func testKittyKnownBytes() {
        let red = image(1, 1) { _, _ in (255, 0, 0) }
        XCTAssertEqual(KittyEncoder.transmit(red, id: 7, tmux: false, png: false),
                       bytes("\u{1B}_Ga=t,f=24,s=1,v=1,i=7,q=2,m=0;/wAA\u{1B}\\"))
        XCTAssertEqual(KittyEncoder.place(id: 7, placement: 1, dx: 3, dy: 4, tmux: false),
                       bytes("\u{1B}_Ga=p,i=7,p=1,X=3,Y=4,C=1,q=2\u{1B}\\"))
        XCTAssertEqual(KittyEncoder.deleteImage(id: 7, tmux: false), bytes("\u{1B}_Ga=d,d=I,i=7,q=2\u{1B}\\"))
        // tmux passthrough: the whole sequence inside ESC Ptmux; … ESC \ with its ESCs doubled.
        XCTAssertEqual(KittyEncoder.deleteImage(id: 7, tmux: true),
                       bytes("\u{1B}Ptmux;\u{1B}\u{1B}_Ga=d,d=I,i=7,q=2\u{1B}\u{1B}\\\u{1B}\\"))
    }

    /// Large images go in ≤ 4096-byte chunks; only the first carries the image's controls.
    func testKittyChunksDecodeBack() throws {
        let img = image(100, 60) { x, y in (x * 2, y * 4, x ^ y) }
        let cmds = GraphicsDecode.kittyCommands(KittyEncoder.transmit(img, id: 3, tmux: false, png: false))
        XCTAssertEqual(cmds.count, 6, "18000 bytes → 24000 base64 characters → 6 chunks")
        XCTAssertEqual(cmds[0].controls, ["a": "t", "f": "24", "s": "100", "v": "60", "i": "3", "q": "2", "m": "1"])
        for c in cmds.dropFirst().dropLast() { XCTAssertEqual(c.controls, ["m": "1", "q": "2"]) }
        XCTAssertEqual(cmds.last?.controls, ["m": "0", "q": "2"])
        XCTAssertTrue(cmds.allSatisfy { $0.payload.utf8.count <= 4096 && $0.payload.utf8.count % 4 == 0 })
        XCTAssertEqual(try GraphicsDecode.kittyImages(cmds)[3], img)
        // As PNG (f=100, no size keys: the PNG has them).
        let png = GraphicsDecode.kittyCommands(KittyEncoder.transmit(img, id: 4, tmux: false))
        XCTAssertEqual(png[0].controls["f"], "100")
        XCTAssertNil(png[0].controls["s"])
        XCTAssertEqual(try GraphicsDecode.kittyImages(png)[4], img)
    }

    /// iTerm2: the PNG inside decodes to the image, in one sequence or (over 1 MiB) in parts.
    func testITermDecodesBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scalewise-iterm-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SystemRandomNumberGenerator()
        let small = image(40, 30) { x, y in (x * 6, y * 8, 99) }
        let noise = image(640, 640) { _, _ in (Int.random(in: 0...255, using: &rng), Int.random(in: 0...255, using: &rng), 7) }
        for (name, img) in [("small", small), ("noise", noise)] {
            let seq = ITermEncoder.encode(img, tmux: false)
            let text = String(decoding: seq, as: UTF8.self)
            XCTAssertTrue(text.contains("inline=1"), name)
            XCTAssertTrue(text.contains("width=\(img.width)px;height=\(img.height)px"), name)
            if name == "noise" {
                XCTAssertTrue(text.contains("MultipartFile=") && text.hasSuffix("FileEnd\u{07}"), "over 1 MiB: multipart")
                XCTAssertTrue(text.components(separatedBy: "\u{07}").allSatisfy { $0.utf8.count < 1 << 20 })
            } else {
                XCTAssertTrue(text.hasPrefix("\u{1B}]1337;File=") && text.hasSuffix("\u{07}"))
            }
            let path = dir.appendingPathComponent(name + ".png").path
            try Data(GraphicsDecode.itermPNG(seq)).write(to: URL(fileURLWithPath: path))
            XCTAssertEqual(try PNG.read(path).0, img, name)
        }
    }

    /// Whole-number zoom where it fits (each pixel an exact z×z block), area shrink where it does not.
    func testFitZoomsByWholeNumbers() throws {
        let img = image(32, 32) { x, y in (x * 8, y * 8, 0) }
        let (big, z) = PixelScale.fit(img, boxW: 300, boxH: 200)
        XCTAssertEqual(z, 6)
        XCTAssertEqual(big.width, 192)
        XCTAssertEqual(GraphicsDecode.unzoom(big, by: 6), img)
        let (small, z2) = PixelScale.fit(image(300, 150) { x, _ in (x, 0, 0) }, boxW: 100, boxH: 100)
        XCTAssertEqual(z2, 0)
        XCTAssertEqual(small.width, 100)
        XCTAssertEqual(small.height, 50)
    }

    /// Replies are recognised in any order and split across reads; typed keys count as stray.
    func testProbeReplyParsing() {
        let all = bytes("x\u{1B}_Gi=31;OK\u{1B}\\\u{1B}[6;20;10t\u{1B}[4;800;1200t\u{1B}[?62;4;22c")
        let r = ProbeReplies.parse(all)
        XCTAssertTrue(r.da1Seen)
        XCTAssertEqual(r.da1, [62, 4, 22])
        XCTAssertEqual(r.kitty, "OK")
        XCTAssertEqual(r.cell?.0, 10)
        XCTAssertEqual(r.cell?.1, 20)
        XCTAssertEqual(r.area?.0, 1200)
        XCTAssertEqual(r.stray, 1)
        let partial = ProbeReplies.parse(Array(all.prefix(all.count - 3)))
        XCTAssertFalse(partial.da1Seen, "an incomplete DA1 is not taken as the end")
    }
}
