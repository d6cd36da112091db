import CNCursesW
import Foundation
import ScalewiseEngine

/// One model's column on screen: its generator, chosen class and the frames received so far.
struct Lane {
    var generator: Generator
    var classIndex: Int
    var frames: [ScaleFrame] = []
    /// The schedule in use; free-schedule models (FlexVAR) offer several, the `steps` knob picks one.
    var schedule: [ScaleShape]

    init(generator: Generator, classIndex: Int) {
        self.generator = generator
        self.classIndex = classIndex
        let all = generator.schedules
        schedule = all.first { $0 == generator.defaultSchedule } ?? all[0]
    }

    var total: Int { schedule.count }
    /// What the session is asked for: nil keeps a fixed model's own schedule.
    var requestedSchedule: [ScaleShape]? { generator.schedules.count > 1 ? schedule : nil }
}

enum Knob: CaseIterable { case cfg, topK, topP, steps, seed, policy, smooth }

enum Overlay {
    /// The key list, scrolled to `top`.
    case help(top: Int)
    /// The model picker: the generators of the model folders, as `scalewise models` lists them.
    case models(entries: [ModelEntry], selected: Int, lane: Int)
    case prompt(knob: Knob, line: LineEdit)
    /// A file prompt: edit mode's image, or a PNG whose record to open (`O`).
    case path(line: LineEdit, purpose: PathPurpose)
    /// The history browser, newest first.
    case history(entries: [HistoryEntry], selected: Int)
    /// Text too long for the status line (the copied command line), wrapped in a box until Esc, q or Enter.
    case note(title: String, text: String)
}

enum PathPurpose { case edit, record, xy }

/// The UI state and the loop. All curses calls happen on this (the main) thread.
final class App {
    let term: Terminal
    let painter: Painter
    /// Pixel pictures (kitty, sixel, iTerm2); inactive in block mode.
    let pixels: PixelLayer
    let report: TerminalReport
    let graphicsReason: String
    let worker: Worker
    /// Where finished images are logged (nil: `--no-history`); the worker writes, the browser (`b`) reads.
    let history: History?
    var lanes: [Lane]
    var options: SamplingOptions
    /// The guidance rule the command line named (`--cfg-mode`): in compare mode both models use it.
    var explicitRule: CFGMode?
    /// Knobs the user set (command line or keys): compare mode applies them to both models.
    var pinned: Set<Knob> = []
    var seedPolicy: SeedPolicy
    var symbols: SymbolMode
    let outputDir: String
    let wantTruecolor: Bool

    // Class list.
    var query = ""
    var searching = false
    var filtered: [Int] = []
    var listTop = 0

    // Progress: `viewGoal` is the scale count the user asked to see; the canvas shows
    // min(viewGoal, frames received).
    var viewGoal = 0
    var epoch = 0
    var runCompleted = false
    var knob: Knob = .cfg
    var overlay: Overlay?
    /// The status bar's message; it expires `messageSeconds` after it was set (see `expireMessage`).
    var message = "" { didSet { messageNs = DispatchTime.now().uptimeNanoseconds } }
    var messageNs: UInt64 = 0
    static let messageSeconds: UInt64 = 5
    var quitting = false
    var exitCode: Int32 = 0
    /// Edit mode (FlexVAR): the image and the mask being picked or run; nil when generating.
    var edit: EditState?
    /// The last PNG saved or opened for editing: what the edit prompt offers first.
    var lastPNG: String?

    // Latency log: key press → scale drawn.
    let log: UnsafeMutablePointer<FILE>?
    var keyNs: UInt64 = 0
    var lastDrawNs: UInt64 = 0
    /// The status line's drawing mode as last logged (`mode …` lines: the protocol and zoom a person sees).
    var loggedMode = ""
    var undrawn: [(lane: Int, index: Int, frame: ScaleFrame)] = []
    var cellCache: [String: [Cell]] = [:]
    /// The heat map laid over the pictures (`d`), and the heat-map pictures made so far.
    var decision: DecisionView = .off
    var heatCache: [String: RGBImage] = [:]
    /// How the command line named the first model, the file the model picker loaded instead (and the one it is
    /// loading), and whether the image was re-rolled: what the copied `scalewise generate` line needs.
    let startModelArguments: [String]
    var pickedModel: String?
    var loadingModel: String?
    var rerolled = false
    /// A record waiting for its model to load before it is opened, and how to name it.
    var pendingRecord: (record: GenerationRecord, label: String)?
    /// The variations view (`V`), and how many candidates it rolls.
    var variations: Variations?
    var variationCount = 4
    /// The X/Y view (`X`).
    var xy: XYView?
    /// `--allow-large`: X/Y sheets beyond the usual cap, extends beyond twice the learned size.
    let allowLarge: Bool
    /// The history browser's picture of the selected entry (file name, image; nil when it would not read).
    var historyThumb: (file: String, image: RGBImage?)?

    init(term: Terminal, generator: Generator, compare: Generator?, options o: TUIOptions, wantTruecolor: Bool,
         logPath: String?, report: TerminalReport) {
        self.term = term
        self.report = report
        history = o.history ? History.fromEnvironment() : nil
        allowLarge = o.allowLarge
        worker = Worker(history: history, autoThreads: o.autoThreads)
        let (gm, why) = report.mode(for: o.graphics)
        graphicsReason = why
        pixels = PixelLayer(mode: gm, cellW: report.cellWidth, cellH: report.cellHeight, tmux: report.insideTmux)
        pixels.sixelColors = report.sixelColors
        self.wantTruecolor = wantTruecolor
        let mode: ColorMode
        switch o.color {
        case .auto: mode = term.autoMode(wantTruecolor: wantTruecolor)
        case .truecolor: mode = term.supports(.truecolor) ? .truecolor : term.autoMode(wantTruecolor: false)
        case .c256: mode = term.supports(.c256) ? .c256 : term.autoMode(wantTruecolor: false)
        case .c16: mode = term.supports(.c16) ? .c16 : term.autoMode(wantTruecolor: false)
        case .c8: mode = term.supports(.c8) ? .c8 : .mono
        case .mono: mode = .mono
        }
        painter = Painter(term: term, mode: mode)
        switch o.symbols {
        case .auto, .half: symbols = .half
        case .quad: symbols = .quad
        case .sextant: symbols = term.sextantsOK ? .sextant : .quad
        case .ascii: symbols = .ascii
        }
        if !term.utf8 { symbols = .ascii }
        var opts = generator.defaults
        if let c = o.cfg { opts.cfg = c }
        if let m = o.cfgMode { opts.cfgMode = m }
        explicitRule = o.cfgMode
        pinned = Set([o.cfg.map { _ in Knob.cfg }, o.topK.map { _ in .topK }, o.topP.map { _ in .topP },
                      o.moreSmooth ? .smooth : nil].compactMap { $0 })
        if let k = o.topK { opts.topK = k }
        if let p = o.topP { opts.topP = p }
        if o.moreSmooth { opts.moreSmooth = true }
        opts.seed = o.seed ?? 0
        options = opts
        seedPolicy = o.seedPolicy
        outputDir = o.outputDir
        startModelArguments = o.modelArguments
        let cls = o.classLabel.flatMap { try? generator.resolveClass($0) } ?? 0
        lanes = [Lane(generator: generator, classIndex: cls)]
        if let g2 = compare { lanes.append(Lane(generator: g2, classIndex: App.matchClass(cls, from: generator, in: g2))) }
        log = logPath.flatMap { SafeOpen.openAppend($0) }
        if o.color == .truecolor && mode != .truecolor { message = "truecolor needs COLORTERM and a \(term.termName)-direct terminfo" }
        if o.symbols == .sextant && symbols != .sextant { message = "sextants unavailable here (glyph width); using quadrants" }
        refilter(keepSelection: true)
        logLine("start term=\(term.termName) colors=\(term.colors) mode=\(mode.rawValue) symbols=\(symbols.rawValue) model=\(generator.name)")
        logLine("graphics \(gm.rawValue) (\(why)); cell \(report.cellWidth)x\(report.cellHeight) (\(report.cellSource)); probe \(String(format: "%.1f", report.elapsedMs)) ms")
        reconfigure(advanceTo: 0)
        if let p = o.editImage { openEdit(p) }
        // The command checked the record's hashes against the model it started on, or the user named the model.
        if let p = o.fromPNG { openPNG(p, modelChecked: true) }
    }

    deinit { if let f = log { fclose(f) } }

    /// Lane 1's class for lane 0's: same name, else same index, else 0.
    static func matchClass(_ i: Int, from a: Generator, in b: Generator) -> Int {
        if let j = b.classNames.firstIndex(of: a.classNames[i]) { return j }
        return i < b.classNames.count ? i : 0
    }

    func run() -> Int32 {
        draw()
        var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        while !quitting {
            // Keys, worker frames and signals all wake this poll; the timeout only drives the spinner.
            _ = poll(&fds, nfds_t(fds.count), worker.isBusy ? 120 : 1000)
            var sink = [UInt8](repeating: 0, count: 64)
            while read(wakeRead, &sink, 64) > 0 {}
            let sig = pendingSignal.exchange(0, ordering: .relaxed)
            if sig != 0 {
                worker.cancel()
                logLine("signal \(sig): quitting")
                exitCode = 128 + sig
                break
            }
            readKeys()
            for e in worker.drain() { handle(e) }
            draw()
        }
        worker.cancel()
        worker.waitIdle(timeout: 2)
        pixels.clearAll(out: 1)
        return exitCode
    }

    private func readKeys() {
        wtimeout(term.win, 0)
        var wch: wint_t = 0
        while !quitting {
            let r = wget_wch(term.win, &wch)
            if r == ERR { break }
            keyNs = DispatchTime.now().uptimeNanoseconds
            if log != nil { logLine("key \(r == KEY_CODE_YES ? "code" : "char") \(wch)") }
            if r != KEY_CODE_YES && wch == 0x1B && skipUnknownSequence() { continue }
            if r == KEY_CODE_YES { handleKey(code: Int32(wch)) } else { handleChar(UInt32(wch)) }
        }
    }

    /// After an Esc: a key sequence curses does not know (CSI `Esc [ … final`, SS3 `Esc O x`) arrives as Esc and
    /// letters; it is dropped whole, so that it neither closes a view (Esc) nor types its letters. True when dropped;
    /// a lone Esc, or Esc with another key (Alt), is left to be handled as before.
    private func skipUnknownSequence() -> Bool {
        var next: wint_t = 0
        let r = wget_wch(term.win, &next)
        if r == ERR { return false }
        guard r != KEY_CODE_YES, next == 0x5B || next == 0x4F else {
            if r == KEY_CODE_YES { ungetch(Int32(next)) } else { unget_wch(wchar_t(next)) }
            return false
        }
        // Esc then [ or O typed as keys (Esc, then O for "open") has nothing after it yet: a sequence arrives whole.
        let introducer = next
        guard wget_wch(term.win, &next) != ERR else {
            unget_wch(wchar_t(introducer))
            return false
        }
        var dropped = [introducer, next]
        // CSI: parameter and intermediate bytes up to a final byte in @…~; SS3: one byte.
        while dropped[0] == 0x5B, !(0x40...0x7E).contains(dropped.last!), dropped.count < 16, wget_wch(term.win, &next) != ERR {
            dropped.append(next)
        }
        logLine("key unknown sequence esc \(dropped.map(String.init).joined(separator: " "))")
        return true
    }

    // MARK: Worker events

    func handle(_ e: WorkerEvent) {
        switch e {
        case .frame(let l, let ep, let frame):
            guard ep == epoch, l < lanes.count else { return }
            let i = frame.result.index
            if i < lanes[l].frames.count { lanes[l].frames.removeSubrange(i...) }
            lanes[l].frames.append(frame)
            if let d = frame.decoded { logLine("final lane=\(l) model=\(lanes[l].generator.name) pixels \(Variations.fingerprint(d))") }
            undrawn.append((l, i, frame))
            if l == 0 && lanes[0].frames.count == lanes[0].total {
                runCompleted = true
                // A finished run makes an earlier "cancelled" or error stale.
                if message == "cancelled" || message.hasPrefix("error: ") { message = "" }
            }
        case .idle(let ep, let cancelled):
            if ep == epoch && cancelled { message = "cancelled" }
        case .failed(_, let msg):
            if let r = pendingRecord {
                // The record's model would not load: the current one and its knobs stay.
                pendingRecord = nil
                message = "\(r.label): cannot load its model \(r.record.model): \(msg)"
            } else {
                message = "error: \(msg)"
            }
            logLine("error \(msg)")
        case .saved(let paths, let strip):
            if !strip { lastPNG = paths.first }
            message = "saved " + paths.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")
            logLine("saved \(paths.joined(separator: " "))")
        case .loaded(let g, let lane):
            if lane == 0, let p = loadingModel { pickedModel = p }
            loaded(g, lane: lane)
            if lane == 0, let r = pendingRecord {
                pendingRecord = nil
                applyRecord(r.record, label: r.label)
            }
        case .history(let path, let error):
            if let p = path { logLine("history \(p)") }
            if let e = error {
                message = "history not saved: " + e
                logLine("history failed: \(e)")
            }
        case .variation(let ep, let i, let seed, let image):
            guard ep == epoch, var v = variations, i < v.images.count, v.seeds[i] == seed else { return }
            v.images[i] = image
            variations = v
            if !v.images.contains(where: { $0 == nil }) { message = "\(v.images.count) variations: Enter keeps the selected one" }
            logLine("variation \(i + 1) seed \(seed) pixels \(Variations.fingerprint(image))")
        case .xyCell(let ep, let i, let image, let record):
            xyCellDone(ep, i, image, record)
        case .xyStep(let ep, let i, let done, let total, let image):
            xyCellStep(ep, i, done, total, image)
        }
    }

    private func loaded(_ g: Generator, lane: Int) {
        if lane == 0 {
            let name = lanes[0].generator.classNames[lanes[0].classIndex]
            let cls = g.classNames.firstIndex(of: name) ?? 0
            lanes[0] = Lane(generator: g, classIndex: cls)
            let seed = options.seed
            options = g.defaults
            options.seed = seed
            query = ""
            refilter(keepSelection: true)
            if edit != nil && !g.capabilities.canEdit {
                edit = nil
                message = "left edit mode: edit needs a FlexVAR model, not \(g.family)"
                return reconfigure(advanceTo: 0)
            }
            refitEditSchedule()  // another FlexVAR model: its default schedule
        } else {
            let l = Lane(generator: g, classIndex: App.matchClass(lanes[0].classIndex, from: lanes[0].generator, in: g))
            if lanes.count > 1 { lanes[1] = l } else { lanes.append(l) }
        }
        message = "loaded \(g.name)"
        reconfigure(advanceTo: 0)
    }

    // MARK: Actions

    /// Current scale count shown for lane `l`.
    func shown(_ l: Int) -> Int { min(viewGoal, lanes[l].frames.count) }

    var busy: Bool { worker.isBusy }

    /// Stops the worker's job and starts a new epoch: results still in flight carry the old one and are dropped.
    func dropWork() {
        worker.cancel()
        epoch += 1
    }

    /// New sessions with the current class and options; re-runs up to `advanceTo` scales.
    /// `seeds`: per-scale seeds of a re-rolled image opened from its record.
    func reconfigure(advanceTo n: Int, seeds: [UInt64]? = nil) {
        dropWork()
        runCompleted = false
        rerolled = seeds != nil
        variations = nil
        xy = nil
        for i in lanes.indices { lanes[i].frames = [] }
        cellCache = [:]
        heatCache = [:]
        let specs = lanes.enumerated().map { l, lane in
            LaneSpec(generator: lane.generator, classIndex: lane.classIndex, options: laneOptions(l),
                     schedule: l == 0 && editJob != nil ? edit?.schedule : lane.requestedSchedule,
                     edit: l == 0 ? editJob : nil, scaleSeeds: l == 0 ? seeds : nil,
                     modelPath: l == 0 ? modelFile : nil)
        }
        worker.submit(.configure(specs), epoch: epoch)
        if n > 0 { worker.submit(.advance(to: n), epoch: epoch) }
        viewGoal = n
    }

    /// A changed knob re-runs the scales already seen (all of them: every knob reaches scale 1).
    func optionsChanged() {
        let n = max(viewGoal, lanes[0].frames.count)
        let keepView = viewGoal
        reconfigure(advanceTo: n)
        viewGoal = keepView
    }

    /// Starts a new image for the selected class, applying the seed policy if the last run finished.
    func newImage() {
        if runCompleted { options.seed = seedPolicy.next(options.seed) }
        reconfigure(advanceTo: 0)
    }

    func stepForward() {
        let have = lanes[0].frames.count
        if viewGoal < have { viewGoal += 1; return }
        guard viewGoal < lanes.map(\.total).max()! else { message = "last scale: Enter for a new image"; return }
        viewGoal += 1
        worker.submit(.advance(to: viewGoal), epoch: epoch)
    }

    func stepBack() {
        viewGoal = max(0, min(viewGoal, lanes[0].frames.count) - 1)
    }

    func runToEnd() {
        let total = lanes.map(\.total).max()!
        if lanes[0].frames.count == lanes[0].total && viewGoal >= lanes[0].total {
            guard seedPolicy != .fixed else { message = "done: R or r for a new seed, f to change the seed policy"; return }
            newImage()
        }
        viewGoal = total
        worker.submit(.advance(to: total), epoch: epoch)
    }

    /// Re-samples the shown scale and everything after it with a new seed, keeping the scales before.
    func reroll() { reroll(from: max(0, shown(0) - 1), seed: randomSeed(), to: max(lanes[0].frames.count, shown(0))) }

    /// Re-samples scales `k`… with `seed` and runs to `to` scales (at least `k` + 1).
    func reroll(from k: Int, seed: UInt64, to: Int) {
        let n = max(to, k + 1)
        dropWork()
        for i in lanes.indices where lanes[i].frames.count > k { lanes[i].frames.removeSubrange(k...) }
        cellCache = [:]
        heatCache = [:]
        variations = nil
        rerolled = true
        worker.submit(.reroll(from: k, seed: seed, to: n), epoch: epoch)
        viewGoal = max(viewGoal, k + 1)
        message = "re-rolled from scale \(k + 1) (seed \(seed))"
    }

    func cancel() {
        guard busy else { return }
        worker.cancel()
        viewGoal = lanes[0].frames.count
        message = "cancelling…"
    }

    func save(strip: Bool) {
        message = strip ? "saving strip + animation…" : "saving…"
        viewGoal = lanes[0].total
        worker.submit(.save(dir: outputDir, strip: strip), epoch: epoch)
    }

    func selectClass(_ c: Int) {
        guard c != lanes[0].classIndex else { return }
        lanes[0].classIndex = c
        if lanes.count > 1 { lanes[1].classIndex = App.matchClass(c, from: lanes[0].generator, in: lanes[1].generator) }
        newImage()
    }

    func refilter(keepSelection: Bool) {
        let names = lanes[0].generator.classNames
        let q = query.lowercased()
        filtered = names.indices.filter { q.isEmpty || "\($0) \(names[$0])".lowercased().contains(q) }
        if !keepSelection, let first = filtered.first(where: { names[$0].lowercased() == q }) ?? filtered.first {
            selectClass(first)
        }
    }

    // MARK: Log

    func logLine(_ s: String) {
        guard let f = log else { return }
        let t = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        fputs(String(format: "%.3f ", t) + s + "\n", f)
        fflush(f)
    }

    /// After a refresh: one line per newly drawn scale.
    func logDrawn(now: UInt64) {
        for u in undrawn {
            let r = u.frame.result
            let sinceKey = Double(now - min(keyNs, now)) / 1e6
            let sincePrev = Double(now - max(keyNs, lastDrawNs, 0)) / 1e6
            logLine(String(format: "scale lane=%d k=%d shape=%@ engine_ms=%.2f preview_ms=%.2f queue_ms=%.2f key_to_draw_ms=%.2f since_prev_draw_ms=%.2f",
                           u.lane, r.index + 1, r.shape.description, r.milliseconds, u.frame.previewMs,
                           Double(now - min(u.frame.readyNs, now)) / 1e6, sinceKey, sincePrev))
            lastDrawNs = now
        }
        undrawn.removeAll()
    }
}
