import ScalewiseEngine
import XCTest
@testable import ScalewiseTUI

/// Edit mode's pure part: the rectangle on the token grid, presets, modes, the plan and the tinted preview.
final class EditSelectionTests: XCTestCase {
    private let sizes = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]

    func testCornersMoveAndClamp() {
        var s = EditSelection(cols: 16, rows: 16, sizes: sizes)
        XCTAssertEqual([s.x0, s.y0, s.x1, s.y1], [4, 4, 12, 12], "starts on the centre")
        s.move(dx: 3, dy: -1)
        XCTAssertEqual([s.x0, s.y0, s.x1, s.y1], [4, 4, 15, 11], "the bottom-right corner moves first")
        s.move(dx: 10, dy: -20)
        XCTAssertEqual([s.x1, s.y1], [16, 5], "clamped to the grid, never empty")
        s.movingTopLeft = true
        s.move(dx: -9, dy: 9)
        XCTAssertEqual([s.x0, s.y0, s.x1, s.y1], [0, 4, 16, 5])
        XCTAssertEqual(s.label, "inpaint x0-16 y4-5 of 16x16")
    }

    func testPresetsAndModes() {
        var s = EditSelection(cols: 16, rows: 8, sizes: sizes)
        let want = [(1, [0, 0, 8, 8]), (2, [8, 0, 16, 8]), (3, [0, 0, 16, 4]), (4, [0, 4, 16, 8]), (5, [4, 2, 12, 6])]
        for (n, r) in want {
            s.preset(n)
            XCTAssertEqual([s.x0, s.y0, s.x1, s.y1], r, "preset \(n)")
        }
        var labels: [String] = []
        for _ in 0..<6 { s.nextMode(); labels.append(s.label) }
        XCTAssertEqual(labels, ["extend left", "extend right", "extend up", "extend down", "refine from 5",
                                "inpaint x4-12 y2-6 of 16x8"])
        s.mode = .refine
        s.adjustRefine(by: 1)
        XCTAssertEqual(s.label, "refine from 6")
        s.adjustRefine(by: 10)
        XCTAssertEqual(s.refineSize, 13, "the finest step is never kept: nothing would be left to refine")
        s.preset(1)
        XCTAssertEqual(s.mode, .inpaint, "a preset is a rectangle")
    }

    func testPlanMaskIsTheRectangle() throws {
        var s = EditSelection(cols: 16, rows: 16, sizes: sizes)
        s.preset(2)
        guard case .inpaint(let m) = s.plan(width: 32, height: 32) else { return XCTFail("not an in-paint") }
        XCTAssertEqual([m.width, m.height], [32, 32])
        for y in 0..<32 {
            for x in 0..<32 { XCTAssertEqual(m.pixels[(y * 32 + x) * 3], x >= 16 ? 255 : 0, "\(x),\(y)") }
        }
        s.mode = .extend("up")
        guard case .extend("up") = s.plan(width: 32, height: 32) else { return XCTFail("not an extend") }
    }

    func testPreviewTintsOnlyWhatIsRegenerated() {
        let gray = RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 100, count: 8 * 8 * 3))
        var s = EditSelection(cols: 4, rows: 4, sizes: sizes)
        s.preset(3)
        let p = s.preview(gray)
        XCTAssertEqual(Array(p.pixels[0..<3]), [185, 45, 139], "top half: 55 % magenta")
        XCTAssertEqual(Array(p.pixels[(4 * 8) * 3..<(4 * 8) * 3 + 3]), [100, 100, 100], "bottom half untouched")
        s.mode = .extend("left")
        let e = s.preview(gray)
        XCTAssertEqual([e.width, e.height], [16, 8])
        XCTAssertEqual(Array(e.pixels[(8 * 3)..<(8 * 3 + 3)]), [100, 100, 100], "the image sits on the right")
        XCTAssertNotEqual(Array(e.pixels[0..<3]), [100, 100, 100], "the new half on the left is tinted")
    }
}
