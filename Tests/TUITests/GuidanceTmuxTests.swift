import Foundation
import XCTest

/// The TUI names the guidance rule next to cfg and lists the guidance each step applied, in cfg's units.
final class GuidanceTmuxTests: XCTestCase {
    func testRuleAndAppliedGuidancePerStep() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        let binary = try XCTUnwrap(TmuxPane.binary)
        let flex = shellQuote(TmuxPane.flexFixture)
        let constant = try TmuxPane("\(shellQuote(binary)) tui --model \(flex) --threads 1 --cfg 3")
        constant.wait(for: "ready")
        XCTAssertTrue(constant.screen().contains("cfg     3.0 constant"), "FlexVAR's demo rule by default: \(constant.screen())")
        try constant.keys("Enter")
        constant.wait(for: "scale 10/10")
        XCTAssertTrue(constant.screen().contains("  2 2×2         4   3.00"), "the constant rule applies cfg itself")
        try constant.keys("q")
        constant.wait(for: "EXIT=0")
        let ramp = try TmuxPane("\(shellQuote(binary)) tui --model \(flex) --threads 1 --cfg 3 --cfg-mode ramp")
        ramp.wait(for: "ready")
        XCTAssertTrue(ramp.screen().contains("cfg     3.0 ramp"))
        try ramp.keys("Enter")
        ramp.wait(for: "scale 10/10")
        XCTAssertTrue(ramp.screen().contains("  2 2×2         4   0.33"), "the ramp: cfg·1/9 at the second step")
        try ramp.keys("q")
        ramp.wait(for: "EXIT=0")
    }
}
