import CNCursesW
import Foundation
import ScalewiseEngine

/// Every key, for the help overlay and the man page (keep scalewise.1 in step).
let keyHelp: [(String, String)] = [
    ("→ n", "run / show one more scale"), ("← p", "step back one scale (no recompute)"),
    ("Enter Space", "run to the last scale (new image when done)"), ("Esc", "cancel the run (between scales)"),
    ("r", "re-roll from the shown scale, new seed"), ("R", "new random seed (re-runs the scales shown)"),
    ("↑ ↓ PgUp PgDn", "choose the class"), ("/", "search classes (Enter keeps, Esc clears)"),
    ("Tab S-Tab", "focus the next / previous knob"), ("+ -", "adjust the focused knob"),
    ("=", "type a value for the focused knob (prompts: Ctrl-U clears, Ctrl-W, ←→)"), ("c k t #", "type cfg / top-k / top-p / seed"),
    ("f", "seed policy: fixed, +1, random"), ("m", "more-smooth on/off"),
    ("s", "save the PNG (with metadata)"), ("S", "save the strip PNG + animated PNG"),
    ("d", "heat map: changed cells, p(chosen token), entropy, off"),
    ("o", "next colour mode"), ("y", "next symbol mode"), ("g", "next picture mode: kitty, sixel, iTerm2, blocks"),
    ("C", "copy the scalewise generate line of this image (OSC 52)"),
    ("b", "browse the history (newest first, Enter re-opens)"),
    ("history", "every finished image; the newest \(History.limit) kept in $XDG_STATE_HOME/scalewise/history"), ("O", "open a PNG's recorded parameters"),
    ("V", "variations: re-roll from the shown scale for N seeds"),
    ("variations", "←→↑↓ pick, Enter keeps, Esc returns, + - count, r new seeds"),
    ("X", "X/Y view: one or two axes (cfg=1,2,4 seed=1,2), every cell run to the last scale"),
    ("X/Y view", "←→↑↓ pick (a large sheet scrolls), Enter adopts the cell's settings, s saves the sheet PNG, Esc returns"),
    ("M", "pick a model (↑↓ PgUp PgDn Home End, Enter, Esc)"), ("v", "compare with a second model / close it"),
    ("e", "edit a PNG (FlexVAR): in-paint, extend, refine"),
    ("edit ←→↑↓ hjkl", "move the mask's corner (HJKL: 4 cells; Tab: other corner)"),
    ("edit 1-5 x + -", "left/right/top/bottom half, centre; next mode; refine size"),
    ("edit Enter Esc", "run the edit, then step as usual; Esc: back to the mask / leave"),
    ("click", "class list, filmstrip"), ("Ctrl-L", "redraw"), ("?", "this help"), ("q", "quit"),
]

extension App {
    func handleChar(_ c: UInt32) {
        if handleOverlayChar(c) { return }
        if variations != nil, variationChar(c) { return }
        if xy != nil, xyChar(c) { return }
        if searching { return searchChar(c) }
        if let e = edit, !e.running, editPickChar(c) { return }
        switch c {
        case 0x0D, 0x0A, 0x20: runToEnd()
        case 0x1B: if edit != nil && !busy { editBack() } else { cancel() }
        case 0x0C: clearok(term.win, true); pixels.invalidate()
        case 0x09: moveKnob(1)
        default: break
        }
        guard let s = Unicode.Scalar(c) else { return }
        switch s {
        case "q": quitting = true
        case "n": stepForward()
        case "p": stepBack()
        case "r": reroll()
        case "R":
            options.seed = randomSeed()
            message = "seed \(options.seed)"
            optionsChanged()
        case "/": searching = true; query = ""; refilter(keepSelection: true)
        case "+": adjust(knob, by: 1)
        case "-": adjust(knob, by: -1)
        case "=": overlay = .prompt(knob: knob, line: LineEdit(limit: 20))
        case "c": knob = .cfg; overlay = .prompt(knob: .cfg, line: LineEdit(limit: 20))
        case "k": knob = .topK; overlay = .prompt(knob: .topK, line: LineEdit(limit: 20))
        case "t": knob = .topP; overlay = .prompt(knob: .topP, line: LineEdit(limit: 20))
        case "#": knob = .seed; overlay = .prompt(knob: .seed, line: LineEdit(limit: 20))
        case "f": knob = .policy; adjust(.policy, by: 1)
        case "m": knob = .smooth; adjust(.smooth, by: 1)
        case "s": save(strip: false)
        case "S": save(strip: true)
        case "o": cycleColor()
        case "y": cycleSymbols()
        case "g": cycleGraphics()
        case "d": cycleDecision()
        case "C": copyCommandLine()
        case "?": overlay = .help(top: 0)
        case "M": openModels(lane: 0)
        case "e": editPrompt()
        case "b": openHistoryBrowser()
        case "O": overlay = .path(line: LineEdit(lastPNG ?? "", limit: 1000), purpose: .record)
        case "V": openVariations()
        case "X": xyPrompt()
        case "v":
            if edit != nil {
                message = "no compare mode while editing (Esc leaves edit mode)"
            } else if lanes.count > 1 {
                lanes.removeLast()
                message = "compare off"
                reconfigure(advanceTo: 0)
            } else {
                openModels(lane: 1)
            }
        default: break
        }
    }

    func handleKey(code: Int32) {
        if case .models(let entries, let sel, let lane) = overlay {
            switch code {
            case KEY_UP: overlay = .models(entries: entries, selected: max(0, sel - 1), lane: lane)
            case KEY_DOWN: overlay = .models(entries: entries, selected: min(entries.count - 1, sel + 1), lane: lane)
            case KEY_PPAGE: overlay = .models(entries: entries, selected: max(0, sel - max(1, painter.height - 6)), lane: lane)
            case KEY_NPAGE: overlay = .models(entries: entries, selected: min(entries.count - 1, sel + max(1, painter.height - 6)), lane: lane)
            case KEY_HOME: overlay = .models(entries: entries, selected: 0, lane: lane)
            case KEY_END: overlay = .models(entries: entries, selected: entries.count - 1, lane: lane)
            case KEY_ENTER: chooseModel(entries.map(\.path), sel, lane)
            default: break
            }
            return
        }
        if case .prompt(let k, var line) = overlay, code != KEY_RESIZE {
            if code == KEY_ENTER { _ = handleOverlayChar(0x0D) } else if line.key(code) { overlay = .prompt(knob: k, line: line) }
            return
        }
        if case .path(var line, let purpose) = overlay, code != KEY_RESIZE {
            if code == KEY_ENTER { _ = handleOverlayChar(0x0D) } else if line.key(code) { overlay = .path(line: line, purpose: purpose) }
            return
        }
        if case .note = overlay, code != KEY_RESIZE {
            if code == KEY_ENTER { overlay = nil }
            return
        }
        if case .history(let entries, let sel) = overlay, code != KEY_RESIZE {
            return historyKey(code, entries, sel)
        }
        if variations != nil, code != KEY_RESIZE, code != KEY_MOUSE { return variationKey(code) }
        if xy != nil, code != KEY_RESIZE, code != KEY_MOUSE { return xyKey(code) }
        if case .help(let top) = overlay, code != KEY_RESIZE {
            // Arrows and pages scroll a list longer than the screen; other keys do nothing (Esc, q, ? close it).
            // The box shows height − 6 rows (Screen.drawOverlay): a page is that, and the last page ends the list.
            let page = max(1, painter.height - 6), last = max(0, keyHelp.count - page)
            switch code {
            case KEY_DOWN: overlay = .help(top: min(last, top + 1))
            case KEY_UP: overlay = .help(top: max(0, top - 1))
            case KEY_NPAGE: overlay = .help(top: min(last, top + page))
            case KEY_PPAGE: overlay = .help(top: max(0, top - page))
            case KEY_HOME: overlay = .help(top: 0)
            case KEY_END: overlay = .help(top: last)
            default: break
            }
            return
        }
        if let e = edit, !e.running, editPickKey(code) { return }
        switch code {
        case KEY_RIGHT: stepForward()
        case KEY_LEFT: stepBack()
        case KEY_UP: moveClass(-1)
        case KEY_DOWN: moveClass(1)
        case KEY_PPAGE: moveClass(-max(1, painter.height - 4))
        case KEY_NPAGE: moveClass(max(1, painter.height - 4))
        case KEY_HOME: moveClass(-filtered.count)
        case KEY_END: moveClass(filtered.count)
        case KEY_BTAB: moveKnob(-1)
        case KEY_ENTER: runToEnd()
        case KEY_BACKSPACE where searching: searchChar(0x7F)
        case KEY_MOUSE: mouse()
        case KEY_RESIZE: cellCache = [:]; pixels.invalidate()
        default: break
        }
    }

    /// Keys while an overlay is open; true when consumed.
    func handleOverlayChar(_ c: UInt32) -> Bool {
        switch overlay {
        case nil: return false
        case .help:
            if c == 0x1B || c == 0x71 || c == 0x3F { overlay = nil }  // Esc, q, ?: as the picker and the history
            return true
        case .models(let entries, let sel, let lane):
            if c == 0x0D || c == 0x0A { chooseModel(entries.map(\.path), sel, lane) } else if c == 0x1B || c == 0x71 { overlay = nil }
            return true
        case .prompt(let k, var line):
            switch c {
            case 0x1B: overlay = nil
            case 0x0D, 0x0A:
                overlay = nil
                setKnob(k, line.text)
            default:
                if line.char(c, accepts: { "0123456789.-".unicodeScalars.contains($0) }) { overlay = .prompt(knob: k, line: line) }
            }
            return true
        case .path(var line, let purpose):
            switch c {
            case 0x1B: overlay = nil
            case 0x0D, 0x0A:
                overlay = nil
                switch purpose {
                case .edit: openEdit(line.text)
                case .record: openPNG(line.text)
                case .xy: openXY(line.text)
                }
            default:
                if line.char(c, accepts: { _ in true }) { overlay = .path(line: line, purpose: purpose) }
            }
            return true
        case .note:
            if c == 0x1B || c == 0x71 || c == 0x0D || c == 0x0A { overlay = nil }  // Esc, q, Enter
            return true
        case .history(let entries, let sel):
            switch c {
            case 0x0D, 0x0A: openHistoryEntry(entries, sel)
            case 0x1B, 0x71, 0x62: overlay = nil  // Esc, q, b
            default: break
            }
            return true
        }
    }

    private func searchChar(_ c: UInt32) {
        switch c {
        case 0x0D, 0x0A: searching = false
        case 0x1B:
            searching = false
            query = ""
            refilter(keepSelection: true)
        case 0x7F, 0x08:
            query = String(query.dropLast())
            refilter(keepSelection: false)
        default:
            guard let s = Unicode.Scalar(c), s.value >= 0x20, s.value != 0x7F, query.count < 40 else { return }
            query.unicodeScalars.append(s)
            refilter(keepSelection: false)
        }
    }

    func moveClass(_ d: Int) {
        guard !filtered.isEmpty else { return }
        let pos = filtered.firstIndex(of: lanes[0].classIndex) ?? 0
        selectClass(filtered[max(0, min(filtered.count - 1, pos + d))])
    }

    func moveKnob(_ d: Int) {
        var all = Knob.allCases
        if lanes[0].generator.schedules.count < 2 { all.removeAll { $0 == .steps } }
        let i = all.firstIndex(of: knob) ?? 0
        knob = all[(i + d + all.count) % all.count]
    }

    func adjust(_ k: Knob, by d: Int) {
        var o = options
        switch k {
        case .cfg: o.cfg = min(SamplingRules.cfg.upperBound, max(0, o.cfg + 0.5 * Float(d)))
        case .topK: o.topK = min(SamplingRules.topK.upperBound, max(0, o.topK + ((d > 0 ? o.topK >= 100 : o.topK > 100) ? 100 : 10) * d))
        case .topP: o.topP = max(0, min(1, ((o.topP + 0.05 * Float(d)) * 100).rounded() / 100))
        case .seed: o.seed = d > 0 ? o.seed &+ 1 : (o.seed == 0 ? 0 : o.seed - 1)
        case .smooth: o.moreSmooth.toggle()
        case .steps:
            let all = lanes[0].generator.schedules.sorted { $0.count < $1.count }
            guard all.count > 1 else { message = "\(lanes[0].generator.name) has a fixed \(lanes[0].total)-step schedule"; return }
            let i = all.firstIndex(of: lanes[0].schedule) ?? 0
            lanes[0].schedule = all[max(0, min(all.count - 1, i + d))]
            refitEditSchedule()
            message = "steps \(lanes[0].total)"
            return reconfigure(advanceTo: 0)
        case .policy:
            let all = SeedPolicy.allCases
            seedPolicy = all[(all.firstIndex(of: seedPolicy)! + (d > 0 ? 1 : all.count - 1)) % all.count]
            message = "seed policy \(seedPolicy.rawValue)"
            return
        }
        guard o != options else { return }
        options = o
        pinned.insert(k)
        optionsChanged()
    }

    /// Applies a typed value; a bad one leaves the knob alone and says why.
    func setKnob(_ k: Knob, _ text: String) {
        var o = options
        switch k {
        case .cfg:
            guard let v = Float(text), v.isFinite, v >= 0, v <= 100 else { message = "cfg must be a number in 0…100"; return }
            message = ""  // a good value clears an earlier complaint
            o.cfg = v
        case .topK:
            guard let v = Int(text), SamplingRules.topK.contains(v) else {
                message = "top-k must be a whole number in 0…\(SamplingRules.topK.upperBound) (0 = off)"; return
            }
            message = ""
            o.topK = v
        case .topP:
            guard let v = Float(text), (0...1).contains(v) else { message = "top-p must be in 0…1 (0 = off)"; return }
            message = ""
            o.topP = v
        case .seed:
            guard let v = UInt64(text) else { message = "seed must be a whole number ≥ 0"; return }
            message = ""
            o.seed = v
        case .policy, .smooth, .steps: return adjust(k, by: 1)
        }
        guard o != options else { return }
        options = o
        pinned.insert(k)
        optionsChanged()
    }

    func cycleColor() {
        let all = ColorMode.allCases.filter { term.supports($0) }
        let i = all.firstIndex(of: painter.mode) ?? 0
        painter.setMode(all[(i + 1) % all.count])
        cellCache = [:]
        message = "colour: \(painter.mode.label)"
    }

    func cycleSymbols() {
        var all: [SymbolMode] = term.utf8 ? [.half, .quad, .sextant, .ascii] : [.ascii]
        if !term.sextantsOK { all.removeAll { $0 == .sextant } }
        let i = all.firstIndex(of: symbols) ?? 0
        symbols = all[(i + 1) % all.count]
        cellCache = [:]
        message = "symbols: \(symbols.rawValue)"
    }

    func cycleGraphics() {
        let all = report.available(including: pixels.mode)
        let i = all.firstIndex(of: pixels.mode) ?? 0
        pixels.setMode(all[(i + 1) % all.count], out: 1)
        clearok(term.win, true)  // old sixel/iTerm2 pixels go with a full repaint
        cellCache = [:]
        message = "picture: \(pixels.mode.label)"
    }

    func openModels(lane: Int) {
        let entries = ModelLoader.catalog()
        guard !entries.isEmpty else { message = "no models in \(ModelLoader.searchPaths.joined(separator: ":"))"; return }
        let current = entries.firstIndex { $0.path == pickedModel } ?? entries.firstIndex { $0.name == lanes[0].generator.name } ?? 0
        overlay = .models(entries: entries, selected: lane == 1 ? (current + 1) % entries.count : current, lane: lane)
    }

    private func chooseModel(_ paths: [String], _ sel: Int, _ lane: Int) {
        overlay = nil
        if lane == 0 { loadingModel = paths[sel] }
        message = "loading \((paths[sel] as NSString).lastPathComponent)…"
        worker.submit(.load(path: paths[sel], lane: lane, precision: lanes[0].generator.precision), epoch: epoch)
    }

    private func mouse() {
        var ev = MEVENT()
        guard getmouse(&ev) == OK else { return }
        let y = Int(ev.y), x = Int(ev.x)
        let layout = Layout(width: painter.width, height: painter.height, lanes: lanes.count, total: lanes.map(\.total))
        if cw_is_wheel_up(ev.bstate) != 0 { return moveClass(-3) }
        if cw_is_wheel_down(ev.bstate) != 0 { return moveClass(3) }
        guard cw_is_press(ev.bstate) != 0 else { return }
        if x < layout.listWidth, y >= layout.listTop, y < layout.listTop + layout.listRows {
            let i = listTop + (y - layout.listTop)
            if i < filtered.count { selectClass(filtered[i]) }
            return
        }
        for (l, strip) in layout.strips.enumerated() where y >= strip.y && y < strip.y + strip.rows + 1 {
            let k = (x - strip.x) / (strip.thumb + 1)
            if x >= strip.x, k < lanes[l].frames.count { viewGoal = k + 1 }
        }
    }
}
