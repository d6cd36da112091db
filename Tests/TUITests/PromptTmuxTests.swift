import Foundation
import XCTest

/// The value and file prompts edit like a shell line: Ctrl-U, Ctrl-W, Home/End (Ctrl-A/Ctrl-E), ←→, Backspace.
final class PromptTmuxTests: XCTestCase {
    func testPromptLineEditing() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        let binary = try XCTUnwrap(TmuxPane.binary)
        let pane = try TmuxPane("\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1 --no-history")
        pane.wait(for: "ready")
        try pane.keys("Enter")
        pane.wait(for: "scale 10/10")
        try pane.keys("s")
        pane.wait(for: "saved scalewise-c0-0.png")
        // The file prompt comes pre-filled with the file just saved; Ctrl-U clears it.
        try pane.keys("O")
        pane.wait(for: "(PNG): ./scalewise-c0-0.png_")
        try pane.keys("C-u")
        pane.wait(for: "(PNG): _   Enter loads")
        try pane.literal("dir/other.png")
        try pane.keys("C-w")
        pane.wait(for: "(PNG): dir/_   Enter")
        try pane.keys("Home")
        try pane.literal("./")
        try pane.keys("End", "BSpace", "BSpace", "BSpace", "BSpace")
        pane.wait(for: "(PNG): ./_   Enter")
        try pane.keys("C-a", "C-k")
        try pane.literal("scalewise-c0.png")
        try pane.keys("Left", "Left", "Left", "Left")
        try pane.tmux(["send-keys", "-t", pane.session, "-l", "--", "-0"])
        pane.wait(for: "(PNG): scalewise-c0-0.png_")
        try pane.keys("Enter")
        pane.wait(for: "opened scalewise-c0-0.png")
        // The value prompts too.
        try pane.keys("c")
        try pane.literal("12")
        try pane.keys("Left")
        try pane.literal(".")
        pane.wait(for: "cfg (0…100): 1.2_")
        try pane.keys("C-u")
        try pane.literal("7")
        try pane.keys("Enter")
        pane.wait(for: "cfg     7.0")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }
}
