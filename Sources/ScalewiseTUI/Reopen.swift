import Foundation
import ScalewiseEngine

/// Re-opening a generation record (a history entry, `--from-png`, `O`): its model, class, seed and knobs become the
/// session's. Same weights, parameters and seed make the same image, so re-opening is re-running the record,
/// scale by scale as the user steps.
extension App {
    /// The file lane 0's model came from: what the model picker loaded, else the `--model` the command line gave.
    var modelFile: String? {
        if let p = pickedModel { return p }
        guard let i = startModelArguments.firstIndex(of: "--model"), i + 1 < startModelArguments.count else { return nil }
        return startModelArguments[i + 1]
    }

    /// Reads the record of a PNG written by scalewise and opens it; a file without one is a status message.
    /// `modelChecked`: the running model was already checked against the record (or chosen by the user).
    func openPNG(_ path: String, modelChecked: Bool = false) {
        let name = (path as NSString).lastPathComponent
        do {
            guard let json = try PNG.readText(path)["scalewise"] else {
                message = "\(name) has no scalewise record (only PNGs scalewise saved do)"
                return
            }
            openRecord(try GenerationRecord.parse(json, path: path), modelPath: nil, label: name, modelChecked: modelChecked)
        } catch {
            message = "cannot open \(name): \(error)"
        }
        logLine("open \(path): \(message)")
    }

    /// Opens the history entry `sel` of `entries` (the browser's list).
    func openHistoryEntry(_ entries: [HistoryEntry], _ sel: Int) {
        overlay = nil
        guard sel < entries.count, let h = history, let path = h.path(of: entries[sel]) else { return }
        let e = entries[sel]
        do {
            guard let json = try PNG.readText(path)["scalewise"] else { message = "\(e.file) has no scalewise record"; return }
            openRecord(try GenerationRecord.parse(json, path: path), modelPath: e.modelPath, label: "history \(App.shortTime(e.time))")
        } catch {
            message = "cannot open \(e.file): \(error)"
        }
        logLine("open \(path): \(message)")
    }

    /// Applies `rec` at once when lane 0 runs its model, else loads the model first (the file the history names,
    /// else the name in the model folders); an unknown model is a status message and nothing changes.
    func openRecord(_ rec: GenerationRecord, modelPath: String?, label: String, modelChecked: Bool = false) {
        if let e = rec.edit {
            message = "\(label) is an edit (\(e)) of an image it does not hold: it cannot be re-run"
            return
        }
        if edit != nil {
            message = "leave edit mode first (Esc), then open \(label)"
            return
        }
        let g = lanes[0].generator
        // Records from before precisions existed were all fp32.
        let precision = rec.precision.flatMap { Precision(rawValue: $0) } ?? .fp32
        if g.name == rec.model && g.precision == precision { return applyRecord(rec, label: label, checkFiles: !modelChecked) }
        // The same model in another precision is reloaded from its file: other arithmetic, other pixels.
        let names = [modelPath, g.name == rec.model ? modelFile : nil, rec.model].compactMap { $0 }
        guard let path = names.compactMap({ try? ModelLoader.resolve($0) }).first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            if g.name == rec.model { return applyRecord(rec, label: label, checkFiles: !modelChecked) }  // says which precision runs
            message = "\(label): unknown model '\(rec.model)' (not in the model folders; M lists those there)"
            return
        }
        pendingRecord = (rec, label)
        loadingModel = path
        message = "loading \((path as NSString).lastPathComponent) for \(label)…"
        worker.submit(.load(path: path, lane: 0, precision: precision), epoch: epoch)
    }

    /// The record's class, knobs, schedule and seeds on lane 0's model; nothing runs until the user steps. With
    /// `checkFiles`, a model whose files are not those the record hashed is refused (a status message).
    func applyRecord(_ rec: GenerationRecord, label: String, checkFiles: Bool = true) {
        let g = lanes[0].generator
        if checkFiles, let problem = rec.fileMismatch(g, model: true, tokenizer: true, path: label,
                                                      remedy: { _ in "load the file it was made with" }) {
            message = problem
            return
        }
        guard rec.classIndex < g.classNames.count else {
            message = "\(label): class \(rec.classIndex) is out of range for \(g.name)"
            return
        }
        var notes: [String] = []
        if let n = rec.grid { notes.append("a grid of \(n): opened its first cell") }
        if let sheet = rec.xy { notes.append("an X/Y sheet of \(sheet.cells.count): opened its first cell") }
        if let p = rec.precision, p != g.precision.rawValue { notes.append("recorded in \(p), running \(g.precision.rawValue)") }
        lanes[0].classIndex = rec.classIndex
        if lanes.count > 1 { lanes[1].classIndex = App.matchClass(rec.classIndex, from: g, in: lanes[1].generator) }
        if g.schedules.count > 1 {
            lanes[0].schedule = rec.schedule
        } else if rec.schedule != lanes[0].schedule {
            notes.append("its schedule differs from \(g.name)'s")
        }
        options = rec.options
        query = ""
        refilter(keepSelection: true)
        reconfigure(advanceTo: 0, seeds: rec.scaleSeeds)
        message = "opened \(label): \(rec.className), seed \(rec.seed)" + notes.map { "; " + $0 }.joined()
            + " (→ steps, Enter runs all)"
        logLine("opened \(label) model=\(g.name) class=\(rec.classIndex) seed=\(rec.seed)")
    }
}
