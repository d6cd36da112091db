import Foundation
import ScalewiseEngine
import XCTest

/// The real binary on a pseudo-terminal that answers like kitty, like a sixel terminal, like a
/// terminal without pixel graphics, or not at all; the pictures it sends are decoded back and compared
/// with the PNG the engine saved.
final class PixelTerminalTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    private func doctor(_ kind: FakeTerminal.Kind, cellW: Int = 0, cellH: Int = 0) throws -> (String, Double) {
        let t = try FakeTerminal([binary, "doctor"], kind: kind, cellW: cellW, cellH: cellH)
        let start = Date()
        XCTAssertEqual(t.waitExit(), 0, t.text)
        return (t.text, Date().timeIntervalSince(start))
    }

    func testDoctorDetectsKitty() throws {
        let (out, _) = try doctor(.kitty)
        XCTAssertTrue(out.contains("kitty graphics: yes (answered OK to the a=q query before DA1)"), out)
        XCTAssertTrue(out.contains("cell size:      10×20 px (CSI 16 t: 10×20 px)"), out)
        XCTAssertTrue(out.contains("picture:        kitty"), out)
        XCTAssertTrue(out.contains("nothing left in the input"), out)
    }

    func testDoctorDetectsSixel() throws {
        let (out, _) = try doctor(.sixel)
        XCTAssertTrue(out.contains("kitty graphics: no (DA1 came back with no reply to the a=q query)"), out)
        XCTAssertTrue(out.contains("sixel:          yes (DA1 lists attribute 4 (?63;1;2;4;6;9;15;22c); 1024 colour registers (XTSMGRAPHICS))"), out)
        XCTAssertTrue(out.contains("picture:        sixel"), out)
    }

    func testDoctorPlainTerminalFallsBackToBlocks() throws {
        let (out, _) = try doctor(.plain)
        XCTAssertTrue(out.contains("sixel:          no (DA1 (?62;22c) has no attribute 4)"), out)
        XCTAssertTrue(out.contains("picture:        blocks (no pixel protocol detected)"), out)
    }

    /// A terminal that answers nothing costs the probe's timeout and no more; the pixel size then comes
    /// from TIOCGWINSZ.
    func testDoctorSilentTerminalTimesOutQuickly() throws {
        let (out, seconds) = try doctor(.silent, cellW: 9, cellH: 18)
        XCTAssertTrue(out.contains("probe:          no DA1 reply within 150 ms"), out)
        XCTAssertTrue(out.contains("cell size:      9×18 px (TIOCGWINSZ: 1080×720 px for 120×40 cells)"), out)
        XCTAssertTrue(out.contains("picture:        blocks"), out)
        let ms = out.components(separatedBy: "within 150 ms (").dropFirst().first.flatMap { Double($0.prefix { $0 != " " }) }
        XCTAssertLessThan(try XCTUnwrap(ms), 400, "the probe gave up at its timeout")
        XCTAssertLessThan(seconds, 10)
    }

    /// A terminal that starts answering but is slow to finish (an ssh link) gets the time to send DA1, which
    /// is then consumed by the probe rather than typed into the UI.
    func testSlowTerminalIsWaitedFor() throws {
        let (out, _) = try doctor(.slow)
        let ms = out.components(separatedBy: "probe:          answered in ").dropFirst().first.flatMap { Double($0.prefix { $0 != " " }) }
        XCTAssertGreaterThan(try XCTUnwrap(ms, out), 350, "waited past the 150-ms timeout for DA1")
        XCTAssertTrue(out.contains("nothing left in the input"), out)
        let t = try FakeTerminal([binary, "tui", "--model", TmuxPane.fixtureModel, "--threads", "1"], kind: .slow,
                                 env: ["SCALEWISE_TUI_LOG": "{dir}/tui.log"])
        t.waitFile("tui.log", contains: "graphics blocks")
        t.pump(until: { _ in false }, timeout: 0.5)
        t.type("q")
        XCTAssertEqual(t.waitExit(), 0)
        assertNoRepliesTakenAsKeys(t)
    }

    /// Runs the TUI on a fake terminal: to the last scale, save, quit. Returns the terminal and the PNG.
    private func runAndSave(_ kind: FakeTerminal.Kind, extra: [String] = [], env: [String: String] = [:]) throws -> (FakeTerminal, RGBImage) {
        let t = try FakeTerminal([binary, "tui", "--model", TmuxPane.fixtureModel, "--threads", "1", "--output-dir", "{dir}"] + extra,
                                 kind: kind, env: ["COLORTERM": "truecolor", "SCALEWISE_TUI_LOG": "{dir}/tui.log"].merging(env) { $1 })
        t.waitFile("tui.log", contains: "graphics ")
        t.type("\r")
        t.type("s")
        t.waitFile("tui.log", contains: "saved ", timeout: 90)
        t.type("q")
        XCTAssertEqual(t.waitExit(), 0)
        let png = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: t.dir.path).first { $0.hasSuffix(".png") })
        return (t, try PNG.read(t.dir.appendingPathComponent(png).path).0)
    }

    /// The probe's replies never reach the key queue: DA1's '?' would open the help, its 'c' the cfg prompt.
    private func assertNoRepliesTakenAsKeys(_ t: FakeTerminal, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(t.text.contains("keys (any key closes)"), "help opened by a reply", file: file, line: line)
        XCTAssertFalse(t.text.contains("cfg (0…100):"), "cfg prompt opened by a reply", file: file, line: line)
        XCTAssertEqual(t.queries.filter { $0 == "da1" }.count, 1, "one probe", file: file, line: line)
    }

    /// kitty: the canvas's last picture, decoded from the escape stream, is the saved PNG zoomed by a
    /// whole number, pixel for pixel; every command is quiet and the pictures of earlier scales are freed.
    func testKittyPreviewIsPixelTrue() throws {
        let (t, png) = try runAndSave(.kitty)
        assertNoRepliesTakenAsKeys(t)
        let cmds = GraphicsDecode.kittyCommands(t.output)
        XCTAssertFalse(cmds.isEmpty)
        XCTAssertEqual(cmds.filter { $0.controls["a"] == "q" }.count, 1, "one support query, in the probe")
        XCTAssertTrue(cmds.allSatisfy { $0.controls["q"] == "2" || $0.controls["a"] == "q" }, "q=2 on every drawing command")
        let images = try GraphicsDecode.kittyImages(cmds)
        let canvas = try XCTUnwrap(cmds.last { $0.controls["a"] == "p" && $0.controls["p"] == "1" })
        let shown = try XCTUnwrap(canvas.controls["i"].flatMap(Int.init).flatMap { images[$0] })
        let zoom = shown.width / png.width
        XCTAssertGreaterThan(zoom, 1, "a 32-px image is zoomed on a 120×40 screen")
        XCTAssertEqual(GraphicsDecode.unzoom(shown, by: zoom), png, "pixel-true at \(zoom)×")
        XCTAssertTrue(cmds.contains { $0.controls["a"] == "d" && $0.controls["d"] == "I" }, "earlier scales' pictures freed")
        let transmitted = cmds.filter { $0.controls["a"] == "t" }.compactMap { $0.controls["i"] }
        XCTAssertEqual(transmitted.count, Set(transmitted).count, "each picture transmitted once")
        XCTAssertEqual(t.logLines.last { $0.hasPrefix("mode ") }, "mode kitty \(zoom)×", "the status line names the mode and zoom")
    }

    /// Sixel: the largest (canvas) picture decodes to the saved PNG zoomed by a whole number, within the
    /// registers' percent precision (the terminal reports 1024 registers, more than the image's colours).
    func testSixelPreviewMatchesThePNG() throws {
        let (t, png) = try runAndSave(.sixel)
        assertNoRepliesTakenAsKeys(t)
        let sixels = try GraphicsDecode.sixelStrings(t.output).map { try GraphicsDecode.sixel($0) }
        let canvas = try XCTUnwrap(sixels.last { $0.width == sixels.map(\.width).max() })
        let zoom = canvas.width / png.width
        XCTAssertGreaterThan(zoom, 1)
        let shown = try XCTUnwrap(GraphicsDecode.unzoom(canvas, by: zoom), "every source pixel is a uniform block")
        XCTAssertLessThanOrEqual(GraphicsDecode.maxDifference(shown, png), 2)
        XCTAssertEqual(t.logLines.last { $0.hasPrefix("mode ") }, "mode sixel \(zoom)×", "the status line names the mode and zoom")
    }

    /// A terminal with neither protocol gets blocks and no image escapes at all; so does --graphics blocks
    /// on a kitty terminal, which is not even probed.
    func testBlocksWithoutPixelProtocols() throws {
        for (kind, extra) in [(FakeTerminal.Kind.plain, [String]()), (.kitty, ["--graphics", "blocks"])] {
            let t = try FakeTerminal([binary, "tui", "--model", TmuxPane.fixtureModel, "--threads", "1"] + extra, kind: kind,
                                     env: ["COLORTERM": "truecolor", "SCALEWISE_TUI_LOG": "{dir}/tui.log"])
            t.waitFile("tui.log", contains: "graphics blocks")
            t.type("n")
            t.waitFile("tui.log", contains: "scale lane=0 k=1 ")
            t.type("q")
            XCTAssertEqual(t.waitExit(), 0)
            XCTAssertTrue(t.text.contains("truecolor · half"), "status line: blocks mode")
            XCTAssertTrue(GraphicsDecode.kittyCommands(t.output).allSatisfy { $0.controls["a"] == "q" }, "no kitty drawing")
            XCTAssertTrue(GraphicsDecode.sixelStrings(t.output).isEmpty)
            XCTAssertEqual(t.queries.contains("da1"), extra.isEmpty, "probed only in auto mode")
            if extra.isEmpty { assertNoRepliesTakenAsKeys(t) }
        }
    }

    /// iTerm2 (announced by TERM_PROGRAM): the canvas's last inline image is the saved PNG, zoomed.
    func testITermPreviewMatchesThePNG() throws {
        let (t, png) = try runAndSave(.plain, env: ["TERM_PROGRAM": "iTerm.app"])
        assertNoRepliesTakenAsKeys(t)
        let seqs = t.text.components(separatedBy: "\u{1B}]1337;File=").dropFirst().map { "\u{1B}]1337;File=" + $0.prefix { $0 != "\u{07}" } + "\u{07}" }
        XCTAssertFalse(seqs.isEmpty)
        let dir = t.dir.appendingPathComponent("decoded")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var pictures: [RGBImage] = []
        for (i, seq) in seqs.enumerated() {
            let path = dir.appendingPathComponent("\(i).png").path
            try Data(GraphicsDecode.itermPNG(Array(seq.utf8))).write(to: URL(fileURLWithPath: path))
            pictures.append(try PNG.read(path).0)
        }
        let canvas = try XCTUnwrap(pictures.last { $0.width == pictures.map(\.width).max() })
        let zoom = canvas.width / png.width
        XCTAssertGreaterThan(zoom, 1)
        XCTAssertEqual(GraphicsDecode.unzoom(canvas, by: zoom), png)
        XCTAssertTrue(t.text.contains(" iterm │"), "the status line names the mode")
    }

    /// Compare mode: each lane's canvas is its own kitty placement (p=1, p=2), both pictures pixel-true.
    func testCompareModeHasTwoPlacements() throws {
        let t = try FakeTerminal([binary, "tui", "--model", TmuxPane.fixtureModel, "--compare", TmuxPane.fixtureModel, "--threads", "1"],
                                 kind: .kitty, env: ["SCALEWISE_TUI_LOG": "{dir}/tui.log"], cols: 160, rows: 40)
        t.waitFile("tui.log", contains: "graphics kitty")
        t.type("\r")
        t.waitFile("tui.log", contains: "scale lane=1 k=10 ")
        t.waitFile("tui.log", contains: "scale lane=0 k=10 ")
        t.type("q")
        XCTAssertEqual(t.waitExit(), 0)
        let cmds = GraphicsDecode.kittyCommands(t.output)
        let images = try GraphicsDecode.kittyImages(cmds)
        var finals: [RGBImage] = []
        for p in ["1", "2"] {
            let place = try XCTUnwrap(cmds.last { $0.controls["a"] == "p" && $0.controls["p"] == p }, "placement \(p)")
            finals.append(try XCTUnwrap(place.controls["i"].flatMap(Int.init).flatMap { images[$0] }))
        }
        XCTAssertEqual(finals[0], finals[1], "the same model, class and seed on both sides")
        XCTAssertEqual(finals[0].width % 32, 0, "a whole-number zoom of the 32-px image")
    }
}

extension PixelTerminalTests {
    /// kitty: the history browser's picture is a placement of its own (p=9), pixel-true to the logged PNG; closing the
    /// browser deletes that placement and frees its image, and the canvas is placed again.
    func testHistoryPictureInPixels() throws {
        let t = try FakeTerminal([TmuxPane.binary!, "tui", "--model", TmuxPane.fixtureModel, "--threads", "1"], kind: .kitty,
                                 env: ["SCALEWISE_TUI_LOG": "{dir}/tui.log"])
        t.waitFile("tui.log", contains: "graphics kitty")
        t.type("\r")
        t.waitFile("tui.log", contains: "history /", timeout: 90)
        t.type("b")
        t.waitFile("tui.log", contains: "history browser 1")
        t.wait(for: ",p=9,")
        let opened = t.output.count
        t.type("\u{1B}")
        t.pump(until: { GraphicsDecode.kittyCommands(Array($0[opened...])).contains { $0.controls["a"] == "p" && $0.controls["p"] == "1" } },
               timeout: 10)
        t.type("q")
        XCTAssertEqual(t.waitExit(), 0)

        let log = t.logLines.first { $0.hasPrefix("history /") }
        let png = try PNG.read(String(try XCTUnwrap(log).dropFirst("history ".count))).0
        let before = GraphicsDecode.kittyCommands(Array(t.output[..<opened]))
        let after = GraphicsDecode.kittyCommands(Array(t.output[opened...]))
        let images = try GraphicsDecode.kittyImages(GraphicsDecode.kittyCommands(t.output))
        let place = try XCTUnwrap(before.last { $0.controls["a"] == "p" && $0.controls["p"] == "9" }, "the browser's picture is placed")
        let id = try XCTUnwrap(place.controls["i"])
        let shown = try XCTUnwrap(images[Int(id)!])
        let zoom = shown.width / png.width
        XCTAssertGreaterThan(zoom, 1)
        XCTAssertEqual(GraphicsDecode.unzoom(shown, by: zoom), png, "pixel-true at \(zoom)×")
        XCTAssertTrue(after.contains { $0.controls["a"] == "d" && $0.controls["p"] == "9" && $0.controls["i"] == id }, "placement deleted")
        XCTAssertTrue(after.contains { $0.controls["a"] == "d" && $0.controls["d"] == "I" && $0.controls["i"] == id }, "image freed")
        XCTAssertTrue(after.contains { $0.controls["a"] == "p" && $0.controls["p"] == "1" }, "the canvas is back")
    }

    /// Sixel: the history browser's picture is a sixel that decodes to the logged PNG (a whole-number zoom, within the
    /// registers' precision), and closing the browser paints the canvas again.
    func testHistoryPictureInSixels() throws {
        let t = try FakeTerminal([TmuxPane.binary!, "tui", "--model", TmuxPane.fixtureModel, "--threads", "1"], kind: .sixel,
                                 env: ["SCALEWISE_TUI_LOG": "{dir}/tui.log"])
        t.waitFile("tui.log", contains: "graphics sixel")
        t.type("\r")
        t.waitFile("tui.log", contains: "history /", timeout: 90)
        let before = t.output.count
        t.type("b")
        t.waitFile("tui.log", contains: "history browser 1")
        t.pump(until: { Self.endsASixel(Array($0[before...])) }, timeout: 10)
        let opened = t.output.count
        t.type("\u{1B}")
        let repainted = t.pump(until: { Self.endsASixel(Array($0[opened...])) }, timeout: 10)
        t.type("q")
        XCTAssertEqual(t.waitExit(), 0)

        let log = t.logLines.first { $0.hasPrefix("history /") }
        let png = try PNG.read(String(try XCTUnwrap(log).dropFirst("history ".count))).0
        let shown = try GraphicsDecode.sixelStrings(Array(t.output[before..<opened])).map { try GraphicsDecode.sixel($0) }
        let match = shown.first { s in
            let zoom = s.width / png.width
            guard zoom > 1, s.width == zoom * png.width, let u = GraphicsDecode.unzoom(s, by: zoom) else { return false }
            return GraphicsDecode.maxDifference(u, png) <= 2
        }
        XCTAssertNotNil(match, "a sixel of the browser is the logged PNG, zoomed (\(shown.map { "\($0.width)×\($0.height)" }))")
        XCTAssertTrue(repainted, "the canvas is painted again after the browser closes")
    }

    /// Whether `bytes` hold a whole sixel: a DCS string with its terminator (ST) already written.
    static func endsASixel(_ bytes: [UInt8]) -> Bool {
        GraphicsDecode.sixelStrings(bytes).contains { $0.count >= 2 && $0[$0.count - 2] == 0x1B && $0.last == 0x5C }
    }
}
