import CNCursesW
import Foundation
import ScalewiseEngine

/// Drawing: the whole screen is redrawn into curses' buffer on every change; ncurses sends only the
/// cells that differ, so a redraw costs little more than the canvas it changes.
extension App {
    func draw() {
        werase(term.win)
        pixels.beginFrame()
        let w = painter.width, h = painter.height
        let layout = Layout(width: w, height: h, lanes: lanes.count, total: lanes.map(\.total))
        if layout.tooSmall {
            let lines = ["Terminal too small: \(w)×\(h).", "Scalewise needs at least \(Layout.minWidth)×\(Layout.minHeight)" +
                         (lanes.count > 1 ? " (wider for compare mode)" : "") + ".", "Enlarge the window, or press q to quit."]
            for (i, s) in lines.enumerated() { painter.text(max(0, h / 2 - 1 + i), max(0, (w - s.count) / 2), s, attr: i == 0 ? CW_A_BOLD : CW_A_NORMAL) }
            return refresh()
        }
        drawTitle(w)
        if let v = variations {
            drawVariations(v, w, h)
        } else if let x = xy {
            drawXY(x, w, h)
        } else {
            drawClassList(layout)
            for l in lanes.indices { drawLane(l, layout) }
            drawPanel(layout)
        }
        drawStatus(w, h)
        drawOverlay(w, h)
        refresh()
    }

    private func refresh() {
        wnoutrefresh(term.win)
        pixels.prepare(term.win)
        doupdate()
        pixels.flush(out: 1)
        if !undrawn.isEmpty { logDrawn(now: DispatchTime.now().uptimeNanoseconds) }
        if modeLabel != loggedMode {
            loggedMode = modeLabel
            logLine("mode \(modeLabel)")
        }
    }

    private func drawTitle(_ w: Int) {
        let g = lanes[0].generator
        var t = " Scalewise · \(g.name) (\(g.family), \(lanes[0].total) \(g.capabilities.stepUnit)s)"
        if lanes.count > 1 { t += " vs \(lanes[1].generator.name) (\(lanes[1].generator.family))" }
        if let e = edit { t += " · editing \(e.name)" }
        painter.text(0, 0, t, attr: CW_A_BOLD, maxWidth: w)
    }

    private func drawClassList(_ L: Layout) {
        let names = lanes[0].generator.classNames
        let search = searching ? "/" + query + "_" : (query.isEmpty ? "/ search" : "/" + query)
        painter.text(1, 0, search, attr: searching ? CW_A_BOLD : CW_A_DIM, maxWidth: L.listWidth)
        if filtered.isEmpty { return painter.text(L.listTop, 1, "no match", attr: CW_A_DIM) }
        let pos = filtered.firstIndex(of: lanes[0].classIndex) ?? 0
        if pos < listTop { listTop = pos }
        if pos >= listTop + L.listRows { listTop = pos - L.listRows + 1 }
        listTop = max(0, min(listTop, filtered.count - L.listRows))
        for row in 0..<L.listRows {
            let i = listTop + row
            guard i < filtered.count else { break }
            let c = filtered[i]
            let s = String(repeating: " ", count: max(0, 4 - String(c).count)) + "\(c) \(names[c])"
            let selected = c == lanes[0].classIndex
            painter.fill(L.listTop + row, 0, selected ? L.listWidth : 0, attr: CW_A_REVERSE)
            painter.text(L.listTop + row, 0, s, attr: selected ? CW_A_REVERSE : CW_A_NORMAL, maxWidth: L.listWidth)
        }
    }

    private func drawLane(_ l: Int, _ L: Layout) {
        if l == 0, let e = edit, !e.running { return drawEditPick(e, L) }
        let lane = lanes[l], v = shown(l), label = L.labels[l], canvas = L.canvases[l]
        // A narrow lane drops whole fields, the preview tier first, the scale last.
        var f = Fields()
        if l == 0, edit != nil { f.add("edit", keep: 8) }  // the file is in the title
        if lanes.count > 1 { f.add(lane.generator.name, keep: 7) }
        f.add(lane.generator.classNames[lane.classIndex], keep: 6)
        let scale = "\(v)/\(lane.total)"
        f.add(label.width >= scale.count + 6 ? "scale " + scale : scale, keep: 9)  // a very narrow lane: the count alone
        if v > 0 {
            f.add("\(lane.frames[v - 1].result.shape)", keep: 3)
            f.add(lane.frames[v - 1].decoded != nil ? "decoded" : "preview", keep: 1)
            if decision != .off { for (i, s) in decisionSummary(l, v - 1).enumerated() { f.add(s, keep: 5 - 3 * i) } }
        }
        painter.text(label.y, label.x, f.joined(" · ", width: label.width), attr: CW_A_BOLD, maxWidth: label.width)
        if v == 0 {
            let hint = busy ? "generating…" : "→ one scale · Enter all"
            painter.text(canvas.y + canvas.rows / 2, canvas.x + max(0, (canvas.cols - hint.count) / 2), hint, attr: CW_A_DIM)
        } else {
            let (img, key) = picture(l, v - 1)
            if showPixels {
                if let id = pixels.add(slot: 1 + l, key: "c" + key, x: canvas.x, y: canvas.y, cols: canvas.cols,
                                       rows: canvas.rows, image: img) {
                    painter.placeholders(id: id, y: canvas.y, x: canvas.x, cols: canvas.cols, rows: canvas.rows)
                }
            } else {
                let box = canvas.fitted(width: img.width, height: img.height)
                painter.cells(cells("c\(key):\(box.cols)x\(box.rows)", img, box.cols, box.rows),
                              y: box.y, x: box.x, cols: box.cols)
            }
        }
        // Filmstrip: every completed scale, the shown one marked in the number row.
        let s = L.strips[l]
        for k in 0..<lane.total {
            let x = s.x + k * (s.thumb + 1)
            guard x + s.thumb <= s.x + s.width else { break }
            if k < lane.frames.count {
                let (img, key) = picture(l, k)
                if showPixels {
                    if let id = pixels.add(slot: 10 + 100 * l + k, key: "t" + key, x: x, y: s.y, cols: s.thumb, rows: s.rows,
                                           image: img) {
                        painter.placeholders(id: id, y: s.y, x: x, cols: s.thumb, rows: s.rows)
                    }
                } else {
                    painter.cells(cells("t\(key):\(s.thumb)", img, s.thumb, s.rows), y: s.y, x: x, cols: s.thumb)
                }
            } else {
                painter.text(s.y, x, String(repeating: "·", count: s.thumb), attr: CW_A_DIM)
            }
            let num = String(k + 1)
            painter.text(s.y + s.rows, x, num, attr: k + 1 == v ? CW_A_REVERSE : (k < lane.frames.count ? CW_A_NORMAL : CW_A_DIM))
        }
    }

    /// Pictures are drawn with pixels unless in block mode or under a box overlay (which they would cover).
    var showPixels: Bool {
        guard pixels.active, variations == nil, xy == nil else { return false }
        switch overlay {
        case .help, .models, .history, .note: return false
        default: return true
        }
    }

    func cells(_ key: String, _ image: RGBImage, _ cols: Int, _ rows: Int) -> [Cell] {
        if let c = cellCache[key] { return c }
        let c = CellRenderer.render(image, cols: cols, rows: rows, symbols: symbols, color: painter.mode)
        if cellCache.count > 256 { cellCache.removeAll() }
        cellCache[key] = c
        return c
    }

    private func drawPanel(_ L: Layout) {
        let x = L.panelX + 1, w = L.panelWidth - 1
        var y = 1
        func knobRow(_ k: Knob, _ name: String, _ value: String) {
            let focused = k == knob
            let s = name.padding(toLength: 8, withPad: " ", startingAt: 0) + value
            painter.text(y, x, s, attr: focused ? CW_A_REVERSE : CW_A_NORMAL, maxWidth: w)
            y += 1
        }
        painter.text(y, x, "knobs (Tab, + -, =)", attr: CW_A_BOLD, maxWidth: w)
        y += 1
        knobRow(.cfg, "cfg", fmt(options.cfg) + " " + ruleLabel)
        knobRow(.topK, "top-k", options.topK == 0 ? "off" : "\(options.topK)")
        knobRow(.topP, "top-p", options.topP == 0 ? "off" : fmt(options.topP))
        if lanes[0].generator.schedules.count > 1 { knobRow(.steps, "steps", "\(lanes[0].total)") }
        knobRow(.seed, "seed", "\(options.seed)")
        knobRow(.policy, "next", "seed \(seedPolicy.rawValue)")
        knobRow(.smooth, "smooth", options.moreSmooth ? "on" : "off")
        y += 1
        for l in lanes.indices {
            guard y < L.height - 3 else { break }
            let title = lanes.count > 1 ? "\(lanes[l].generator.name) · cfg \(fmt(laneOptions(l).cfg)) \(laneOptions(l).cfgMode.rawValue)" : "scales"
            painter.text(y, x, title, attr: CW_A_BOLD, maxWidth: w)
            y += 1
            // Narrow panels drop the tokens column first, then cfg: the ms column is never cut.
            let showTokens = w >= 31, showCfg = w >= 24
            painter.text(y, x, "  # size  " + (showTokens ? " tokens" : "") + (showCfg ? "    cfg" : "") + "     ms", attr: CW_A_DIM, maxWidth: w)
            y += 1
            let rowsLeft = L.height - 2 - y - (l + 1 < lanes.count ? 4 : 0)
            let frames = lanes[l].frames, v = shown(l), shapes = laneShapes(l)
            let first = max(0, min(v - rowsLeft, lanes[l].total - rowsLeft))
            for k in first..<lanes[l].total where y < L.height - 2 && k - first < rowsLeft {
                let shape = shapes[k]
                var s = pad(String(k + 1), 3) + " " + shape.description.padding(toLength: 6, withPad: " ", startingAt: 0)
                if k < frames.count {
                    let r = frames[k].result
                    if showTokens { s += pad(String(r.tokens.count), 7) }
                    if showCfg { s += pad(String(format: "%.2f", r.guidance), 7) }
                    s += pad(String(format: "%.1f", r.milliseconds), 7)
                }
                painter.text(y, x, s, attr: k + 1 == v ? CW_A_REVERSE : (k < frames.count ? CW_A_NORMAL : CW_A_DIM), maxWidth: w)
                y += 1
            }
            if frames.count > 0 {
                let total = frames.map(\.result.milliseconds).reduce(0, +)
                painter.text(y, x, "total " + String(format: "%.0f ms", total), attr: CW_A_DIM, maxWidth: w)
                y += 2
            }
        }
    }

    private func drawStatus(_ w: Int, _ h: Int) {
        let y = h - 1
        painter.fill(y, 0, w, attr: CW_A_REVERSE)
        if case .prompt(let k, let line) = overlay {
            let name = ["cfg": "cfg (0…100)", "topK": "top-k (0 = off)", "topP": "top-p (0…1, 0 = off)", "seed": "seed"]["\(k)"] ?? "\(k)"
            return drawLine(y, w, " \(name): ", line, "   Enter sets, Esc cancels")
        }
        if case .path(let line, let purpose) = overlay {
            let head = [.edit: " edit image (PNG): ", .record: " open the record of (PNG): ",
                        .xy: " X/Y axes (cfg=1,2 seed=1,2): "][purpose]!
            return drawLine(y, w, head, line, "   Enter loads, Esc cancels")
        }
        expireMessage()
        let spinner = ["|", "/", "-", "\\"][Int(DispatchTime.now().uptimeNanoseconds / 120_000_000) % 4]
        let state = busy ? "running \(spinner) \(lanes[0].frames.count)/\(lanes[0].total)" : "ready"
        // Narrow: the drawing mode goes first, then the view, then the state while news too long for the rest shows
        // (it expires; only the news itself may be cut).
        var f = Fields()
        f.add(modeLabel, keep: 1)
        if decision != .off { f.add("view: \(decision.label)", keep: 2) }
        f.add(state, keep: 3)
        f.add(message, keep: 4)
        let right = "? help · q quit "
        let room = max(0, w - right.count - 2)
        let left = " " + f.joined(" │ ", width: room)
        painter.text(y, 0, left, attr: CW_A_REVERSE, maxWidth: room + 1)
        if left.count + right.count < w { painter.text(y, w - right.count, right, attr: CW_A_REVERSE) }
    }

    /// A prompt on the status line: the cursor is a `_` after the text, or the character under it shown unreversed.
    /// The part of a long line around the cursor, where the typing happens, stays in view.
    private func drawLine(_ y: Int, _ w: Int, _ head: String, _ line: LineEdit, _ tail: String) {
        let chars = Array(line.text) + ["_"]
        let room = max(2, w - head.count - tail.count)
        // Past the first screenful, an ellipsis and the room − 1 characters that end at the cursor or later.
        let first = chars.count <= room || line.cursor < room - 1 ? 0 : min(line.cursor - room + 2, chars.count - room + 1)
        let shown = (first > 0 ? "…" : "") + String(chars[first..<min(chars.count, first + room - (first > 0 ? 1 : 0))])
        painter.text(y, 0, head + shown + tail, attr: CW_A_REVERSE, maxWidth: w)
        if !line.atEnd {
            let x = head.count + (first > 0 ? 1 : 0) + line.cursor - first
            painter.text(y, x, String(chars[line.cursor]), attr: CW_A_NORMAL, maxWidth: max(0, w - x))
        }
    }

    private func drawOverlay(_ w: Int, _ h: Int) {
        switch overlay {
        case .help(let top):
            let lines = keyHelp.map { $0.0.padding(toLength: 15, withPad: " ", startingAt: 0) + $0.1 }
            let rows = min(lines.count, h - 6)
            let more = lines.count > rows
            let first = max(0, min(top, lines.count - rows))
            let title = more ? "keys \(first + 1)-\(first + rows) of \(lines.count) (↑↓ PgUp PgDn scroll, Esc closes)"
                             : "keys (Esc closes)"
            box(Array(lines[first...]), title: title, w, h)
        case .models(let entries, let sel, let lane):
            box(App.modelLines(entries), title: lane == 0 ? "model (↑↓ Enter, Esc)" : "compare with (↑↓ Enter, Esc)", w, h, selected: sel)
        case .history(let entries, let sel):
            drawHistory(entries, sel, w, h)
        case .note(let title, let text):
            box(App.wrap(text, width: max(8, min(100, w - 8))), title: title, w, h)
        default: break
        }
    }

    /// The picker's rows: name (`*` the default), family, image size, parameters, file size, the folder it was found
    /// in and the tokenizer it pairs with, in columns.
    static func modelLines(_ entries: [ModelEntry]) -> [String] {
        let rows = entries.map { e in
            [(e.isDefault ? "*" : " ") + e.name, e.family, e.imageSide.map { "\($0)×\($0) px" } ?? "? px",
             String(format: "%.1f M params", Double(e.parameters) / 1e6),
             e.bytes >= 1 << 30 ? String(format: "%.1f GB", Double(e.bytes) / Double(1 << 30))
                                : String(format: "%.1f MB", Double(e.bytes) / Double(1 << 20)),
             e.folder, "tokenizer " + e.tokenizer]
        }
        let widths = (0..<7).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { r in zip(r, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ") }
    }

    /// Messages are news: after a few seconds they go, except those of work still under way ("saving…").
    private func expireMessage() {
        guard !message.isEmpty, !message.hasSuffix("…") else { return }
        if DispatchTime.now().uptimeNanoseconds - messageNs > App.messageSeconds * 1_000_000_000 { message = "" }
    }

    private func box(_ lines: [String], title: String, _ w: Int, _ h: Int, selected: Int? = nil) {
        let bw = min(w - 4, max(title.count, lines.map(\.count).max() ?? 0) + 4)
        let rows = min(lines.count, h - 6)
        let x = (w - bw) / 2, y = max(1, (h - rows - 2) / 2)
        let first = selected.map { max(0, min($0 - rows + 1, lines.count - rows)) } ?? 0
        painter.fill(y, x, bw, attr: CW_A_REVERSE)
        painter.text(y, x + 2, title, attr: CW_A_REVERSE)
        for r in 0..<rows {
            let i = first + r
            painter.fill(y + 1 + r, x, bw)
            painter.text(y + 1 + r, x + 2, lines[i], attr: i == selected ? CW_A_REVERSE : CW_A_NORMAL, maxWidth: bw - 3)
        }
        painter.fill(y + 1 + rows, x, bw, attr: CW_A_REVERSE)
    }

    /// The status line's name for how the picture is drawn: the pixel protocol and zoom, or colours and symbols.
    var modeLabel: String {
        guard pixels.active else { return "\(painter.mode.label) · \(symbols.rawValue)" }
        let z = pixels.canvasZoom.map { $0 >= 1 ? " \($0)×" : " fit" } ?? ""
        return pixels.mode.rawValue + z
    }

    private func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }

    func fmt(_ v: Float) -> String { v == v.rounded() ? String(format: "%.1f", v) : String(format: "%.2f", v) }
}
