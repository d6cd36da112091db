import CNCursesW
import Foundation
import ScalewiseEngine

/// The X/Y view (`X`): the current image's settings with one or two of them varied, every cell run to its last
/// scale on the worker and shown as a labelled grid; the same sheet `scalewise generate --xy` makes.
struct XYView {
    let axes: [XYAxis]
    /// Each cell's session settings, row by row (X fastest).
    let cells: [LaneSpec]
    var images: [RGBImage?]
    var records: [GenerationRecord?]
    /// A running cell's latest scale as the cheap latent projection, and its scales done of all.
    var previews: [RGBImage?]
    var progress: [(done: Int, total: Int)?]
    /// The cursor: column and row.
    var x = 0, y = 0
    /// The first column and row on screen: the window follows the cursor over sheets larger than the screen.
    var left0 = 0, top0 = 0

    init(axes: [XYAxis], cells: [LaneSpec]) {
        self.axes = axes
        self.cells = cells
        images = Array(repeating: nil, count: cells.count)
        records = Array(repeating: nil, count: cells.count)
        previews = Array(repeating: nil, count: cells.count)
        progress = Array(repeating: nil, count: cells.count)
    }

    var cols: Int { axes[0].values.count }
    var rows: Int { axes.count > 1 ? axes[1].values.count : 1 }
    var selected: Int { y * cols + x }
    var done: Int { images.count { $0 != nil } }

    /// "cfg=2 seed=1": the cell's axis values.
    func label(_ i: Int) -> String {
        axes.count > 1 ? axes[0].label(i % cols) + " " + axes[1].label(i / cols) : axes[0].label(i)
    }

    /// How many columns and rows of cells fit `width`×`height`: pictures need at least 8 columns and 2 rows (plus
    /// a label line), the row headers take the left.
    func shown(width: Int, height: Int) -> (cols: Int, rows: Int, left: Int) {
        let left = axes.count > 1 ? min(width / 4, (0..<rows).map { axes[1].label($0).count }.max()! + 1) : 0
        let c = min(cols, max(1, (width - left + 1) / 9)), r = min(rows, max(1, (height - 5) / 3))
        return (c, r, left)
    }

    /// Moves the cursor by `dx`, `dy` (clamped to the sheet) and scrolls the window of `fit` cells just enough to keep
    /// it in view.
    mutating func move(dx: Int, dy: Int, fit: (cols: Int, rows: Int)) {
        x = max(0, min(cols - 1, x + dx))
        y = max(0, min(rows - 1, y + dy))
        follow(fit)
    }

    /// The window after a resize or a move: the cursor inside, the window inside the sheet.
    mutating func follow(_ fit: (cols: Int, rows: Int)) {
        left0 = max(0, min(cols - fit.cols, min(x, max(left0, x - fit.cols + 1))))
        top0 = max(0, min(rows - fit.rows, min(y, max(top0, y - fit.rows + 1))))
    }

    /// "columns 3–6 of 8 · rows 1–3 of 8": what part of a sheet larger than the screen is shown; nil when all is.
    func window(_ fit: (cols: Int, rows: Int)) -> String? {
        guard fit.cols < cols || fit.rows < rows else { return nil }
        var parts: [String] = []
        if axes.count == 1 {
            parts.append("cells \(left0 + 1)–\(left0 + fit.cols) of \(cols)")
        } else {
            parts.append("columns \(left0 + 1)–\(left0 + fit.cols) of \(cols)")
            parts.append("rows \(top0 + 1)–\(top0 + fit.rows) of \(rows)")
        }
        return parts.joined(separator: " · ") + " (arrows scroll)"
    }
}

extension App {
    func xyPrompt() {
        if edit != nil { return message = "no X/Y view while editing (Esc leaves edit mode)" }
        if lanes.count > 1 { return message = "the X/Y view needs one model (v closes compare mode)" }
        overlay = .path(line: LineEdit(limit: 1000), purpose: .xy)
    }

    /// Parses `text` (axes as `generate --xy` takes them, separated by spaces) and runs every cell; a bad spec
    /// runs nothing and says why on the status line.
    func openXY(_ text: String) {
        let specs = text.split(separator: " ").map(String.init)
        guard !specs.isEmpty else { return message = "X/Y: give one or two axes, e.g. cfg=1,2,4 seed=1,2" }
        let g = lanes[0].generator
        var cells: [LaneSpec] = []
        let axes: [XYAxis]
        do {
            axes = try specs.map(XYAxis.init(parsing:))
            try XYAxis.checkSheet(axes, limit: allowLarge ? SheetRecord.maxCells : XYAxis.defaultMaxCells,
                                  large: "start scalewise with --allow-large for up to \(SheetRecord.maxCells)")
            if axes.contains(where: { $0.kind == .model }) {
                throw InputError("--xy model: not in the TUI; scalewise generate --xy compares models")
            }
            for v in XYAxis.cellValues(axes) {
                var o = options
                try XYAxis.apply(v, to: &o, family: g.modelFamily)
                let cls = try v[.class].map { try g.resolveClass($0) } ?? lanes[0].classIndex
                let schedule = try v[.steps].flatMap(Int.init).map { try XYAxis.schedule(steps: $0, of: g) } ?? lanes[0].requestedSchedule
                cells.append(LaneSpec(generator: g, classIndex: cls, options: o, schedule: schedule, modelPath: modelFile))
            }
        } catch {
            message = "\(error)"
            logLine("xy refused: \(error)")
            return
        }
        dropWork()
        viewGoal = min(viewGoal, lanes[0].frames.count)
        xy = XYView(axes: axes, cells: cells)
        worker.submit(.xy(cells: cells), epoch: epoch)
        message = "X/Y: \(cells.count) cells…"
        logLine("xy \(text)")
    }

    /// A running cell started (no image yet) or finished another scale: its projection stands in for the picture
    /// until the cell is done.
    func xyCellStep(_ ep: Int, _ i: Int, _ done: Int, _ total: Int, _ image: RGBImage?) {
        guard ep == epoch, var v = xy, i < v.images.count, v.images[i] == nil else { return }
        if let image { v.previews[i] = image }
        v.progress[i] = (done, total)
        xy = v
        logLine("xy progress cell=\(i + 1) k=\(done)/\(total)")
    }

    func xyCellDone(_ ep: Int, _ i: Int, _ image: RGBImage, _ record: GenerationRecord) {
        guard ep == epoch, var v = xy, i < v.images.count else { return }
        v.images[i] = image
        v.records[i] = record
        v.previews[i] = nil
        xy = v
        if v.done == v.cells.count { message = "X/Y done: Enter adopts the selected cell, s saves the sheet" }
        logLine("xy cell \(i + 1) \(v.label(i)) pixels \(Variations.fingerprint(image))")
    }

    /// Enter: the selected cell's settings become the session's, and its image is made again in lane 0.
    func adoptXY() {
        guard let v = xy else { return }
        let i = v.selected, spec = v.cells[i]
        guard v.images[i] != nil else { return message = "cell \(v.label(i)) is still running" }
        options = spec.options
        lanes[0].classIndex = spec.classIndex
        if let s = spec.schedule { lanes[0].schedule = s }
        xy = nil
        reconfigure(advanceTo: lanes[0].total)
        message = "adopted \(v.label(i))"
        logLine("xy adopted \(i + 1) \(v.label(i))")
    }

    func closeXY() {
        dropWork()
        xy = nil
        message = "X/Y view closed, image unchanged"
        logLine("xy closed")
    }

    /// `s`: the whole sheet as `generate --xy` writes it (labels, record), once every cell is done.
    func saveXY() {
        guard let v = xy else { return }
        let records = v.records.compactMap { $0 }, images = v.images.compactMap { $0 }
        guard records.count == v.cells.count else { return message = "the sheet is still running (\(v.done)/\(v.cells.count))" }
        var rec = records[0]
        rec.xy = SheetRecord(axes: v.axes.map(\.record), cells: records)
        let sheet = makeContactSheet(images, columnLabels: (0..<v.cols).map { v.axes[0].label($0) },
                                     rowLabels: v.axes.count > 1 ? (0..<v.rows).map { v.axes[1].label($0) } : [])
        do {
            let text = try Saver.text(rec)
            let path = try Saver.writeFresh(outputDir + "/" + Saver.baseName(rec) + "-xy", ".png") { try PNG.write(sheet, text: text, to: $0) }
            message = "saved " + (path as NSString).lastPathComponent
            logLine("saved xy \(path)")
        } catch {
            message = "not saved: \(error)"
        }
    }

    /// Keys while the view is open; true when consumed.
    func xyChar(_ c: UInt32) -> Bool {
        switch c {
        case 0x0D, 0x0A: adoptXY()
        case 0x1B: closeXY()
        case 0x73: saveXY()  // s
        case 0x71, 0x6F, 0x79: return false  // q quits; o and y change the colour and symbol modes here too
        default: break
        }
        return true
    }

    func xyKey(_ code: Int32) {
        guard var v = xy else { return }
        let fit = v.shown(width: painter.width, height: painter.height)
        let page = (cols: fit.cols, rows: fit.rows)
        switch code {
        case KEY_LEFT: v.move(dx: -1, dy: 0, fit: page)
        case KEY_RIGHT: v.move(dx: 1, dy: 0, fit: page)
        case KEY_UP: v.move(dx: 0, dy: -1, fit: page)
        case KEY_DOWN: v.move(dx: 0, dy: 1, fit: page)
        case KEY_PPAGE: v.move(dx: 0, dy: -fit.rows, fit: page)
        case KEY_NPAGE: v.move(dx: 0, dy: fit.rows, fit: page)
        case KEY_HOME: v.move(dx: -v.cols, dy: -v.rows, fit: page)
        case KEY_END: v.move(dx: v.cols, dy: v.rows, fit: page)
        case KEY_ENTER: return adoptXY()
        default: return
        }
        xy = v
        logLine("xy select \(v.selected + 1) \(v.label(v.selected))")
    }

    /// Column headers above the tiles, row headers left of them; on a sheet larger than the screen, the window of
    /// cells around the cursor and a line that says which part it is.
    func drawXY(_ v: XYView, _ w: Int, _ h: Int) {
        let fit = v.shown(width: w, height: h)
        var v = v
        v.follow((fit.cols, fit.rows))  // a resize can leave the cursor outside the old window
        if v.left0 != xy?.left0 || v.top0 != xy?.top0 { xy = v }
        let title = "X/Y \(v.done)/\(v.cells.count) cells to the last scale: Enter adopts, s saves, Esc returns"
        painter.text(1, 0, title, attr: CW_A_BOLD, maxWidth: w)
        if let s = v.window((fit.cols, fit.rows)) { painter.text(2, 0, s, attr: CW_A_DIM, maxWidth: w) }
        let L = VariationLayout(width: w, height: h, cols: fit.cols, rows: fit.rows, count: fit.cols * fit.rows, left: fit.left, top: 4)
        for (k, t) in L.tiles.enumerated() {
            let cx = v.left0 + k % fit.cols, cy = v.top0 + k / fit.cols, i = cy * v.cols + cx
            if k < fit.cols { painter.text(3, t.label.x, v.axes[0].label(cx), attr: CW_A_BOLD, maxWidth: t.label.width) }
            if k % fit.cols == 0, v.axes.count > 1 {
                painter.text(t.canvas.y + t.canvas.rows / 2, 0, v.axes[1].label(cy), attr: CW_A_BOLD, maxWidth: fit.left - 1)
            }
            // A running cell shows its latest scale and how far it is; one not started yet says so.
            let step = v.images[i] == nil ? v.progress[i] : nil
            let label = v.label(i) + (step.map { " \($0.done)/\($0.total)" } ?? "")
            let key = v.images[i] != nil ? "xy\(epoch):\(i)" : "xy\(epoch):\(i):\(step?.done ?? 0)"
            drawTile(t, label: label, chosen: cx == v.x && cy == v.y, image: v.images[i] ?? v.previews[i], key: key,
                     waiting: step == nil ? "queued" : "running…")
        }
    }
}
