import Foundation
import ScalewiseEngine
import XCTest

/// A kept variation (or a re-roll) is not "seed 0" alone: its file name, A1111 `parameters` text and history line
/// say where its own seeds start.
final class RerollNameTmuxTests: XCTestCase {
    func testKeptVariationNamesItsScaleSeeds() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        let binary = try XCTUnwrap(TmuxPane.binary)
        let pane = try TmuxPane("\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1 --output-dir .")
        pane.wait(for: "ready")
        try pane.keys("Enter")
        pane.wait(for: "scale 10/10")
        try pane.keys("Left", "Left", "Left")
        pane.wait(for: "scale 7/10")
        try pane.keys("V")
        pane.wait(for: "Enter keeps the selected one")
        try pane.keys("Enter")
        pane.wait(for: "from scale 7)")
        pane.wait("the kept variation to finish") { $0.contains("scale 10/10") && !$0.contains("running") }
        try pane.keys("s")
        pane.wait(for: "saved scalewise-c0-0r7.png", timeout: 90)
        let text = try PNG.read(pane.dir.appendingPathComponent("scalewise-c0-0r7.png").path).1
        let rec = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))
        let seeds = try XCTUnwrap(rec.scaleSeeds)
        XCTAssertEqual(Array(seeds.prefix(6)), Array(repeating: 0, count: 6))
        let params = try XCTUnwrap(text["parameters"])
        XCTAssertTrue(params.contains("Seed: 0, Scale seeds: \"0 ×6, \(seeds[6]) ×4\", Top-k:"), params)
        try pane.keys("b")
        pane.wait(for: "seed 0 + re-roll@7")
        try pane.keys("Escape", "q")
        pane.wait(for: "EXIT=0")
    }
}
