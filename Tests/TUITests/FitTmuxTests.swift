import Foundation
import XCTest

/// At 120 columns nothing is cut mid-number: labels drop whole fields, the copied line is shown whole, and the
/// status line names the heat-map view once.
final class FitTmuxTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    /// The lane labels' fields ("c0", "scale 10/10", "max 148", …): the lines that name a scale, split at wide gaps.
    private func labelFields(_ screen: String) -> [String] {
        let lines = screen.components(separatedBy: "\n").filter { $0.range(of: "[0-9]+/10( |$)", options: .regularExpression) != nil && !$0.contains("│") }
        return lines.flatMap { line in
            line.components(separatedBy: "   ").flatMap { $0.components(separatedBy: " · ") }
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    func testCompareLabelsAndHeatMapDropWholeFields() throws {
        let cmd = "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --compare \(shellQuote(TmuxPane.flexFixture)) "
            + "--threads 1 --no-history"
        let pane = try TmuxPane(cmd, width: 240, height: 40)
        pane.wait(for: "ready")
        try pane.keys("Enter")
        pane.wait("both lanes to finish") { $0.components(separatedBy: "scale 10/10").count == 3 && !$0.contains("running") }
        try pane.keys("Left", "d")
        let wide = pane.wait("the heat map's numbers") { $0.components(separatedBy: "change mean").count == 3 }
        let full = Set(labelFields(wide))
        XCTAssertTrue(full.contains { $0.hasPrefix("max ") }, "\(full)")
        // 120 columns, as reported, and narrower ones where the fields give way one by one.
        for width in [150, 135, 120, 110, 100, 90, 80] {
            try pane.resize(width, 40)
            // Polled until redrawn: right after the resize tmux shows the old lines cut at the new width.
            let narrow = pane.wait("whole fields at \(width) columns", timeout: 10) { s in
                let fields = labelFields(s).filter { !$0.contains("search") && !$0.contains("knobs") }
                return s.contains("ready") && !fields.isEmpty && fields.allSatisfy { full.contains($0) || $0.range(of: "^[0-9]+/[0-9]+$", options: .regularExpression) != nil }
            }
            guard let status = narrow.components(separatedBy: "\n").last(where: { $0.contains("ready") }) else { continue }
            XCTAssertEqual(status.components(separatedBy: "changed cells").count, 2, "the view is named once: \(status)")
        }
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// `C` at 120 columns: the whole line is on screen, wrapped in a box (the status line has room for a short one).
    func testCopiedLineShownWhole() throws {
        let cmd = "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --threads 1 --no-history --class 3 --seed 7"
        let pane = try TmuxPane(cmd, width: 120, height: 36)
        pane.wait(for: "ready")
        try pane.keys("C")
        let s = pane.wait("the copied line") { $0.contains("copied to the clipboard") }
        XCTAssertTrue(s.contains("copied "), s)
        let text = s.components(separatedBy: "\n").joined(separator: " ").split(separator: " ").joined(separator: " ")
        for part in ["scalewise generate --model", "--class 3 --seed 7", "--cfg-mode ramp", "-o scalewise-c3-7.png"] {
            XCTAssertTrue(text.contains(part), "'\(part)' on screen:\n\(s)")
        }
        try pane.keys("x")
        XCTAssertTrue(pane.screen().contains("copied to the clipboard"), "other keys leave it open")
        try pane.keys("Escape")
        pane.wait("the box to close") { !$0.contains("copied to the clipboard") }
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }
}
