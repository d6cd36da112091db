import Foundation
import XCTest

/// The character-cell fallbacks in tmux: 8-colour terminals, non-UTF-8 locales, terminals that cannot
/// host the UI.
final class BlockFallbackTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    private func command(_ extra: String = "") -> String {
        "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1 \(extra)"
    }

    /// TERM=xterm has 8 colours: the canvas is drawn in them (indexed SGR 30–37/40–47), not in mono.
    func testEightColourTerminal() throws {
        let pane = try TmuxPane(command(), env: ["TERM": "xterm"])
        pane.wait(for: "ready")
        XCTAssertTrue(pane.screen().contains("8 colours · half"), pane.screen())
        try pane.keys("Enter")
        pane.wait(for: "scale 10/10")
        let s = pane.screen(colors: true)
        XCTAssertFalse(s.contains("38;5;") || s.contains("38;2;"), "only the 8 ANSI colours")
        XCTAssertTrue(s.range(of: "\u{1B}\\[(3[0-7]|4[0-7])", options: .regularExpression) != nil, "ANSI colours used")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// In the C locale every UI symbol has an ASCII stand-in: no '?' but the help key's.
    func testASCIISymbolsOutsideUTF8() throws {
        let pane = try TmuxPane(command(), env: ["LANG": "C", "LC_ALL": "C"])
        pane.wait(for: "ready")
        try pane.keys("Right")
        pane.wait(for: "scale 1/10 . 1x1")
        let s = pane.screen()
        XCTAssertEqual(s.filter { $0 == "?" }.count, 1, s)
        XCTAssertTrue(s.contains("| ready") || s.contains("| running"), s)
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// TERM=dumb cannot address the cursor: one line, exit 1, nothing drawn.
    func testDumbTerminalIsRefused() throws {
        let pane = try TmuxPane(command(), env: ["TERM": "dumb"])
        pane.wait(for: "EXIT=1")
        let s = pane.screen()
        XCTAssertTrue(s.contains("Error: TERM=dumb cannot move the cursor"), s)
        XCTAssertFalse(s.contains("running") || s.contains("ready"), s)
    }
}
