import ScalewiseEngine
import XCTest
@testable import ScalewiseTUI

/// The pure parts of the TUI: cell fitting, colour mapping, layout, file names.
final class TUIRenderTests: XCTestCase {
    private func image(_ w: Int, _ h: Int, _ f: (Int, Int) -> RGB) -> RGBImage {
        var px: [UInt8] = []
        for y in 0..<h { for x in 0..<w { let (r, g, b) = channels(f(x, y)); px += [UInt8(r), UInt8(g), UInt8(b)] } }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// Half blocks are lossless when the canvas has exactly the image's pixel count: every cell's fg is
    /// its top pixel and bg its bottom pixel, bit for bit.
    func testHalfBlockIsExact() {
        let img = image(8, 8) { x, y in rgb(UInt8(x * 30), UInt8(y * 30), UInt8((x ^ y) * 17)) }
        let cells = CellRenderer.render(img, cols: 8, rows: 4, symbols: .half, color: .truecolor)
        XCTAssertEqual(cells.count, 32)
        for r in 0..<4 {
            for c in 0..<8 {
                let cell = cells[r * 8 + c]
                XCTAssertEqual(cell.glyph, 0x2580)
                XCTAssertEqual(cell.fg, rgb(UInt8(c * 30), UInt8(2 * r * 30), UInt8((c ^ (2 * r)) * 17)), "cell \(c),\(r) top")
                XCTAssertEqual(cell.bg, rgb(UInt8(c * 30), UInt8((2 * r + 1) * 30), UInt8((c ^ (2 * r + 1)) * 17)), "cell \(c),\(r) bottom")
            }
        }
    }

    /// A two-colour cell is reproduced exactly by the partition solver, with the right glyph.
    func testPartitionSolverIsExactForTwoColours() {
        let a: RGB = 0xFF2010, b: RGB = 0x1030C0
        // Sextant: TL, MR and BR set (bits 1, 8, 32 = mask 41) → U+1FB00 + 41 - 1 - 1 = U+1FB27.
        let sub = [a, b, b, a, b, a]
        let (mask, fg, bg) = CellRenderer.bestPartition(sub)
        XCTAssertEqual(mask, 41)
        XCTAssertEqual(fg, a)
        XCTAssertEqual(bg, b)
        XCTAssertEqual(CellRenderer.sextant(41), 0x1FB27)
        XCTAssertEqual(CellRenderer.sextant(21), 0x258C)  // left column = ▌, not a sextant code point
        XCTAssertEqual(CellRenderer.sextant(62), 0x1FB3B)  // the last sextant
        // Quadrant: TL + BR (mask 9) = ▚.
        let q = CellRenderer.bestPartition([a, b, b, a])
        XCTAssertEqual(q.mask, 9)
        XCTAssertEqual(CellRenderer.quadrants[q.mask], 0x259A)
    }

    /// Deliberately wrong expectation flips: a 3-colour cell cannot be exact, and the solver must say so
    /// by not returning either input pair unchanged (guards against a solver that ignores sub-pixels).
    func testPartitionSolverAveragesThreeColours() {
        let sub: [RGB] = [0xFF0000, 0xFF0000, 0x00FF00, 0x0000FF]
        let (mask, fg, bg) = CellRenderer.bestPartition(sub)
        XCTAssertEqual(mask, 3)
        XCTAssertEqual(fg, 0xFF0000)
        XCTAssertEqual(bg, 0x007F7F)
    }

    func testQuantizerMapsPaletteColoursToThemselves() {
        let q = Quantizer(mode: .c256)
        for i in [16, 21, 46, 196, 231, 232, 244, 255] { XCTAssertEqual(q.index(XtermPalette.all[i]), i) }
        // Pure black is the cube's 16 (0…15 are user-themable and never used in 256 mode).
        XCTAssertEqual(q.index(0x000000), 16)
        let q16 = Quantizer(mode: .c16)
        XCTAssertEqual(q16.index(0xFE0101), 9)
        XCTAssertEqual(q16.index(0x010101), 0)
    }

    func testResampleDownscalesByAreaAverage() {
        let img = image(4, 2) { x, _ in x < 2 ? 0x000000 : 0xFFFFFF }
        let px = CellRenderer.resample(img, width: 2, height: 1)
        XCTAssertEqual(px, [0x000000, 0xFFFFFF])
        let up = CellRenderer.resample(image(1, 1) { _, _ in 0x336699 }, width: 3, height: 3)
        XCTAssertEqual(Set(up), [0x336699])
    }

    func testMonoUsesGlyphsOnly() {
        let img = image(4, 4) { x, _ in x < 2 ? 0x000000 : 0xFFFFFF }
        let cells = CellRenderer.render(img, cols: 4, rows: 2, symbols: .half, color: .mono)
        XCTAssertTrue(cells.allSatisfy(\.plain))
        XCTAssertEqual(cells[0].glyph, 0x20)
        XCTAssertEqual(cells[3].glyph, 0x2588)
    }

    func testLayoutFitsAndRefusesTinyTerminals() {
        XCTAssertTrue(Layout(width: 50, height: 30, lanes: 1, total: [10]).tooSmall)
        XCTAssertTrue(Layout(width: 120, height: 10, lanes: 1, total: [10]).tooSmall)
        for (w, h) in [(64, 18), (80, 24), (120, 40), (250, 80)] {
            let l = Layout(width: w, height: h, lanes: 1, total: [10])
            XCTAssertFalse(l.tooSmall, "\(w)×\(h)")
            let c = l.canvases[0]
            XCTAssertEqual(c.cols, c.rows * 2, "square canvas in half-block pixels")
            XCTAssertGreaterThanOrEqual(c.x, l.listWidth)
            XCTAssertLessThanOrEqual(c.x + c.cols, l.panelX)
            XCTAssertLessThan(c.y + c.rows, l.strips[0].y, "canvas above the filmstrip")
            XCTAssertLessThan(l.strips[0].y + l.strips[0].rows, h - 1, "filmstrip above the status bar")
        }
        let two = Layout(width: 160, height: 40, lanes: 2, total: [10, 10])
        XCTAssertEqual(two.canvases.count, 2)
        XCTAssertLessThanOrEqual(two.canvases[0].x + two.canvases[0].cols, two.canvases[1].x)
    }

    /// Non-square images keep their aspect in the canvas (two half-block pixels per cell row).
    func testCanvasFitKeepsAspect() {
        let c = Layout.Canvas(x: 10, y: 2, cols: 40, rows: 20)
        let wide = c.fitted(width: 64, height: 32)
        XCTAssertEqual([wide.cols, wide.rows, wide.x, wide.y], [40, 10, 10, 7])
        let tall = c.fitted(width: 32, height: 64)
        XCTAssertEqual([tall.cols, tall.rows, tall.x, tall.y], [20, 20, 20, 2])
        let square = c.fitted(width: 32, height: 32)
        XCTAssertEqual([square.cols, square.rows], [40, 20])
    }

    func testSeedPolicy() {
        XCTAssertEqual(SeedPolicy.fixed.next(7), 7)
        XCTAssertEqual(SeedPolicy.increment.next(7), 8)
        XCTAssertEqual(SeedPolicy(rawValue: "+1"), .increment)
    }
}

/// Ordered dithering onto the indexed palettes.
final class DitherTests: XCTestCase {
    private func indices(_ q: Quantizer, _ c: RGB) -> [Int] {
        (0..<4).flatMap { y in (0..<4).map { x in q.ditheredIndex(c, x: x, y: y) } }
    }

    /// Flat near-black stays one colour in 256 colours (no 16/232 pattern); palette colours stay themselves.
    func testFlatAreasAreNotMottled() {
        let q = Quantizer(mode: .c256)
        for c: RGB in [0x000000, 0x010101, 0x020202] { XCTAssertEqual(Set(indices(q, c)), [16], String(c, radix: 16)) }
        XCTAssertEqual(Set(indices(q, 0xFF0000)), [196])
        XCTAssertEqual(Set(indices(q, 0x5F87AF)), [16 + 36 * 1 + 6 * 2 + 3])
        XCTAssertEqual(Set(indices(q, 0x808080)), [244])
    }

    /// A colour between two levels becomes a pattern of both, in proportion.
    func testBetweenLevelsBecomesAPattern() {
        let q = Quantizer(mode: .c256)
        let dark = indices(q, 0x300000)  // about half-way between cube levels 0 and 95 in red
        XCTAssertEqual(Set(dark), [16, 52])
        XCTAssertEqual(dark.filter { $0 == 52 }.count, 8, "half of the 16 thresholds")
    }

    /// Greys use only the grey entries: never a hue in 16 or 8 colours.
    func testGreysStayGrey() {
        let greys16: Set<Int> = [0, 7, 8, 15]
        let q16 = Quantizer(mode: .c16), q8 = Quantizer(mode: .c8)
        for v in stride(from: 0, through: 255, by: 5) {
            let c = rgb(UInt8(v), UInt8(v), UInt8(min(255, v + 3)))
            XCTAssertTrue(Set(indices(q16, c)).isSubset(of: greys16), "16 colours, grey \(v)")
            XCTAssertTrue(Set(indices(q8, c)).isSubset(of: [0, 7]), "8 colours, grey \(v)")
        }
        XCTAssertEqual(Set(indices(q16, 0x808080)), [8])
        XCTAssertEqual(Set(indices(q8, 0x737373)), [0, 7], "mid grey in 8 colours: black and white dots")
    }

    /// 8 colours keep hue: pure red is red, never mono.
    func testEightColours() {
        let q = Quantizer(mode: .c8)
        XCTAssertEqual(Set(indices(q, 0xCD0000)), [1])
        XCTAssertTrue(indices(q, 0x00B000).allSatisfy { $0 == 2 })
    }
}
