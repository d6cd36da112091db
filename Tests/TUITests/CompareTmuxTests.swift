import Foundation
import ScalewiseEngine
import XCTest

/// Compare mode runs each model as `scalewise generate -m <model>` would: its own guidance rule and defaults, unless
/// the user named a rule (then both use it, and the cfg knob says so).
final class CompareTmuxTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    /// The lanes' per-step guidance tables, in screen order: the "  2 2×2 …" rows.
    private func secondStepRows(_ screen: String) -> [String] {
        screen.components(separatedBy: "\n").compactMap { line in
            line.range(of: "  2 2×2 +[0-9]+ +[0-9.]+", options: .regularExpression).map { String(line[$0]) }
        }
    }

    /// The same FNV-1a hash of the pixels the TUI logs for each finished lane.
    private func fingerprint(_ path: String) throws -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in try PNG.read(path).0.pixels { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }

    func testEachModelKeepsItsOwnGuidanceRule() throws {
        let v = TmuxPane.fixtureModel, f = TmuxPane.flexFixture
        for (first, second, rules) in [(v, f, "ramp/constant"), (f, v, "constant/ramp")] {
            let gen = { (m: String, o: String) in
                "\(shellQuote(self.binary)) generate --model \(shellQuote(m)) --class 2 --seed 5 --threads 1 -q -o \(o)"
            }
            let tui = "\(shellQuote(binary)) tui --model \(shellQuote(first)) --compare \(shellQuote(second)) --threads 1 "
                + "--class 2 --seed 5 --no-history"
            let pane = try TmuxPane("\(tui); \(gen(first, "a.png")) && \(gen(second, "b.png"))",
                                    env: ["SCALEWISE_TUI_LOG": "tui.log"], width: 140, height: 60)
            pane.wait(for: "ready")
            XCTAssertTrue(pane.screen().contains("cfg     4.0 \(rules)"), "each model's rule: \(pane.screen())")
            try pane.keys("Enter")
            let s = pane.wait("both lanes to finish") { secondStepRows($0).count == 2 && $0.contains("scale 10/10") && !$0.contains("running") }
            let rows = secondStepRows(s)
            // 4·1/9 on the ramp at the second step; the constant rule applies cfg itself.
            let ramp = "   0.44", constant = "   4.00"
            XCTAssertTrue(rows[0].hasSuffix(first == v ? ramp : constant), "\(rows)")
            XCTAssertTrue(rows[1].hasSuffix(second == v ? ramp : constant), "\(rows)")
            try pane.keys("q")
            pane.wait(for: "EXIT=0")
            let log = try String(contentsOf: pane.dir.appendingPathComponent("tui.log"), encoding: .utf8)
            for (lane, png) in [(0, "a.png"), (1, "b.png")] {
                let want = try fingerprint(pane.dir.appendingPathComponent(png).path)
                XCTAssertTrue(log.contains("final lane=\(lane) model=") && log.contains("pixels \(want)\n"),
                              "lane \(lane) is the image generate makes (\(want)):\n\(log)")
            }
        }
    }

    /// A rule named on the command line applies to both models, and the knob says "both".
    func testNamedRuleAppliesToBoth() throws {
        let tui = "\(shellQuote(binary)) tui --model \(shellQuote(TmuxPane.fixtureModel)) --compare \(shellQuote(TmuxPane.flexFixture)) "
            + "--threads 1 --cfg-mode constant --no-history"
        let pane = try TmuxPane(tui, width: 140, height: 60)
        pane.wait(for: "cfg     4.0 constant (both)")
        try pane.keys("Enter")
        let s = pane.wait("both lanes to finish") { secondStepRows($0).count == 2 && $0.contains("scale 10/10") && !$0.contains("running") }
        XCTAssertEqual(secondStepRows(s).map { $0.hasSuffix("   4.00") }, [true, true], "\(secondStepRows(s))")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }
}
