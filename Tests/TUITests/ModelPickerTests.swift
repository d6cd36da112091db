import Foundation
import ScalewiseEngine
import XCTest

/// `M` lists the generators of the model folders with what `scalewise models` says of each: family, image size,
/// parameters, file size and the folder it was found in.
final class ModelPickerTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    func testPickerShowsFamilyParametersAndSource() throws {
        let folder = (TmuxPane.flexFixture as NSString).deletingLastPathComponent
        let cmd = "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1"
        let pane = try TmuxPane(cmd, env: ["SCALEWISE_MODELS": folder], width: 160, height: 40)
        pane.wait(for: "ready")
        try pane.keys("M")
        func fixtureRow(_ screen: String) -> String? {
            screen.components(separatedBy: "\n").first { $0.contains("flexvar ") && $0.contains("$SCALEWISE_MODELS") }
        }
        let row = try XCTUnwrap(fixtureRow(pane.wait("the picker's row of the fixture") { fixtureRow($0) != nil }))
        // The engine's catalog of the same folder, read here.
        setenv("SCALEWISE_MODELS", folder, 1)
        defer { unsetenv("SCALEWISE_MODELS") }
        let entry = try XCTUnwrap(ModelLoader.catalog().first { $0.path == TmuxPane.flexFixture })
        let params = String(format: "%.1f M params", Double(entry.parameters) / 1e6)
        XCTAssertEqual(entry.family, "FlexVAR")
        XCTAssertTrue(row.contains(" FlexVAR ") && row.contains(params) && row.contains("tokenizer flexvqvae.safetensors"), row)
        // The resolution from the configs alone: the fixture's 16×16 last step, decoded 2× up.
        XCTAssertEqual(entry.imageSide, 32)
        XCTAssertTrue(row.contains(" 32×32 px "), row)
        try pane.keys("Down", "Up", "Escape")
        pane.wait("the picker to close") { !$0.contains("model (↑↓ Enter, Esc)") }
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// Home and End move to the first and last model, in whichever form the terminal sends them (here xterm's
    /// `Esc [ H` / `Esc [ F`, which the tmux terminfo does not name); keys the picker does not know, unknown escape
    /// sequences included, leave it open. Only Enter, Esc and q leave it.
    func testHomeEndAndUnknownKeysStayInPicker() throws {
        let folder = (TmuxPane.flexFixture as NSString).deletingLastPathComponent
        let cmd = "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1"
        let pane = try TmuxPane(cmd, env: ["SCALEWISE_MODELS": folder], width: 160, height: 40)
        pane.wait(for: "ready")
        func names(_ screen: String) -> [String] {
            let lines = screen.components(separatedBy: "\n")
            guard let t = lines.firstIndex(where: { $0.contains("model (↑↓ Enter, Esc)") }),
                  let r = lines[t].range(of: "model (↑↓") else { return [] }
            // The rows start where the box's title does.
            let col = lines[t].distance(from: lines[t].startIndex, to: r.lowerBound)
            return lines[(t + 1)...].prefix { $0.contains(" px ") }.compactMap {
                $0.dropFirst(col).split(separator: " ").first.map { String($0.drop { $0 == "*" }) }
            }
        }
        for (key, pick) in [("\u{1B}[F", { (n: [String]) in n.last! }), ("\u{1B}[H", { (n: [String]) in n.first! })] {
            try pane.keys("M")
            let all = names(pane.wait("the picker") { names($0).count > 2 })
            try pane.literal(key)
            try pane.literal("\u{1B}[5;3~")  // Alt-PgUp: no key of the picker's
            try pane.keys("x", "Z", "F5", "Home")
            try pane.literal(key)
            XCTAssertEqual(names(pane.wait("the picker to stay") { !names($0).isEmpty }), all, "the picker stays open")
            try pane.keys("Enter")
            pane.wait(for: "loaded \(pick(all))")
            XCTAssertTrue(pane.screen().contains(" · scale 0/"), "no run started: \(pane.screen())")
        }
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }
}
