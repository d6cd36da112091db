import CNCursesW
import Foundation
import ScalewiseEngine

/// The history browser (`b`): the logged images newest first, the selected one's picture beside the list when
/// the screen and colour mode can show it (else the list alone), Enter re-opens it.
extension App {
    func openHistoryBrowser() {
        guard let h = history else { message = "history is off (--no-history or SCALEWISE_NO_HISTORY)"; return }
        do {
            let entries = Array(try h.read().reversed())
            guard !entries.isEmpty else { message = "no history yet: finished images are logged in \(h.dir)"; return }
            overlay = .history(entries: entries, selected: 0)
            logLine("history browser \(entries.count)")
        } catch {
            message = "history: \(error)"
        }
    }

    func historyKey(_ code: Int32, _ entries: [HistoryEntry], _ sel: Int) {
        let page = max(1, painter.height - 6)
        var s = sel
        switch code {
        case KEY_UP: s -= 1
        case KEY_DOWN: s += 1
        case KEY_PPAGE: s -= page
        case KEY_NPAGE: s += page
        case KEY_HOME: s = 0
        case KEY_END: s = entries.count - 1
        case KEY_ENTER: return openHistoryEntry(entries, sel)
        default: return
        }
        overlay = .history(entries: entries, selected: max(0, min(entries.count - 1, s)))
    }

    /// Full-screen between the title and the status line.
    func drawHistory(_ entries: [HistoryEntry], _ sel: Int, _ w: Int, _ h: Int) {
        for y in 1..<(h - 1) { painter.fill(y, 0, w) }
        let title = "history, newest first (\(History.limit) kept): ↑↓ pick, Enter re-opens, Esc closes"
        painter.text(1, 0, title, attr: CW_A_BOLD, maxWidth: w)
        let top = 2, rows = h - 2 - top - 1
        // The picture takes the right half when there is room and pixels or colour to show it.
        let picRows = rows, picCols = min(w / 2, picRows * 2) & ~1
        let showPicture = (pixels.active || painter.mode != .mono) && picCols >= 16
        let listW = showPicture ? w - picCols - 2 : w
        let first = max(0, min(sel - rows + 1, entries.count - rows))
        for r in 0..<min(rows, entries.count - first) {
            let i = first + r, e = entries[i]
            let marker = i == sel ? ">" : " "
            let line = "\(marker) \(App.shortTime(e.time))  \(e.className)  \(e.seedLabel)  cfg \(fmt(e.cfg))  \(e.model)"
            painter.text(top + r, 0, line, attr: i == sel ? CW_A_REVERSE : CW_A_NORMAL, maxWidth: listW)
        }
        let e = entries[sel]
        let detail = "\(sel + 1)/\(entries.count) · \(e.model) \(e.precision) · top-k \(e.topK) · top-p \(fmt(e.topP)) · \(e.file)"
        painter.text(h - 2, 0, detail, attr: CW_A_DIM, maxWidth: w)
        guard showPicture, let img = historyPicture(e) else { return }
        let area = Layout.Canvas(x: w - picCols, y: top, cols: picCols, rows: picRows)
        if pixels.active {
            // A slot of its own: the layer deletes (kitty) or paints over (sixel, iTerm2) the picture of the entry
            // left behind, and the browser's picture once the browser closes, as it does for the canvas.
            if let id = pixels.add(slot: App.historySlot, key: "h" + e.file, x: area.x, y: area.y, cols: area.cols, rows: area.rows,
                                   image: img) {
                painter.placeholders(id: id, y: area.y, x: area.x, cols: area.cols, rows: area.rows)
            }
            return
        }
        let box = area.fitted(width: img.width, height: img.height)
        painter.cells(cells("h\(e.file):\(box.cols)x\(box.rows)", img, box.cols, box.rows), y: box.y, x: box.x, cols: box.cols)
    }

    /// The pixel layer's slot for the browser's picture: apart from the canvases (1, 2) and filmstrips (10 on).
    static let historySlot = 9

    /// The entry's PNG, read once while it stays selected; nil when it is gone or will not read.
    private func historyPicture(_ e: HistoryEntry) -> RGBImage? {
        if let t = historyThumb, t.file == e.file { return t.image }
        let image = history?.path(of: e).flatMap { try? PNG.read($0).0 }
        historyThumb = (e.file, image)
        return image
    }

    /// "2026-12-06T04:31:07Z" → "12-06 04:31:07".
    static func shortTime(_ iso: String) -> String {
        guard iso.count >= 19 else { return iso }
        let c = Array(iso)
        return String(c[5..<10]) + " " + String(c[11..<19])
    }
}
