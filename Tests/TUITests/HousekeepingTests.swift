import Foundation
import ScalewiseEngine
import XCTest

/// Small-terminal layout, the help overlay, status messages, and search in edit mode, in tmux.
final class HousekeepingTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    private func command(_ extra: String = "", model: String = TmuxPane.fixtureModel) -> String {
        "\(shellQuote(binary)) tui --model \(shellQuote(model)) --threads 1 \(extra)"
    }

    /// At 80×24 the per-scale table keeps its ms column (tokens drop first) and the help scrolls to its end.
    func test80x24TableAndScrollingHelp() throws {
        let pane = try TmuxPane(command(), env: ["COLORTERM": "truecolor"], width: 80, height: 24)
        pane.wait(for: "ready")
        try pane.keys("Right")
        pane.wait(for: "scale 1/10")
        let s = pane.wait("a timed first scale") { $0.range(of: "  1 1×1 +[0-9.]+ +[0-9]+\\.[0-9]", options: .regularExpression) != nil }
        XCTAssertTrue(s.contains("  # size      cfg     ms"), s)
        try pane.keys("?")
        let help = pane.wait("the help") { $0.contains("(↑↓ PgUp PgDn scroll") }
        XCTAssertFalse(help.contains("this help"), "the end of the list is below the fold at 24 rows")
        // More than two pages at 24 rows: the second PgDn stops at the last page.
        try pane.keys("NPage")
        pane.wait(for: "keys 19-36 of")
        try pane.keys("NPage")
        pane.wait(for: "this help")
        pane.wait(for: "quit")
        try pane.keys("PPage")
        pane.wait(for: "keys 3-20 of")
        try pane.keys("PPage")
        pane.wait(for: "run / show one more scale")
        try pane.keys("x", "Home")  // keys the help does not know leave it open; Home goes to the top
        pane.wait(for: "keys 1-18 of")
        try pane.keys("Escape")
        pane.wait("the help to close") { !$0.contains("PgUp PgDn scroll") }
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// A complaint goes away when a good value follows, and by itself after a few seconds.
    func testStatusMessagesExpire() throws {
        let pane = try TmuxPane(command(), env: ["COLORTERM": "truecolor"])
        pane.wait(for: "ready")
        try pane.keys("c")
        try pane.literal("200")
        try pane.keys("Enter")
        pane.wait(for: "cfg must be a number in 0…100")
        try pane.keys("c")
        try pane.literal("2")
        try pane.keys("Enter")
        pane.wait("the complaint to clear after a good value") { $0.contains("cfg     2.0") && !$0.contains("cfg must be") }
        try pane.keys("c")
        try pane.literal("300")
        try pane.keys("Enter")
        pane.wait(for: "cfg must be a number in 0…100")
        let start = Date()
        pane.wait("the message to expire", timeout: 15) { !$0.contains("cfg must be") }
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 3, "shown long enough to read")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// `/` searches the class list while the edit region is being picked.
    func testSearchInEditMode() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scalewise-edit-search-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let png = dir.appendingPathComponent("in.png").path
        try PNG.write(RGBImage(width: 32, height: 32, pixels: [UInt8](repeating: 128, count: 32 * 32 * 3)), to: png)
        let pane = try TmuxPane(command("--image \(shellQuote(png))", model: TmuxPane.flexFixture), env: ["COLORTERM": "truecolor"])
        pane.wait(for: "editing in.png")
        try pane.keys("/")
        try pane.literal("c7")
        pane.wait(for: "/c7_")
        try pane.keys("Enter")
        pane.wait(for: "c7 ·")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// A 2:1 PNG is edited on 2:1 token maps and comes back 2:1, not squeezed into a square.
    func testNonSquareImageKeepsItsAspectInEditMode() throws {
        var px = [UInt8]()
        for y in 0..<32 { for x in 0..<64 { px += [UInt8(x * 4), UInt8(y * 8), 90] } }
        // The pane starts at once: the TUI waits for the file the test writes (atomically) into its folder.
        let pane = try TmuxPane("while [ ! -e wide.png ]; do sleep 0.05; done; "
                                + command("--output-dir . --image wide.png", model: TmuxPane.flexFixture), env: ["COLORTERM": "truecolor"])
        try PNG.write(RGBImage(width: 64, height: 32, pixels: px), to: pane.dir.appendingPathComponent("wide.png").path)
        pane.wait(for: "editing wide.png (64×32)")
        XCTAssertTrue(pane.screen().contains("of 16x8"), "a 16×8 token grid for a 2:1 image: \(pane.screen())")
        try pane.keys("Enter")
        pane.wait(for: "scale 10/10 · 8×16 · decoded")
        try pane.keys("s")
        pane.wait(for: "saved scalewise-")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
        let name = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: pane.dir.path).first { $0.hasPrefix("scalewise-") })
        let (out, _) = try PNG.read(pane.dir.appendingPathComponent(name).path)
        XCTAssertEqual(out.width, 2 * out.height, "\(out.width)×\(out.height)")
    }

    /// A click on a class while an edit is picked or running settles to a ready, runnable state.
    func testClassClickInEditModeSettles() throws {
        let gen = "\(shellQuote(binary)) generate --model \(shellQuote(TmuxPane.flexFixture)) --class 1 -q -o src.png"
        let pane = try TmuxPane(gen + " && " + command("--output-dir . --image src.png", model: TmuxPane.flexFixture))
        pane.wait(for: "editing src.png")
        // X10 mouse reports (what kmous names for this terminal): button 1 pressed, then released, at column 4, row `row`.
        func click(row: Int) throws {
            let at = String(UnicodeScalar(UInt8(33 + 3))) + String(UnicodeScalar(UInt8(33 + row)))
            try pane.literal("\u{1B}[M " + at + "\u{1B}[M#" + at)
        }
        try click(row: 6)
        pane.wait(for: "c4 · inpaint")
        try pane.keys("Enter")
        try click(row: 7)
        pane.wait("the UI to settle after the click") { $0.contains("edit · c5 · scale") && $0.contains("│ ready") }
        try pane.keys("Enter")
        pane.wait(for: "edit · c5 · scale 10/10")
        pane.wait(for: "│ ready")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }
}
