import Foundation
import ScalewiseEngine
import XCTest

/// The heat maps of what the model decided at the shown scale (`d`): the picture under them changes, the status
/// line names the view, and the numbers in the label are the engine's own, recomputed here from its logits and
/// previews.
final class DecisionViewTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    /// Rows 2…19 of the coloured screen: the canvas with the class list and the panel beside it, which no view changes.
    private func canvasRows(_ screen: String) -> [String] {
        Array(screen.components(separatedBy: "\n").dropFirst(2).prefix(18))
    }

    private func label(_ screen: String) -> String {
        screen.components(separatedBy: "\n").first { $0.contains("c0 · scale 3/10") } ?? ""
    }

    func testHeatMapsOfTheShownScale() throws {
        let cmd = "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1 --output-dir ."
        let pane = try TmuxPane(cmd, env: ["COLORTERM": "truecolor"])
        pane.wait(for: "ready")
        try pane.keys("Right", "Right", "Right")
        pane.wait(for: "c0 · scale 3/10 · 3×3")
        pane.wait(for: "ready")
        let plain = canvasRows(pane.screen(colors: true))

        try pane.keys("d")
        pane.wait(for: "view: changed cells │")
        let changed = pane.wait("the change heat map", colors: true) { self.canvasRows($0) != plain }
        let changedLabel = label(pane.screen())
        try pane.keys("d")
        pane.wait(for: "view: p(chosen token) │")
        let probability = pane.wait("the probability heat map", colors: true) {
            self.canvasRows($0) != plain && self.canvasRows($0) != self.canvasRows(changed)
        }
        let probabilityLabel = label(pane.screen())
        try pane.keys("d")
        pane.wait(for: "view: token entropy │")
        pane.wait("the entropy heat map", colors: true) {
            self.canvasRows($0) != plain && self.canvasRows($0) != self.canvasRows(probability)
        }
        let entropyLabel = label(pane.screen())
        try pane.keys("d")
        pane.wait(for: "view: picture")
        pane.wait("the plain picture again", colors: true) { self.canvasRows($0) == plain }
        XCTAssertFalse(pane.screen().contains("view: picture │"), "no view named in the mode field when off")
        // The precision the TUI ran in, from its saved record.
        try pane.keys("s")
        pane.wait(for: "saved scalewise-c0-0.png", timeout: 90)
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
        let (_, text) = try PNG.read(pane.dir.appendingPathComponent("scalewise-c0-0.png").path)
        let rec = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))

        // The same three scales through the engine, the statistics computed here.
        let gen = try ModelLoader.load(TmuxPane.fixtureModel, precision: try XCTUnwrap(.init(rawValue: rec.precision ?? "fp32")))
        let s = try gen.makeSession(classIndex: 0, options: rec.options, schedule: nil)
        s.keepLogits = true
        for _ in 0..<3 { _ = try s.step() }
        let tokens = s.results[2].tokens, logits = s.lastLogits
        let V = logits.count / tokens.count
        var p = 0.0, h = 0.0
        for (i, t) in tokens.enumerated() {
            let row = logits[(i * V)..<((i + 1) * V)].map(Double.init)
            let m = row.max()!
            let z = row.reduce(0) { $0 + exp($1 - m) }
            p += exp(row[Int(t)] - m) / z
            h -= row.reduce(0) { acc, x in let q = exp(x - m) / z; return acc + (q > 0 ? q * log(q) : 0) }
        }
        p /= Double(tokens.count)
        h /= Double(tokens.count)
        XCTAssertTrue(probabilityLabel.contains(String(format: "p mean %.3f", p)), probabilityLabel)
        XCTAssertTrue(entropyLabel.contains(String(format: "H mean %.3f nats", h)), entropyLabel)
        let a = s.preview(after: 2, tier: .projection), b = s.preview(after: 3, tier: .projection)
        XCTAssertEqual([a.width, a.height], [b.width, b.height])
        var sum = 0, top = 0
        for i in 0..<(b.width * b.height) {
            let d = (0..<3).map { abs(Int(b.pixels[3 * i + $0]) - Int(a.pixels[3 * i + $0])) }.max()!
            sum += d
            top = max(top, d)
        }
        XCTAssertGreaterThan(top, 0, "scale 3 changed the picture")
        let expected = String(format: "change mean %.1f max %d", Double(sum) / Double(b.width * b.height), top)
        XCTAssertTrue(changedLabel.contains(expected), "\(changedLabel) lacks \(expected)")
    }
}
