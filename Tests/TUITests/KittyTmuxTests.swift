import Foundation
import ScalewiseEngine
import XCTest

/// kitty graphics inside tmux: the picture is made of Unicode placeholder cells (ordinary text to
/// tmux), the upload goes through tmux's passthrough to the outer terminal.
final class KittyTmuxTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    /// Placeholder cells fill the canvas: U+10EEEE, the row and column marks, the image id as colour.
    func testPlaceholderCellsInTmux() throws {
        let cmd = "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1"
        // The pane's environment is explicit (env -i): TMUX and KITTY_WINDOW_ID as tmux-in-kitty has them.
        let pane = try TmuxPane(cmd, env: ["TMUX": "/tmp/tmux-test,1,0", "KITTY_WINDOW_ID": "1"])
        pane.wait(for: "ready")
        XCTAssertTrue(pane.screen().contains(" kitty │"), pane.screen())
        try pane.keys("Right")
        pane.wait(for: "scale 1/10")
        let s = pane.wait("placeholder cells", colors: true) { $0.unicodeScalars.contains("\u{10EEEE}") }
        // By scalars: a placeholder and its marks are one grapheme, which String.contains would compare whole.
        let lines = s.components(separatedBy: "\n").filter { $0.unicodeScalars.contains("\u{10EEEE}") }
        XCTAssertGreaterThan(lines.count, 10, "a canvas of placeholder rows")
        let first = try XCTUnwrap(lines.first)
        let scalars = Array(first.unicodeScalars)
        let at = try XCTUnwrap(scalars.firstIndex(of: "\u{10EEEE}"))
        XCTAssertEqual(scalars[at + 1].value, 0x0305, "row 0")
        XCTAssertEqual(scalars[at + 2].value, 0x0305, "column 0")
        XCTAssertEqual(scalars[at + 3].value, 0x10EEEE)
        XCTAssertEqual(scalars[at + 5].value, 0x030D, "the next cell is column 1")
        XCTAssertTrue(first.contains("\u{1B}[38;5;16m"), "image id 16 as the 256-colour foreground")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }
}

extension KittyTmuxTests {
    /// tmux with allow-passthrough, attached from a fake kitty: the uploads arrive unwrapped at the outer
    /// terminal, with a virtual placement (U=1) the size of the canvas, and the last canvas picture is
    /// the saved PNG zoomed by a whole number.
    func testUploadsReachTheOuterTerminal() throws {
        let cmd = "while [ ! -e go ]; do sleep 0.05; done; \(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1 --output-dir ."
        let pane = try TmuxPane(cmd, env: ["TMUX": "/tmp/tmux-test,1,0", "KITTY_WINDOW_ID": "1", "SCALEWISE_TUI_LOG": "tui.log"])
        try pane.tmux(["set-option", "-g", "allow-passthrough", "on"])
        let outer = try FakeTerminal(["/usr/bin/tmux", "-L", pane.socket, "attach", "-t", pane.session], kind: .kitty,
                                     env: ["TMUX_TMPDIR": ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"])
        outer.pump(until: { _ in false }, timeout: 0.5)
        XCTAssertTrue(FileManager.default.createFile(atPath: pane.dir.appendingPathComponent("go").path, contents: nil))
        let log = pane.dir.appendingPathComponent("tui.log").path
        outer.waitFile(log, contains: "graphics kitty")
        try pane.keys("Enter")
        try pane.keys("s")
        outer.waitFile(log, contains: "saved ", timeout: 90)
        outer.pump(until: { _ in false }, timeout: 1)
        let png = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: pane.dir.path).first { $0.hasSuffix(".png") })
        let (image, _) = try PNG.read(pane.dir.appendingPathComponent(png).path)
        try pane.keys("q")
        pane.wait(for: "EXIT=0")

        let cmds = GraphicsDecode.kittyCommands(outer.output)
        let virtual = cmds.filter { $0.controls["a"] == "p" && $0.controls["U"] == "1" }
        XCTAssertFalse(virtual.isEmpty, "virtual placements reached the outer terminal")
        let widest = virtual.map { Int($0.controls["c"] ?? "0") ?? 0 }.max() ?? 0
        let canvas = try XCTUnwrap(virtual.last { Int($0.controls["c"] ?? "") == widest })
        let images = try GraphicsDecode.kittyImages(cmds)
        let shown = try XCTUnwrap(canvas.controls["i"].flatMap(Int.init).flatMap { images[$0] })
        let zoom = shown.width / image.width
        XCTAssertGreaterThanOrEqual(zoom, 1)
        XCTAssertEqual(GraphicsDecode.unzoom(shown, by: zoom), image, "pixel-true at \(zoom)×")
    }
}
