import XCTest
@testable import ScalewiseEngine

/// Sheet labels keep their case: a lower-case class name must not read as its capital.
final class SheetFontTests: XCTestCase {
    func drawn(_ text: String) -> [UInt8] {
        var img = RGBImage(width: SheetFont.measure(text) + 2, height: SheetFont.height + 2)
        img.pixels = [UInt8](repeating: 255, count: img.pixels.count)
        SheetFont.draw(text, at: 1, 1, rgb: (0, 0, 0), into: &img)
        return img.pixels
    }

    func testLowerCaseLettersHaveTheirOwnGlyphs() {
        for u in UnicodeScalar("a").value...UnicodeScalar("z").value {
            let lower = Character(UnicodeScalar(u)!), upper = Character(String(lower).uppercased())
            let g = SheetFont.glyphs[lower]
            XCTAssertNotNil(g, "\(lower)")
            XCTAssertEqual(g?.count, SheetFont.height, "\(lower)")
            XCTAssertTrue(g?.allSatisfy { $0 < 1 << SheetFont.width } ?? false, "\(lower) fits the cell")
            XCTAssertNotEqual(g, SheetFont.glyphs[upper], "\(lower) differs from \(upper)")
            XCTAssertNotEqual(g, SheetFont.glyphs["?"], "\(lower) is not the unknown glyph")
        }
        XCTAssertNotEqual(drawn("b"), drawn("B"))
        XCTAssertEqual(drawn("b"), drawn("b"))
    }

    func testSheetLabelsKeepTheirCase() {
        let cell = RGBImage(width: 8, height: 8)
        let lower = makeContactSheet([cell], columnLabels: ["class=b"], rowLabels: [])
        let upper = makeContactSheet([cell], columnLabels: ["CLASS=B"], rowLabels: [])
        XCTAssertEqual(lower.width, upper.width)
        let labelRows = (SheetFont.height + 6) * lower.width * 3
        XCTAssertNotEqual(Array(lower.pixels[0..<labelRows]), Array(upper.pixels[0..<labelRows]))
        XCTAssertTrue(lower.pixels[0..<labelRows].contains(0), "the label is drawn")
    }
}
