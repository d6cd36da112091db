import Foundation
import ScalewiseEngine
import XCTest
@testable import ScalewiseTUI

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
        let expected = String(format: "change mean %.1f · max %d", Double(sum) / Double(b.width * b.height), top)
        XCTAssertTrue(changedLabel.contains(expected), "\(changedLabel) lacks \(expected)")
    }

    /// kitty: the heat map is a picture like any other, pixel-true on the canvas: the change map of scale 3, laid
    /// over that scale's preview, as the engine's previews give it.
    func testChangeMapIsPixelTrueInKitty() throws {
        let t = try FakeTerminal([binary, "tui", "--model", TmuxPane.fixtureModel, "--threads", "1", "--output-dir", "{dir}"],
                                 kind: .kitty, env: ["SCALEWISE_TUI_LOG": "{dir}/tui.log"])
        t.waitFile("tui.log", contains: "graphics kitty")
        t.type("nnn")
        t.waitFile("tui.log", contains: "scale lane=0 k=3 ")
        t.type("d")
        t.waitFile("tui.log", contains: "key char 100")
        t.pump(until: { _ in false }, timeout: 1)
        t.type("s")
        t.waitFile("tui.log", contains: "saved ", timeout: 90)
        t.type("q")
        XCTAssertEqual(t.waitExit(), 0)
        let (_, text) = try PNG.read(t.dir.appendingPathComponent("scalewise-c0-0.png").path)
        let rec = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))
        let gen = try ModelLoader.load(TmuxPane.fixtureModel, precision: try XCTUnwrap(.init(rawValue: rec.precision ?? "fp32")))
        let s = try gen.makeSession(classIndex: 0, options: rec.options, schedule: nil)
        for _ in 0..<3 { _ = try s.step() }
        let a = s.preview(after: 2, tier: .projection), b = s.preview(after: 3, tier: .projection)
        let d = HeatMap.change(from: a, to: b), top = d.max()!
        let expected = HeatMap.blend(base: b, values: d.map { $0 / top }, gw: b.width, gh: b.height)
        XCTAssertFalse(expected == b, "the heat map is not the plain preview")
        let cmds = GraphicsDecode.kittyCommands(t.output)
        let images = try GraphicsDecode.kittyImages(cmds)
        // The pictures placed on the canvas (placement 1), not the filmstrip's.
        let canvas = cmds.filter { $0.controls["a"] == "p" && $0.controls["p"] == "1" }.compactMap { $0.controls["i"].flatMap(Int.init) }
        let shown = canvas.compactMap { images[$0] }.filter { $0.width % b.width == 0 && $0.width > b.width }
            .compactMap { GraphicsDecode.unzoom($0, by: $0.width / b.width) }
        XCTAssertTrue(shown.contains(expected), "the canvas showed the change map of scale 3, pixel for pixel")
        XCTAssertTrue(shown.contains(b), "and before that the plain preview")
    }
}
