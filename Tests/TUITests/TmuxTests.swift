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

    private func command(_ extra: String = "", model: String = TmuxPane.fixtureModel) -> String {
        "\(shellQuote(binary)) tui --model \(shellQuote(model)) --threads 1 \(extra)"
    }

    /// Counts `▀` cells drawn with a 24-bit (`38;2`) or indexed (`38;5`) foreground.
    private func coloredCells(_ screen: String, sgr: String) -> Int {
        screen.components(separatedBy: "\u{1B}[\(sgr);").dropFirst().filter { $0.contains("▀") }.count
    }

    /// The basic session: start, search a class, three scales forward and one back, change cfg, save, quit.
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
        // d: heat maps, C: copy line (OSC 52), b: history, O: open a record, V: variations, X: X/Y view.
        let chars = Array("nprR/+-=cktf#msSoyM?v0123456789.abcxzdCbOVX ")
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

    /// A crash (here SIGSEGV and SIGILL, what a stack overflow and a Swift trap raise) also restores the terminal:
    /// tty modes, keypad and cursor-key modes, mouse reporting, the cursor and the main screen.
    func testCrashRestoresTerminal() throws {
        for (sig, code) in [(SIGSEGV, 139), (SIGILL, 132)] {
            let run = "stty -a > before; sh -c 'echo $$ > pid; exec \"$0\" \"$@\"' \(command()); st=$?; stty -a > after; exit $st"
            let pane = try TmuxPane(run, env: [:])
            pane.wait(for: "ready")
            let flags = "#{keypad_cursor_flag}#{keypad_flag}#{mouse_any_flag}#{alternate_on}#{cursor_flag}"
            XCTAssertEqual(try pane.tmux(["display-message", "-p", "-t", pane.session, flags]).trimmingCharacters(in: .whitespacesAndNewlines),
                           "11110", "the TUI sets keypad, mouse and alternate-screen modes and hides the cursor")
            let pid = try String(contentsOf: pane.dir.appendingPathComponent("pid"), encoding: .utf8)
            kill(pid_t(pid.trimmingCharacters(in: .whitespacesAndNewlines))!, sig)
            pane.wait(for: "EXIT=\(code)")
            let before = try String(contentsOf: pane.dir.appendingPathComponent("before"), encoding: .utf8)
            let after = try String(contentsOf: pane.dir.appendingPathComponent("after"), encoding: .utf8)
            XCTAssertEqual(before, after, "signal \(sig): stty -a changed")
            XCTAssertEqual(try pane.tmux(["display-message", "-p", "-t", pane.session, flags]).trimmingCharacters(in: .whitespacesAndNewlines),
                           "00001", "signal \(sig): keypad, cursor-key, mouse or alternate-screen mode left on, or the cursor hidden")
        }
    }

    /// Edit mode: generate and save, `e` offers that PNG, pick a rectangle, run all scales, step,
    /// re-roll, save, back out. The saved edit must equal the engine's own in-paint with the same rectangle.
    func testEditModeInpaintsARectangle() throws {
        let pane = try TmuxPane(command("--output-dir .", model: TmuxPane.flexFixture), env: ["COLORTERM": "truecolor"])
        pane.wait(for: "ready")
        try pane.keys("Enter")
        pane.wait(for: "c0 · scale 10/10")
        try pane.keys("s")
        pane.wait(for: "saved scalewise-c0-0.png")
        try pane.keys("e")
        pane.wait(for: "edit image (PNG): ./scalewise-c0-0.png_")
        try pane.keys("Enter")
        pane.wait(for: "editing scalewise-c0-0.png (32×32): pick the region")
        XCTAssertTrue(pane.screen().contains("c0 · inpaint x4-12 y4-12 of 16x16 · moving corner ↘"), pane.screen())
        try pane.keys("2", "Tab", "l", "l", "Down")
        pane.wait(for: "c0 · inpaint x10-16 y1-16 of 16x16 · moving corner ↖")
        XCTAssertGreaterThan(coloredCells(pane.screen(colors: true), sgr: "38;2"), 100, "the image is on the canvas")
        try pane.keys("Enter")
        pane.wait(for: "edit · c0 · scale 10/10 · 16×16 · decoded")
        try pane.keys("Left")
        pane.wait(for: "c0 · scale 9/10 · 13×13")
        try pane.keys("Right")
        pane.wait(for: "c0 · scale 10/10")
        try pane.keys("s")
        pane.wait(for: "saved scalewise-c0-0-edit.png")
        try pane.keys("r")
        pane.wait(for: "re-rolled from scale 10")
        pane.wait(for: "ready")
        try pane.keys("s")
        pane.wait(for: "saved scalewise-c0-0r10-edit.png")  // its own seeds from scale 10 on
        try pane.keys("Escape")
        pane.wait(for: "pick the region again")
        try pane.keys("Escape")
        pane.wait(for: "edit mode off")
        XCTAssertFalse(pane.screen().contains("editing"), "the title no longer names the edited file")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")

        let (out, text) = try PNG.read(pane.dir.appendingPathComponent("scalewise-c0-0-edit.png").path)
        XCTAssertEqual([out.width, out.height], [32, 32])
        let label = "inpaint x10-16 y1-16 of 16x16, source scalewise-c0-0.png"
        XCTAssertTrue(text["parameters"]?.hasSuffix(", Edit: \"\(label)\"") ?? false, text["parameters"] ?? "none")
        let rec = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))
        XCTAssertEqual(rec.edit, label)
        XCTAssertEqual([rec.family, rec.className], ["flexvar", "c0"])
        XCTAssertNil(rec.scaleSeeds)
        let rerolled = try GenerationRecord.parse(try XCTUnwrap(
            try PNG.read(pane.dir.appendingPathComponent("scalewise-c0-0r10-edit.png").path).1["scalewise"]))
        XCTAssertEqual(rerolled.edit, label)
        XCTAssertNotNil(rerolled.scaleSeeds, "the re-roll is recorded")

        // The same edit through the engine, with the mask drawn here by hand: cells 10..<16 × 1..<16 of a 16×16
        // grid over 32 px are pixels 20..<32 × 2..<32.
        let (source, _) = try PNG.read(pane.dir.appendingPathComponent("scalewise-c0-0.png").path)
        var mask = RGBImage(width: 32, height: 32)
        for y in 2..<32 { for x in 20..<32 { for c in 0..<3 { mask.pixels[(y * 32 + x) * 3 + c] = 255 } } }
        // In the precision the TUI ran (recorded in the PNG; `auto` by default).
        let precision = try XCTUnwrap(Precision(rawValue: rec.precision ?? "fp32"))
        let gen = try XCTUnwrap(try ModelLoader.load(TmuxPane.flexFixture, precision: precision) as? FlexVARGenerator)
        func run(_ plan: EditPlan) throws -> RGBImage {
            let (s, _) = try FlexVAREditor(generator: gen).prepare(image: source, plan: plan, classIndex: 0, options: rec.options,
                                                                  schedule: rec.schedule)
            while s.completed < s.scales.count { _ = try s.step() }
            return s.preview(after: s.completed, tier: .decoded)
        }
        // Byte counts, not images, in the messages: a 32×32 image prints as 3,072 numbers.
        func differing(_ a: RGBImage) -> Int { zip(a.pixels, out.pixels).filter { $0 != $1 }.count }
        XCTAssertEqual(differing(try run(.inpaint(mask: mask))), 0, "the TUI ran the engine's in-paint on the picked rectangle")
        XCTAssertGreaterThan(differing(try run(.refine(upTo: 16))), 0, "the rectangle was regenerated, not just re-encoded")
    }

    /// A wide image extends at its own scale (64×32 down: 64×64); extending it right would pass twice the learned
    /// size, which edit mode refuses with the engine's message instead of shrinking the image.
    func testEditExtendKeepsTheImagesScale() throws {
        let flex = shellQuote(TmuxPane.flexFixture), bin = shellQuote(binary)
        let prep = "\(bin) generate --model \(flex) --class 2 --seed 3 -q -o src.png && "
            + "\(bin) edit --model \(flex) --class 2 --image src.png --extend right -o wide.png"
        let pane = try TmuxPane(prep + " && " + command("--output-dir . --image wide.png", model: TmuxPane.flexFixture))
        pane.wait(for: "editing wide.png (64×32)")
        try pane.keys("x", "x")
        pane.wait(for: "c2 · extend right")
        try pane.keys("Enter")
        pane.wait(for: "extending 64×32 right makes a 128×32 image")
        try pane.keys("x", "x")
        pane.wait(for: "c2 · extend down")
        try pane.keys("Enter")
        pane.wait(for: "scale 10/10 · 32×32 · decoded")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// `--image` starts in edit mode; x picks out-painting, whose result is twice as wide. Non-FlexVAR models
    /// refuse, with a message.
    func testEditFlagExtendAndNonFlexVAR() throws {
        let flex = shellQuote(TmuxPane.flexFixture)
        let gen = "\(shellQuote(binary)) generate --model \(flex) --class 2 --seed 3 -q -o src.png"
        let pane = try TmuxPane(gen + " && " + command("--output-dir . --image src.png", model: TmuxPane.flexFixture))
        pane.wait(for: "editing src.png (32×32)")
        XCTAssertTrue(pane.screen().contains("c2 · inpaint x4-12 y4-12 of 16x16"), "the class comes from the PNG's record")
        try pane.keys("x", "x")
        pane.wait(for: "c2 · extend right")
        try pane.keys("Enter")
        pane.wait(for: "scale 10/10 · 16×32 · decoded")
        XCTAssertTrue(pane.screen().contains(" 10 16×32 "), "the panel lists the extended steps")
        try pane.keys("s")
        pane.wait(for: "saved scalewise-c2-0-edit.png")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
        let (wide, text) = try PNG.read(pane.dir.appendingPathComponent("scalewise-c2-0-edit.png").path)
        XCTAssertEqual([wide.width, wide.height], [64, 32])
        XCTAssertEqual(try GenerationRecord.parse(try XCTUnwrap(text["scalewise"])).edit, "extend right, source src.png")

        let plain = try TmuxPane(command())
        plain.wait(for: "ready")
        try plain.keys("e")
        plain.wait(for: "edit needs a FlexVAR model, not var (M picks another)")
        XCTAssertFalse(plain.screen().contains("edit image (PNG)"), "no prompt")
        try plain.keys("q")
        plain.wait(for: "EXIT=0")
        let refused = try TmuxPane(command("--image nothing.png"))
        refused.wait(for: "EXIT=1")
        XCTAssertTrue(refused.screen().contains("Error: --image needs a FlexVAR model, not var"), refused.screen())
    }

    /// 1,000 random keys in edit mode (the prompt, corners, modes, runs, saves, Esc in and out), then a clean exit.
    func testRandomKeysInEditMode() throws {
        let gen = "\(shellQuote(binary)) generate --model \(shellQuote(TmuxPane.flexFixture)) --class 1 -q -o src.png"
        let pane = try TmuxPane(gen + " && " + command("--output-dir . --image src.png", model: TmuxPane.flexFixture))
        pane.wait(for: "editing src.png")
        let named = ["Left", "Right", "Up", "Down", "Enter", "Escape", "Tab", "BTab", "PPage", "NPage", "BSpace", "Space"]
        let chars = Array("nprR+-=cfsSovxhjklHJKLe12345?0.")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            var batch: [String] = []
            for _ in 0..<50 {
                batch.append(Bool.random(using: &rng) ? named.randomElement(using: &rng)! : String(chars.randomElement(using: &rng)!))
            }
            try pane.tmux(["send-keys", "-t", pane.session] + batch)
        }
        try pane.keys("Escape", "Escape", "Escape")
        pane.wait("the UI to settle") { $0.contains("? help · q quit") && !$0.contains("running") }
        XCTAssertFalse(pane.screen().contains("EXIT="), "still running after 1,000 keys")
        try pane.keys("Escape", "q")
        pane.wait(for: "EXIT=0")
    }
}
