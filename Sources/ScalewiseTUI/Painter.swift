import CNCursesW

/// Draws text and rendered cells into the curses window, in the active colour mode.
final class Painter {
    let term: Terminal
    private(set) var mode: ColorMode
    private var quantizer: Quantizer
    /// Pairs that could not be allocated (tiny palettes): cells fall back to plain glyphs, never garbage.
    private(set) var pairFailures = 0

    init(term: Terminal, mode: ColorMode) {
        self.term = term
        self.mode = mode
        quantizer = Quantizer(mode: mode)
    }

    func setMode(_ m: ColorMode) {
        mode = m
        quantizer = Quantizer(mode: m)
        // Old pairs are stale; ncurses repaints cells whose pair content changes.
        reset_color_pairs()
        pairFailures = 0
    }

    var width: Int { Int(getmaxx(term.win)) }
    var height: Int { Int(getmaxy(term.win)) }

    /// The terminal colour number for an RGB colour in the active mode.
    func number(_ c: RGB) -> Int32 {
        switch mode {
        case .truecolor: return term.colorNumber(rgb: c, index: nil)
        case .c256, .c16, .c8:
            let i = quantizer.index(c)
            return term.colorNumber(rgb: XtermPalette.all[i], index: i)
        case .mono: return -1
        }
    }

    func pair(fg: Int32, bg: Int32) -> Int32? {
        let p = alloc_pair(fg, bg)
        if p < 0 { pairFailures += 1; return nil }
        return p
    }

    /// Text clipped to `maxWidth` columns (ncurses decodes UTF-8 itself in a UTF-8 locale).
    func text(_ y: Int, _ x: Int, _ s: String, attr: attr_t = CW_A_NORMAL, maxWidth: Int? = nil) {
        guard y >= 0, y < height, x >= 0, x < width else { return }
        var str = s
        if !term.utf8 { str = asciiFallback(s) }
        let room = min(maxWidth ?? Int.max, width - x)
        guard room > 0 else { return }
        if str.count > room { str = String(str.prefix(room)) }
        wattr_on(term.win, attr, nil)
        mvwaddstr(term.win, Int32(y), Int32(x), str)
        wattr_off(term.win, attr, nil)
    }

    /// Text in an RGB colour (dropped to plain text in mono).
    func colored(_ y: Int, _ x: Int, _ s: String, fg: RGB, attr: attr_t = CW_A_NORMAL) {
        guard mode != .mono, let p = pair(fg: number(fg), bg: -1) else { return text(y, x, s, attr: attr) }
        wattr_on(term.win, attr, nil)
        var pp = p
        wattr_set(term.win, attr, 0, &pp)
        text(y, x, s)
        wattr_set(term.win, CW_A_NORMAL, 0, nil)
        wattr_off(term.win, attr, nil)
    }

    func fill(_ y: Int, _ x: Int, _ w: Int, attr: attr_t = CW_A_NORMAL) {
        text(y, x, String(repeating: " ", count: max(0, w)), attr: attr)
    }

    /// kitty placeholder cells for image `id` over `cols`×`rows` cells at (y, x): U+10EEEE with the row
    /// and column marks, the id as foreground colour (256-colour index, or 0x0000id in direct colour).
    func placeholders(id: Int, y: Int, x: Int, cols: Int, rows: Int) {
        guard let p = pair(fg: Int32(id), bg: -1) else { return }
        var pairNo = p
        var cc = cchar_t()
        for r in 0..<min(rows, KittyPlaceholder.maxCells) where y + r < height {
            for c in 0..<min(cols, KittyPlaceholder.maxCells) where x + c < width {
                let wch = KittyPlaceholder.cell(row: r, column: c).map { wchar_t(bitPattern: $0) } + [0]
                setcchar(&cc, wch, CW_A_NORMAL, 0, &pairNo)
                mvwadd_wch(term.win, Int32(y + r), Int32(x + c), &cc)
            }
        }
    }

    /// Cells row by row at (y, x), `cols` wide.
    func cells(_ cells: [Cell], y: Int, x: Int, cols: Int) {
        guard cols > 0 else { return }
        var cc = cchar_t()
        for (i, c) in cells.enumerated() {
            let cy = y + i / cols, cx = x + i % cols
            guard cy < height, cx < width else { continue }
            var glyph = c.glyph
            if !term.utf8 && glyph > 0x7F { glyph = 0x23 }  // '#': never emit what the locale cannot show
            var pairNo: Int32 = 0
            if !c.plain && mode != .mono {
                var fgN: Int32, bgN: Int32
                if mode == .truecolor {
                    fgN = number(c.fg)
                    bgN = number(c.bg)
                } else {
                    // Dithered per sub-pixel: fg stands for the cell's upper half, bg for its lower half.
                    let px = i % cols, py = 2 * (i / cols)
                    let fi = quantizer.ditheredIndex(c.fg, x: px, y: py), bi = quantizer.ditheredIndex(c.bg, x: px, y: py + 1)
                    fgN = term.colorNumber(rgb: XtermPalette.all[fi], index: fi)
                    bgN = term.colorNumber(rgb: XtermPalette.all[bi], index: bi)
                }
                // A cell whose two colours coincide is drawn as a space: no seams between glyph halves.
                if fgN == bgN { glyph = 0x20 }
                if let p = pair(fg: fgN, bg: bgN) { pairNo = p } else { glyph = 0x20 }
            }
            let wch: [wchar_t] = [wchar_t(bitPattern: glyph), 0]
            setcchar(&cc, wch, CW_A_NORMAL, 0, &pairNo)
            mvwadd_wch(term.win, Int32(cy), Int32(cx), &cc)
        }
    }
}

/// What a non-UTF-8 locale shows for the UI's symbols: an ASCII look-alike of each, `?` for the rest
/// (class names in other scripts).
func asciiFallback(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        if u.isASCII { out.unicodeScalars.append(u); continue }
        switch u {
        case "·": out += "."
        case "×": out += "x"
        case "│": out += "|"
        case "→": out += ">"
        case "←": out += "<"
        case "↑": out += "^"
        case "↓": out += "v"
        case "↖": out += "\\"
        case "↘": out += "\\"
        case "…": out += "..."
        case "−", "—", "–": out += "-"
        case "≥": out += ">="
        case "²": out += "2"
        default: out += "?"
        }
    }
    return out
}
