import ScalewiseEngine
import XCTest

/// The engine's edit helpers the TUI builds on: rectangle masks and the steps of a plan.
final class EditMaskTests: XCTestCase {
    func testGridMaskCoversExactlyTheCells() {
        // 3 columns over 10 pixels: edges at 0, 3, 6, 10; 2 rows over 4 pixels: edges at 0, 2, 4.
        let m = RGBImage.gridMask(width: 10, height: 4, cols: 3, rows: 2, x0: 1, y0: 1, x1: 3, y1: 2)
        for y in 0..<4 {
            for x in 0..<10 {
                let want: UInt8 = x >= 3 && y >= 2 ? 255 : 0
                XCTAssertEqual(m.pixels[(y * 10 + x) * 3 ..< (y * 10 + x) * 3 + 3].max(), want, "\(x),\(y)")
                XCTAssertEqual(m.pixels[(y * 10 + x) * 3 ..< (y * 10 + x) * 3 + 3].min(), want, "\(x),\(y)")
            }
        }
        let empty = RGBImage.gridMask(width: 4, height: 4, cols: 2, rows: 2, x0: 1, y0: 0, x1: 1, y1: 2)
        XCTAssertEqual(empty.pixels.max(), 0, "an empty rectangle keeps everything")
        let clamped = RGBImage.gridMask(width: 4, height: 4, cols: 2, rows: 2, x0: -5, y0: -5, x1: 9, y1: 9)
        XCTAssertEqual(clamped.pixels.min(), 255, "out-of-grid corners are clamped")
    }

    func testPlanSteps() {
        let base = [ScaleShape(1, 1), ScaleShape(2, 2), ScaleShape(4, 4)]
        // A square image at the schedule's own size: the steps doubled on one side.
        func steps(_ p: EditPlan, _ w: Int, _ h: Int, _ s: [ScaleShape] = base) -> [ScaleShape] {
            p.steps(for: EditPlan.schedule(s, width: w, height: h), width: w, height: h, downsample: 4)
        }
        XCTAssertEqual(steps(.extend("right"), 16, 16), [ScaleShape(1, 1), ScaleShape(2, 4), ScaleShape(4, 8)])
        XCTAssertEqual(steps(.extend("up"), 16, 16), [ScaleShape(1, 1), ScaleShape(4, 2), ScaleShape(8, 4)])
        XCTAssertEqual(steps(.refine(upTo: 2), 16, 16), base)
        // Extending keeps the image's pixels per token: a 2:1 image twice the schedule's size ends at its own 4×8
        // token map plus the new half, not squeezed to the schedule's 4 tokens on its longer side.
        XCTAssertEqual(steps(.extend("right"), 32, 16).last, ScaleShape(4, 16))
        XCTAssertEqual(steps(.extend("left"), 32, 16).last, ScaleShape(4, 16))
        XCTAssertEqual(steps(.extend("down"), 32, 16).last, ScaleShape(8, 8))
        XCTAssertEqual(steps(.extend("up"), 16, 32).last, ScaleShape(16, 4))
        // A small image: rounding repeats sizes, which are dropped (steps must grow).
        XCTAssertEqual(steps(.extend("right"), 4, 4), [ScaleShape(1, 1), ScaleShape(1, 2)])
        XCTAssertEqual(steps(.inpaint(mask: RGBImage(width: 32, height: 16)), 32, 16), EditPlan.schedule(base, width: 32, height: 16))
    }
}
