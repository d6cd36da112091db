import Foundation
import ScalewiseEngine
import XCTest
@testable import ScalewiseTUI

/// The X/Y view (`X`) end to end on the real binary: labels, adopting a cell, refusing a bad spec, and the saved
/// sheet that `generate --from-png` reproduces. Waits are on the latency log and the screen, never fixed sleeps.
final class XYViewTmuxTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    /// fp32, `LANG=C`, 80×24: the images are compared bit for bit with `scalewise generate`.
    private func pane(_ extra: String = "", width: Int = 80) throws -> TmuxPane {
        let line = "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1 --precision fp32 --class 3 --seed 7" + extra
        let p = try TmuxPane(line, env: ["SCALEWISE_TUI_LOG": "tui.log", "LANG": "C"], width: width, height: 24)
        p.wait(for: "ready")
        return p
    }

    /// Runs `scalewise` with `args` in `dir` and waits for it.
    private func cli(_ args: [String], in dir: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args + ["-q", "--threads", "1", "--precision", "fp32"]
        p.currentDirectoryURL = dir
        p.environment = ["HOME": dir.path, "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": blasKernels]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, args.joined(separator: " "))
    }

    private func openXY(_ pane: TmuxPane, _ spec: String) throws {
        try pane.keys("X")
        pane.wait(for: "X/Y axes")
        try pane.literal(spec)
        try pane.keys("Enter")
    }

    /// A 2×2 cfg × seed sheet: headers on screen (ASCII only), `s` saves a sheet `--from-png` makes again byte for
    /// byte, and Enter adopts the bottom-right cell, whose image is `generate --cfg 2 --seed 2`'s.
    func testGridLabelsSaveAndAdopt() throws {
        let pane = try pane()
        try openXY(pane, "cfg=1,2 seed=1,2")
        pane.waitLog("xy cell 4 ")
        let screen = pane.wait("every cell") { $0.contains("X/Y 4/4 cells") }
        for label in ["cfg=1", "cfg=2", "seed=1", "seed=2", "> cfg=1 seed=1"] { XCTAssertTrue(screen.contains(label), label) }
        XCTAssertTrue(pane.screen().unicodeScalars.allSatisfy { $0.isASCII }, "LANG=C: ASCII only")
        // Every colour mode keeps the grid and its labels.
        var modes: Set<String> = []
        for _ in 0..<5 {
            try pane.keys("o")
            let s = pane.wait("a colour mode") { $0.contains("colour: ") && $0.contains("seed=2") && $0.contains("cfg=2") }
            modes.insert(String(s.split(separator: "\n").last { $0.contains("colour: ") } ?? ""))
        }
        XCTAssertGreaterThan(modes.count, 1, "o cycles the colour modes in the view")

        try pane.keys("s")
        let saved = pane.waitLog("saved xy ")
        let name = try XCTUnwrap(saved.components(separatedBy: "saved xy ").last?.split(separator: "\n").first.map(String.init))
        let sheet = name.hasPrefix("/") ? name : pane.dir.appendingPathComponent(name).path
        try cli(["generate", "--from-png", sheet, "--model", TmuxPane.fixtureModel, "-o", "again.png"], in: pane.dir)
        let again = pane.dir.appendingPathComponent("again.png").path
        XCTAssertEqual(FileManager.default.contents(atPath: again), FileManager.default.contents(atPath: sheet),
                       "generate --from-png makes the saved sheet again, byte for byte")

        try pane.keys("Right")
        try pane.keys("Down")
        pane.wait(for: "> cfg=2 seed=2")
        try pane.keys("Enter")
        let log = pane.waitLog("history /")
        XCTAssertTrue(log.contains("xy adopted 4 cfg=2 seed=2"))
        let file = try XCTUnwrap(log.components(separatedBy: "history ").last?.split(separator: "\n").first.map(String.init))
        let image = try PNG.read(file).0
        let shown = log.split(separator: "\n").last { $0.contains("xy cell 4 cfg=2 seed=2 pixels ") }
        XCTAssertEqual(shown?.components(separatedBy: " pixels ").last, Variations.fingerprint(image), "the adopted image is the cell shown")
        try cli(["generate", "--model", TmuxPane.fixtureModel, "--class", "3", "--cfg", "2", "--seed", "2", "-o", "cell.png"], in: pane.dir)
        XCTAssertTrue(try PNG.read(pane.dir.appendingPathComponent("cell.png").path).0 == image, "the adopted cell is generate's image")
        pane.wait(for: "cfg     2.0")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// Bad specs say why on the status line and run nothing; Esc leaves a running view with the image as it was.
    func testBadSpecsAndCancel() throws {
        let pane = try pane()
        for (spec, why) in [("cfg=abc", "--xy cfg: 'abc' is not a number"), ("top_k=1 top_k=2", "top_k is given twice"),
                            ("bogus=1", "unknown axis 'bogus'"), ("model=a,b", "--xy model: not in the TUI"),
                            ("steps=2,3", "has one schedule")] {
            try openXY(pane, spec)
            pane.wait(for: why)
        }
        XCTAssertEqual(pane.log().components(separatedBy: "xy refused").count - 1, 5)
        XCTAssertFalse(pane.log().contains("xy cell"), "nothing ran")
        try openXY(pane, "seed=1,2,3,4,5,6,7,8,9")
        pane.wait(for: "cells to the last scale")
        try pane.keys("Escape")
        pane.waitLog("xy closed")
        pane.wait(for: "view closed")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// At 80×24 an 8×8 sheet shows the cells that fit; the cursor reaches the far corner, the window follows it and
    /// says which part is shown, and Home brings both back.
    func testWindowFollowsTheCursor() throws {
        var v = XYView(axes: [try XYAxis(parsing: "cfg=1,2,3,4,5,6,7,8"), try XYAxis(parsing: "seed=1,2,3,4,5,6,7,8")], cells: [])
        let fit = v.shown(width: 80, height: 24)
        XCTAssertLessThan(fit.cols * fit.rows, 64)
        XCTAssertGreaterThanOrEqual(fit.cols, 2)
        XCTAssertGreaterThanOrEqual(fit.rows, 2)
        let tiles = VariationLayout(width: 80, height: 24, cols: fit.cols, rows: fit.rows, count: fit.cols * fit.rows, left: fit.left, top: 4).tiles
        for t in tiles {
            XCTAssertLessThanOrEqual(t.canvas.x + t.canvas.cols, 80)
            XCTAssertLessThan(t.label.y, 23, "above the status line")
        }
        let page = (cols: fit.cols, rows: fit.rows)
        XCTAssertEqual(v.window(page), "columns 1–\(fit.cols) of 8 · rows 1–\(fit.rows) of 8 (arrows scroll)")
        for _ in 0..<10 { v.move(dx: 1, dy: 1, fit: page) }
        XCTAssertEqual(v.selected, 63, "the last cell is reachable")
        XCTAssertEqual(v.left0, 8 - fit.cols)
        XCTAssertEqual(v.top0, 8 - fit.rows)
        XCTAssertEqual(v.window(page), "columns \(9 - fit.cols)–8 of 8 · rows \(9 - fit.rows)–8 of 8 (arrows scroll)")
        v.move(dx: -1, dy: 0, fit: page)
        XCTAssertEqual(v.left0, 8 - fit.cols, "a step back inside the window does not scroll")
        v.move(dx: -8, dy: -8, fit: page)
        XCTAssertEqual([v.x, v.y, v.left0, v.top0], [0, 0, 0, 0])
    }

    /// A row of 12 cells on 80 columns: the ones past the edge are scrolled to with the arrows and adopted; each cell
    /// shows its scales as they come (its progress in the log before it is done).
    func testScrollsToCellsBeyondTheScreen() throws {
        let pane = try pane()
        try openXY(pane, "seed=" + (1...12).map(String.init).joined(separator: ","))
        let first = pane.wait("the first window") { $0.contains("cells 1-9 of 12") }
        XCTAssertFalse(first.contains("seed=12"), "the last cell is past the edge")
        let log = pane.waitLog("xy cell 12 ")
        let step = try XCTUnwrap(log.range(of: "xy progress cell=1 k=1/10"), "cell 1's first scale was shown")
        // A started cell says so (0/10) before its first scale is done, and is no longer "queued".
        let started = try XCTUnwrap(log.range(of: "xy progress cell=1 k=0/10"), "cell 1's start was shown")
        XCTAssertLessThan(started.lowerBound, step.lowerBound)
        XCTAssertLessThan(step.lowerBound, try XCTUnwrap(log.range(of: "xy cell 1 ")).lowerBound, "before cell 1 was done")
        for _ in 0..<11 { try pane.keys("Right") }
        pane.waitLog("xy select 12 seed=12")
        let s = pane.wait("the last window") { $0.contains("cells 4-12 of 12") }
        XCTAssertTrue(s.contains("seed=12"), s)
        try pane.keys("Enter")
        let adopted = pane.waitLog("xy adopted")
        XCTAssertTrue(adopted.contains("xy adopted 12 seed=12"), adopted)
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// A 5×4 sheet under random moves and resizes (the window shrinks past the cursor and grows past the sheet):
    /// no crash, and Enter still adopts the cell the log says is selected.
    func testRandomMovesAndResizes() throws {
        let pane = try pane()
        try openXY(pane, "cfg=1,2,3,4,5 seed=1,2,3,4")
        pane.waitLog("xy cell 20 ")
        let keys = ["Left", "Right", "Up", "Down", "PPage", "NPage", "Home", "End"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<30 {
            try pane.tmux(["send-keys", "-t", pane.session] + (0..<8).map { _ in keys.randomElement(using: &rng)! })
            try pane.resize(Int.random(in: 20...200, using: &rng), Int.random(in: 8...60, using: &rng))
        }
        try pane.resize(80, 24)
        // Keys are taken in order: whatever the random ones did, End and Left leave the cursor on cell 19.
        try pane.keys("End", "Left")
        pane.wait("the grid") { $0.contains("X/Y 20/20 cells") }
        XCTAssertFalse(pane.screen().contains("EXIT="), "still running")
        try pane.keys("Enter")
        XCTAssertTrue(pane.waitLog("xy adopted").contains("xy adopted 19 cfg=4 seed=4"))
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// More than 64 cells need `--allow-large` (and the refusal says so); with it, the sheet runs.
    func testAllowLarge() throws {
        let spec = "cfg=1,2,3,4,5 seed=" + (1...13).map(String.init).joined(separator: ",")
        for allow in [false, true] {
            let pane = try pane(allow ? " --allow-large" : "", width: 160)
            try openXY(pane, spec)
            if allow {
                pane.wait(for: "X/Y: 65 cells")
                pane.waitLog("xy progress cell=1 ")
                try pane.keys("Escape")
                pane.waitLog("xy closed")
            } else {
                pane.wait(for: "more than 64; start scalewise with --allow-large for up to 1024")
                XCTAssertTrue(pane.log().contains("xy refused"))
            }
            try pane.keys("q")
            pane.wait(for: "EXIT=0")
        }
    }
}
