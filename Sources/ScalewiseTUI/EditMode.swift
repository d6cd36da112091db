import CNCursesW
import Foundation
import ScalewiseEngine

/// Edit mode: an image loaded for FlexVAR editing. While `running` is false the user picks what to
/// regenerate; once true, lane 0's session is the edit and the usual stepping keys drive it.
struct EditState {
    var path: String
    var image: RGBImage
    var selection: EditSelection
    /// Steps shaped like the image (a 2:1 image edits on 2:1 token maps), as many as the lane's schedule.
    var schedule: [ScaleShape]
    var running = false

    var name: String { (path as NSString).lastPathComponent }
}

extension App {
    /// What lane 0's session edits, once the edit runs.
    var editJob: EditJob? {
        guard let e = edit, e.running else { return nil }
        let label = e.selection.label + ", source " + e.name
        return EditJob(image: e.image, plan: e.selection.plan(width: e.image.width, height: e.image.height), label: label)
    }

    /// The steps lane `l` runs (an extend keeps the image's scale and adds the new half).
    func laneShapes(_ l: Int) -> [ScaleShape] {
        guard l == 0, let e = edit, e.running else { return lanes[l].schedule }
        let plan = e.selection.plan(width: e.image.width, height: e.image.height)
        return (try? lanes[0].generator.editSteps(plan: plan, schedule: e.schedule, width: e.image.width,
                                                   height: e.image.height, allowLarge: true)) ?? e.schedule
    }

    /// `e`: asks for the PNG to edit, offering the last one saved or opened.
    func editPrompt() {
        let g = lanes[0].generator
        guard g.capabilities.canEdit else {
            message = "edit needs a FlexVAR model, not \(g.family) (M picks another)"
            return
        }
        overlay = .path(line: LineEdit(lastPNG ?? edit?.path ?? "", limit: 1000), purpose: .edit)
    }

    /// Loads `path` and starts picking the region to regenerate.
    func openEdit(_ path: String) {
        let g = lanes[0].generator
        guard g.capabilities.canEdit else {
            message = "edit needs a FlexVAR model, not \(g.family)"
            return
        }
        let p = path.hasPrefix("~/") ? NSHomeDirectory() + path.dropFirst(1) : path
        let image: RGBImage, text: [String: String]
        do {
            (image, text) = try PNG.read(p)
        } catch {
            message = "error: \(error)"
            return
        }
        if lanes.count > 1 { lanes.removeLast() }
        // A PNG of ours names its class: editing it keeps that class (the prompt the image was made with).
        if let json = text["scalewise"], let rec = try? GenerationRecord.parse(json),
           let c = g.classNames.firstIndex(of: rec.className) {
            lanes[0].classIndex = c
        }
        let schedule = EditPlan.schedule(lanes[0].schedule, width: image.width, height: image.height)
        let last = schedule.last ?? ScaleShape(1, 1)
        let sizes = schedule.map { max($0.h, $0.w) }
        var sel = EditSelection(cols: last.w, rows: last.h, sizes: sizes)
        if let old = edit?.selection, old.cols == sel.cols, old.rows == sel.rows { sel = old }
        edit = EditState(path: p, image: image, selection: sel, schedule: schedule)
        lastPNG = p
        message = "editing \((p as NSString).lastPathComponent) (\(image.width)×\(image.height)): pick the region, Enter runs"
        reconfigure(advanceTo: 0)
    }

    /// After the steps knob changed lane 0's schedule: the loaded edit takes the new steps (its session and the
    /// scales panel count them), keeping the picked region and mode where the grid is the same.
    func refitEditSchedule() {
        guard var e = edit else { return }
        e.schedule = EditPlan.schedule(lanes[0].schedule, width: e.image.width, height: e.image.height)
        let last = e.schedule.last ?? ScaleShape(1, 1)
        var sel = EditSelection(cols: last.w, rows: last.h, sizes: e.schedule.map { max($0.h, $0.w) })
        let old = e.selection
        if old.cols == sel.cols && old.rows == sel.rows {
            (sel.x0, sel.y0, sel.x1, sel.y1) = (old.x0, old.y0, old.x1, old.y1)
            (sel.movingTopLeft, sel.mode) = (old.movingTopLeft, old.mode)
            if sel.sizes.contains(old.refineSize) { sel.refineSize = old.refineSize }
        }
        e.selection = sel
        edit = e
    }

    /// Runs the picked edit through the usual stepping UI: `count` scales now (Enter: all, n: one).
    func runEdit(scales count: Int) {
        guard let e = edit else { return }
        // An extend too large for the model is refused here, as `scalewise edit` refuses it (never shrunk to fit).
        do {
            _ = try lanes[0].generator.editSteps(plan: e.selection.plan(width: e.image.width, height: e.image.height),
                                                 schedule: e.schedule, width: e.image.width, height: e.image.height,
                                                 allowLarge: allowLarge)
        } catch {
            message = "\(error)"
            return
        }
        edit!.running = true
        message = "edit: " + edit!.selection.label
        reconfigure(advanceTo: min(count, lanes[0].total))
    }

    /// Esc after an edit ran: back to the mask (the image stays); Esc while picking leaves edit mode.
    func editBack() {
        guard let e = edit else { return }
        if e.running {
            edit!.running = false
            message = "edit: pick the region again, Esc leaves edit mode"
        } else {
            edit = nil
            message = "edit mode off"
        }
        reconfigure(advanceTo: 0)
    }

    /// Keys while picking; false for those that work as everywhere (quit, help, colours, model, edit prompt).
    func editPickChar(_ c: UInt32) -> Bool {
        switch c {
        case 0x0D, 0x0A, 0x20: runEdit(scales: Int.max); return true
        case 0x1B: editBack(); return true
        case 0x09: edit!.selection.movingTopLeft.toggle(); return true
        case 0x0C: return false
        default: break
        }
        guard let s = Unicode.Scalar(c) else { return true }
        let moves: [Character: (Int, Int)] = ["h": (-1, 0), "l": (1, 0), "k": (0, -1), "j": (0, 1),
                                              "H": (-4, 0), "L": (4, 0), "K": (0, -4), "J": (0, 4)]
        let ch = Character(s)
        if let (dx, dy) = moves[ch] { edit!.selection.move(dx: dx, dy: dy); return true }
        switch ch {
        case "1", "2", "3", "4", "5": edit!.selection.preset(Int(String(ch))!)
        case "x": edit!.selection.nextMode()
        case "+": edit!.selection.adjustRefine(by: 1)
        case "-": edit!.selection.adjustRefine(by: -1)
        case "n": runEdit(scales: 1)
        case "q", "?", "o", "y", "g", "e", "M", "/": return false
        case "s", "S": message = "nothing to save yet: Enter runs the edit"
        default: break
        }
        return true
    }

    func editPickKey(_ code: Int32) -> Bool {
        switch code {
        case KEY_LEFT: edit!.selection.move(dx: -1, dy: 0)
        case KEY_RIGHT: edit!.selection.move(dx: 1, dy: 0)
        case KEY_UP: edit!.selection.move(dx: 0, dy: -1)
        case KEY_DOWN: edit!.selection.move(dx: 0, dy: 1)
        case KEY_BTAB: edit!.selection.movingTopLeft.toggle()
        case KEY_ENTER: runEdit(scales: Int.max)
        default: return false
        }
        return true
    }

    /// Lane 0 while picking: the image with the region to regenerate tinted, and the keys under it.
    func drawEditPick(_ e: EditState, _ L: Layout) {
        let label = L.labels[0], canvas = L.canvases[0], strip = L.strips[0], sel = e.selection
        // The file is in the title; the label must fit a narrow lane.
        var t = "\(lanes[0].generator.classNames[lanes[0].classIndex]) · \(sel.label)"
        if sel.mode == .inpaint { t += " · moving corner " + (sel.movingTopLeft ? "↖" : "↘") }
        painter.text(label.y, label.x, t, attr: CW_A_BOLD, maxWidth: label.width)
        let key = "e:\(e.path):\(sel.label):\(canvas.cols)x\(canvas.rows)"
        let box = canvas.fitted(width: e.image.width, height: e.image.height)
        painter.cells(cells(key, sel.preview(e.image), box.cols, box.rows), y: box.y, x: box.x, cols: box.cols)
        let hints = sel.mode == .inpaint
            ? ["arrows/hjkl move corner · HJKL by 4 · Tab other corner", "1-5 halves/centre · x mode"]
            : ["x next mode: in-paint, extend ←→↑↓, refine", sel.mode == .refine ? "+ - refine size" : ""]
        painter.text(strip.y, strip.x, hints[0], attr: CW_A_DIM, maxWidth: strip.width)
        painter.text(strip.y + strip.rows, strip.x, hints[1] + (hints[1].isEmpty ? "" : " · ") + "Enter run · Esc leave",
                     attr: CW_A_DIM, maxWidth: strip.width)
    }
}
