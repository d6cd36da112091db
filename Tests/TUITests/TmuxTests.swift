import Foundation
import ScalewiseEngine
import XCTest

/// End-to-end: the real binary in tmux, asserting on the captured screen (colours included) and files.
final class TUITmuxTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    private func command(_ extra: String = "") -> String {
        "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1 \(extra)"
    }

    /// Counts `▀` cells drawn with a 24-bit (`38;2`) or indexed (`38;5`) foreground.
    private func coloredCells(_ screen: String, sgr: String) -> Int {
        screen.components(separatedBy: "\u{1B}[\(sgr);").dropFirst().filter { $0.contains("▀") }.count
    }

    /// The script: start, search a class, three scales forward and one back, change cfg, save, quit.
    func testSearchStepCfgSaveQuit() throws {
        let pane = try TmuxPane(command("--output-dir ."), env: ["COLORTERM": "truecolor", "SCALEWISE_TUI_LOG": "tui.log"])
        pane.wait(for: "ready")
        XCTAssertTrue(pane.screen().contains("truecolor · half"), "status bar names the mode")
        try pane.keys("/")
        try pane.literal("c3")
        pane.wait(for: "/c3_")
        try pane.keys("Enter")
        pane.wait(for: "c3 · scale 0/10")
        XCTAssertFalse(pane.screen().contains("c4"), "the search filtered the list")
        try pane.keys("Right")
        pane.wait(for: "scale 1/10")
        try pane.keys("Right")
        pane.wait(for: "scale 2/10")
        try pane.keys("Right")
        pane.wait(for: "c3 · scale 3/10 · 3×3")
        let colored = pane.screen(colors: true)
        XCTAssertGreaterThan(coloredCells(colored, sgr: "38;2"), 100, "the canvas is drawn in 24-bit colour")
        XCTAssertTrue(pane.screen().contains("  3 3×3         9   0.89"), "per-scale size, tokens and guidance")
        try pane.keys("Left")
        pane.wait(for: "c3 · scale 2/10 · 2×2")
        try pane.keys("c")
        pane.wait(for: "cfg (0…100):")
        try pane.literal("2.5")
        try pane.keys("Enter")
        pane.wait(for: "cfg     2.50")
        pane.wait("the re-run to reach scale 3 again") { $0.contains("  3 3×3         9   0.56") }
        try pane.keys("s")
        pane.wait(for: "saved scalewise-c3-0.png", timeout: 90)
        let png = pane.dir.appendingPathComponent("scalewise-c3-0.png").path
        let (image, text) = try PNG.read(png)
        XCTAssertEqual(image.width, 32)
        XCTAssertEqual(image.height, 32)
        let params = try XCTUnwrap(text["parameters"])
        XCTAssertTrue(params.hasPrefix("c3\nSteps: 10, Sampler: VAR, CFG scale: 2.5, Seed: 0, Top-k:"), params)
        let rec = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))
        XCTAssertEqual(rec.classIndex, 3)
        XCTAssertEqual(rec.cfg, 2.5)
        XCTAssertEqual(rec.seed, 0)
        // A second save never overwrites: it picks a fresh name.
        try pane.keys("s")
        pane.wait(for: "saved scalewise-c3-0-1.png")
        try pane.keys("S")
        pane.wait(for: "scalewise-c3-0-anim.png")
        let (strip, _) = try PNG.read(pane.dir.appendingPathComponent("scalewise-c3-0-strip.png").path)
        XCTAssertEqual(strip.width, 10 * 32 + 9 * 2)
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
        let log = try String(contentsOf: pane.dir.appendingPathComponent("tui.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("key_to_draw_ms="), "latency log written")
    }

    func test256ColoursAndNoColor() throws {
        let pane = try TmuxPane(command(), env: [:])
        pane.wait(for: "ready")
        try pane.keys("Enter")
        pane.wait(for: "scale 10/10")
        let s = pane.wait("256-colour cells", colors: true) { self.coloredCells($0, sgr: "38;5") > 100 }
        XCTAssertTrue(pane.screen().contains("256 colours · half"))
        XCTAssertEqual(coloredCells(s, sgr: "38;2"), 0, "no 24-bit colour without COLORTERM")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")

        let mono = try TmuxPane(command(), env: ["NO_COLOR": "1", "COLORTERM": "truecolor"])
        mono.wait(for: "ready")
        try mono.keys("Enter")
        mono.wait(for: "scale 10/10")
        let m = mono.screen(colors: true)
        XCTAssertTrue(mono.screen().contains("mono · half"))
        XCTAssertFalse(m.contains("38;5;") || m.contains("38;2;") || m.contains("48;5;") || m.contains("48;2;"), "NO_COLOR: no colours")
        try mono.keys("q")
        mono.wait(for: "EXIT=0")
    }

    func testResizeStormAndTooSmall() throws {
        let pane = try TmuxPane(command(), env: ["COLORTERM": "truecolor"])
        pane.wait(for: "ready")
        try pane.keys("Enter")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<40 { try pane.resize(Int.random(in: 20...200, using: &rng), Int.random(in: 5...70, using: &rng)) }
        try pane.resize(40, 10)
        pane.wait(for: "Terminal too small: 40×10")
        try pane.resize(100, 30)
        pane.wait(for: "scale 10/10")
        pane.wait(for: "ready")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// 2,000 random keys (every command but quit), then a clean exit.
    func testRandomKeysDoNotCrash() throws {
        let pane = try TmuxPane(command("--output-dir ."), env: ["COLORTERM": "truecolor"])
        pane.wait(for: "ready")
        let named = ["Left", "Right", "Up", "Down", "Enter", "Escape", "Tab", "BTab", "PPage", "NPage", "Home", "End",
                     "BSpace", "Space", "C-l", "F1", "DC", "IC"]
        let chars = Array("nprR/+-=cktf#msSoyM?v0123456789.abcxz ")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<40 {
            var batch: [String] = []
            for _ in 0..<50 {
                batch.append(Bool.random(using: &rng) ? named.randomElement(using: &rng)! : String(chars.randomElement(using: &rng)!))
            }
            try pane.tmux(["send-keys", "-t", pane.session] + batch)
        }
        try pane.keys("Escape", "Escape", "Escape")
        pane.wait("the UI to settle") { $0.contains("? help · q quit") && !$0.contains("running") }
        XCTAssertFalse(pane.screen().contains("EXIT="), "still running after 2,000 keys")
        try pane.keys("Escape", "q")
        pane.wait(for: "EXIT=0")
    }

    /// Ctrl-C and SIGTERM in the middle of a run leave the tty settings exactly as they were.
    func testSignalsRestoreTerminal() throws {
        for (how, code) in [("ctrl-c", 130), ("term", 143)] {
            // No job control in these shells: Ctrl-C signals the whole process group, so the shells ignore
            // it (as an interactive shell effectively does) and only scalewise reacts.
            let run = "trap '' INT; stty -a > before; sh -c 'echo $$ > pid; exec \"$0\" \"$@\"' \(command()); st=$?; stty -a > after; exit $st"
            let pane = try TmuxPane(run, env: [:])
            pane.wait(for: "ready")
            try pane.keys("Enter")
            if how == "ctrl-c" {
                try pane.keys("C-c")
            } else {
                let pid = try String(contentsOf: pane.dir.appendingPathComponent("pid"), encoding: .utf8)
                kill(pid_t(pid.trimmingCharacters(in: .whitespacesAndNewlines))!, SIGTERM)
            }
            pane.wait(for: "EXIT=\(code)")
            let before = try String(contentsOf: pane.dir.appendingPathComponent("before"), encoding: .utf8)
            let after = try String(contentsOf: pane.dir.appendingPathComponent("after"), encoding: .utf8)
            XCTAssertEqual(before, after, "\(how): stty -a changed")
            XCTAssertFalse(pane.screen().contains("▀"), "\(how): the alternate screen was left")
        }
    }
}
