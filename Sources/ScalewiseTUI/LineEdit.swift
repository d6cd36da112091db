import CNCursesW

/// A one-line prompt's text and cursor, with the readline keys people type without thinking: Ctrl-U (clear the
/// line), Ctrl-W (delete a word or path part), Ctrl-K (delete to the end), Ctrl-A/Home, Ctrl-E/End, Left/Right
/// (Ctrl-B/Ctrl-F), Backspace and Delete. The cursor counts characters.
struct LineEdit: Equatable {
    private(set) var text: String
    private(set) var cursor: Int
    /// The longest text typing may make (pre-filled text may be longer; it is never cut).
    let limit: Int

    init(_ text: String = "", limit: Int) {
        self.text = text
        cursor = text.count
        self.limit = limit
    }

    var atEnd: Bool { cursor == text.count }

    /// A key character; false when it is not an editing key (Enter, Esc, a refused character).
    mutating func char(_ c: UInt32, accepts: (Unicode.Scalar) -> Bool) -> Bool {
        switch c {
        case 0x7F, 0x08: backspace()
        case 0x15: remove(0..<text.count)  // Ctrl-U: the whole line, as asked of a pre-filled prompt
        case 0x0B: remove(cursor..<text.count)  // Ctrl-K
        case 0x17: remove(wordStart()..<cursor)  // Ctrl-W
        case 0x01: cursor = 0  // Ctrl-A
        case 0x05: cursor = text.count  // Ctrl-E
        case 0x02: cursor = max(0, cursor - 1)  // Ctrl-B
        case 0x06: cursor = min(text.count, cursor + 1)  // Ctrl-F
        default:
            guard let s = Unicode.Scalar(c), s.value >= 0x20, s.value != 0x7F, accepts(s), text.count < limit else { return false }
            let i = index(cursor)
            let before = text.count
            text.insert(Character(s), at: i)
            // A combining mark joins the character before it: the count may not grow.
            cursor = min(text.count, cursor + text.count - before)
        }
        return true
    }

    /// A curses key code; false when it is not an editing key.
    mutating func key(_ code: Int32) -> Bool {
        switch code {
        case KEY_LEFT: cursor = max(0, cursor - 1)
        case KEY_RIGHT: cursor = min(text.count, cursor + 1)
        case KEY_HOME: cursor = 0
        case KEY_END: cursor = text.count
        case KEY_BACKSPACE: backspace()
        case KEY_DC: remove(cursor..<min(text.count, cursor + 1))
        default: return false
        }
        return true
    }

    private mutating func backspace() { remove(max(0, cursor - 1)..<cursor) }

    private mutating func remove(_ r: Range<Int>) {
        guard !r.isEmpty else { return }
        text.removeSubrange(index(r.lowerBound)..<index(r.upperBound))
        cursor = r.lowerBound
    }

    /// Where Ctrl-W stops: back over separators, then over the word, a path part ending at `/` or a space.
    private func wordStart() -> Int {
        let chars = Array(text)
        var i = cursor
        while i > 0, chars[i - 1] == " " || chars[i - 1] == "/" { i -= 1 }
        while i > 0, chars[i - 1] != " " && chars[i - 1] != "/" { i -= 1 }
        return i
    }

    private func index(_ n: Int) -> String.Index { text.index(text.startIndex, offsetBy: n, limitedBy: text.endIndex) ?? text.endIndex }
}
