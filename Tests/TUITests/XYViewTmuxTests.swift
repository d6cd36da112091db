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
    private func pane() throws -> TmuxPane {
        let line = "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1 --precision fp32 --class 3 --seed 7"
        let p = try TmuxPane(line, env: ["SCALEWISE_TUI_LOG": "tui.log", "LANG": "C"], width: 80, height: 24)
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

    /// At 80×24 an 8×8 sheet shows the cells that fit and says so.
    func testCapsCellsToTheTerminal() throws {
        let v = XYView(axes: [try XYAxis(parsing: "cfg=1,2,3,4,5,6,7,8"), try XYAxis(parsing: "seed=1,2,3,4,5,6,7,8")], cells: [])
        let fit = v.shown(width: 80, height: 24)
        XCTAssertLessThan(fit.cols * fit.rows, 64)
        XCTAssertGreaterThanOrEqual(fit.cols, 2)
        XCTAssertGreaterThanOrEqual(fit.rows, 2)
        let tiles = VariationLayout(width: 80, height: 24, cols: fit.cols, rows: fit.rows, count: fit.cols * fit.rows, left: fit.left, top: 3).tiles
        for t in tiles {
            XCTAssertLessThanOrEqual(t.canvas.x + t.canvas.cols, 80)
            XCTAssertLessThan(t.label.y, 23, "above the status line")
        }
    }
}
