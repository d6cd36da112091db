import CNCursesW
import XCTest
@testable import ScalewiseTUI

/// The prompt line's editing keys, without a terminal.
final class LineEditTests: XCTestCase {
    func testEditingKeys() {
        var l = LineEdit("./dir/scalewise-g-0.png", limit: 100)
        func type(_ s: String) { for c in s.unicodeScalars { _ = l.char(c.value, accepts: { _ in true }) } }
        XCTAssertTrue(l.char(0x17, accepts: { _ in true }))  // Ctrl-W: the last path part
        XCTAssertEqual(l.text, "./dir/")
        XCTAssertTrue(l.char(0x15, accepts: { _ in true }))  // Ctrl-U: everything
        XCTAssertEqual(l.text, "")
        type("ac")
        _ = l.key(KEY_LEFT)
        type("b")
        XCTAssertEqual(l.text, "abc")
        _ = l.key(KEY_HOME)
        _ = l.key(KEY_DC)
        XCTAssertEqual(l.text, "bc")
        _ = l.key(KEY_END)
        type("e\u{301}x")  // a combining accent joins the e
        XCTAssertEqual(l.text, "bcéx")
        XCTAssertTrue(l.atEnd)
        XCTAssertFalse(l.char(0x0D, accepts: { _ in true }), "Enter is not an editing key")
    }
}
