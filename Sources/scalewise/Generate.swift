import ArgumentParser
import Foundation
import ScalewiseEngine

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate images headlessly and save them as PNG.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: [.customShort("c"), .customLong("class")], parsing: .unconditional, help: "Class index or name (unique prefix is enough).")
    var classLabel: String?

    @Option(parsing: .unconditional, help: "Seed of the engine's RNG, 0…2^64−1; -1 picks a random one and prints it (default 0; with --from-png, replaces the recorded seed).")
    var seed: SeedFlag?
    @Option(parsing: .unconditional, help: "Classifier-free guidance (default: the model's).") var cfg: Float?
    @Option(name: .customLong("cfg-mode"), help: cfgModeHelp) var cfgMode: CFGMode?
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Keep the k most likely tokens; 0 = off (default: the model's).") var topK: Int?
    @Option(name: .customLong("top-p"), parsing: .unconditional, help: "Nucleus sampling mass; 0 = off (default: the model's).") var topP: Float?
    @Option(parsing: .unconditional, help: "Divide the guided logits by this before top-k (default 1).") var temperature: Float?
    @Flag(name: .customLong("more-smooth"), help: "VAR's Gumbel-softmax smoothing (prettier, not for FID).") var moreSmooth = false
    @Flag(name: .customLong("cfg-constant"), help: "Same as --cfg-mode constant.")
    var cfgConstant = false
    @Option(help: "Number of steps, for models with a free schedule (FlexVAR: the paper's presets 6…13).") var steps: Int?
    @Option(help: "Explicit schedule for FlexVAR: sizes like 1,2,4,8,16 or h×w pairs like 1x1,2x3,4x6,8x12.")
    var scales: String?
    @Flag(name: .customLong("allow-large"), help: "Run --scales beyond twice the model's trained size (slow; the model has not learned such sizes), or an --xy sheet of more than 64 cells.")
    var allowLarge = false
    @Option(parsing: .unconditional, help: "Number of images (seeds seed, seed+1, …; default 1, or the recorded grid's with --from-png).") var count: Int?
    @Flag(help: "Save all images as one grid instead of one file each.") var grid = false
    @Option(name: .customLong("xy"), help: ArgumentHelp(
        "An axis of a labelled X/Y sheet (give one or two: X, then Y): cfg, top_k, top_p, temperature, cfg_mode, seed, class, steps or model, each with its values.",
        valueName: "name=v1,v2,…"))
    var xy: [String] = []
    @Option(help: ArgumentHelp("With --from-png of an --xy sheet: reproduce only this cell (zero-based column and row) as a single image.",
                               valueName: "x,y"))
    var cell: String?
    @Option(name: .shortAndLong, help: "Output PNG; - writes it to standard output (not a terminal).") var output: String = "scalewise.png"
    @Flag(help: "Overwrite existing files.") var force = false
    @Option(name: .customLong("tokens-out"), help: "Write every scale's token ids as JSON (- for standard output).") var tokensOut: String?
    @Option(name: .customLong("from-png"), help: "Reproduce the image recorded in a PNG written by scalewise.") var fromPNG: String?
    @Flag(name: .shortAndLong, help: "No progress bar.") var quiet = false

    func validate() throws {
        if let n = count, !(1...1024).contains(n) { throw ValidationError("--count must be in 1…1024") }
        try checkSamplingFlags(cfg: cfg, topK: topK, topP: topP, temperature: temperature, seed: seed)
        try checkGuidanceFlags(mode: cfgMode, constantFlag: cfgConstant)
        if fromPNG != nil && (scales != nil || steps != nil) {
            throw ValidationError("--from-png reproduces the recorded schedule; --steps and --scales cannot change it")
        }
        let axes = try parseAxes(xy)
        try checkSheetFlags(axes)
        if fromPNG == nil && classLabel == nil && !axes.contains(where: { $0.kind == .class }) {
            throw ValidationError("missing --class (index or name)")
        }
    }

    func run() throws {
        var record: GenerationRecord?
        var mo = modelOptions
        if let src = fromPNG {
            let text = try PNG.readText(src)
            // The file is wrong, not the command line: an error (exit 1), not a usage error.
            guard let json = text["scalewise"] else { throw EngineError.badArgument("\(src) has no scalewise record") }
            record = try GenerationRecord.parse(json, path: src)
            if let e = record!.edit {
                throw EngineError.badArgument("\(src) is an edit (\(e)) of an image it does not hold; it cannot be reproduced")
            }
            if mo.precision == nil { mo.precision = record!.precision ?? "fp32" }
        }
        // A recorded grid is reproduced as a grid unless --count says otherwise.
        let count = self.count ?? record?.grid ?? 1
        let grid = self.grid || (self.count == nil && record?.grid != nil)
        let sheet = !xy.isEmpty || record?.xy != nil
        // Every output is checked before the model loads: a bad path fails at once, not after the images.
        try checkOutputs(count: sheet ? 1 : count, grid: grid)
        if sheet { return try runSheet(record: record, modelOptions: mo) }
        if cell != nil { throw EngineError.badArgument("--cell picks a cell of an --xy sheet; \(fromPNG!) is not one") }
        if let r = record, let src = fromPNG, mo.model == nil {
            // A model named by path is looked for where it was, and must still be the same size there.
            // The recorded tokenizer file goes with the recorded model only: -m picks its own.
            mo.model = try r.modelFile?.located(field: "model_file", flag: "-m", record: src) ?? r.model
            if mo.tokenizer == nil, let t = r.tokenizerFile {
                mo.tokenizer = try t.located(field: "tokenizer_file", flag: "--tokenizer", record: src)
            }
        }
        let gen = try mo.load()
        if let r = record, let src = fromPNG {
            // The recorded hashes, for the files the record chose: -m picks its own model and tokenizer.
            try r.checkFiles(gen, model: modelOptions.model == nil,
                             tokenizer: modelOptions.model == nil && modelOptions.tokenizer == nil, path: src, modelFlag: "-m")
        }
        // With --from-png, --class and --seed replace what the PNG recorded (as --cfg and the others do).
        if classLabel == nil, let r = record, let src = fromPNG { try r.checkClass(count: gen.classNames.count, path: src) }
        let classIndex = try classLabel.map { try gen.resolveClass($0) } ?? record!.classIndex
        var opts = record?.options ?? gen.defaults
        try applySamplingFlags(to: &opts, gen: gen)
        let schedule = try record?.schedule ?? chooseSchedule(gen)
        if let r = record, let src = fromPNG { try checkRecordedSchedule(r, of: src, fits: gen) }
        if let s = schedule, scales != nil { try checkScheduleSize(s, gen: gen, allowLarge: allowLarge) }
        if record == nil || seed != nil { opts.seed = (seed ?? SeedFlag(0)).resolve(quiet: quiet) }
        // Re-roll seeds belong to the recorded seed; a new seed starts afresh.
        let scaleSeeds = seed == nil ? record?.scaleSeeds : nil

        var images: [RGBImage] = [], tokens: [[[Int32]]] = []
        var first: GenerationRecord?
        for i in 0..<count {
            var o = opts
            o.seed = opts.seed &+ UInt64(i)
            let (image, rec, t) = try render(gen, classIndex: classIndex, options: o, schedule: schedule, scaleSeeds: scaleSeeds,
                                             label: count > 1 ? "image \(i + 1)/\(count)" : "")
            images.append(image)
            tokens.append(t)
            if i == 0 { first = rec }
            if !grid { try save(images[i], record: rec, to: count == 1 ? output : numbered(output, i)) }
        }
        if grid, var rec = first {
            // The sheet's record is its first image's, plus how many seeds follow: every cell reproducible.
            rec.grid = count
            try save(makeGrid(images), record: rec, to: output)
        }
        if let path = tokensOut { try writeTokens(tokens, to: path) }
    }

    /// Runs one image to the end: its pixels, its record and every scale's tokens.
    func render(_ gen: Generator, classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]?, scaleSeeds: [UInt64]?,
                label: String) throws -> (RGBImage, GenerationRecord, [[Int32]]) {
        let session = try gen.makeSession(classIndex: classIndex, options: options, schedule: schedule)
        if let seeds = scaleSeeds {
            for (k, s) in seeds.enumerated() where k < session.scales.count { session.overrideSeed(scale: k, seed: s) }
        }
        let progress = quiet ? nil : Progress(total: session.scales.count, label: label)
        while session.completed < session.scales.count {
            let r = try session.step()
            progress?.update(r)
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let image = session.preview(after: session.completed, tier: .decoded)
        progress?.finish(decodeMs: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        return (image, GenerationRecord(generator: gen, session: session), session.results.map { $0.tokens })
    }

    /// A record's schedule on a model with a fixed one (`-m` naming another model than the record's): said as
    /// the record not fitting, not as the family's rule.
    func checkRecordedSchedule(_ r: GenerationRecord, of src: String, fits gen: Generator) throws {
        guard !gen.capabilities.freeSchedule, !gen.schedules.contains(r.schedule) else { return }
        let steps = { (s: [ScaleShape]) in "\(s.count) steps up to \(s.last.map(\.description) ?? "-")" }
        throw EngineError.badArgument("\(src): the record's schedule (\(steps(r.schedule))) does not fit \(gen.name) "
                                      + "(\(steps(gen.defaultSchedule))); it was made with \(r.model)")
    }

    func chooseSchedule(_ gen: Generator) throws -> [ScaleShape]? {
        if let text = scales { return try parseSchedule(text) }
        guard let n = steps else { return nil }
        return try presetSchedule(n, gen)
    }

    /// The model's schedule of `n` steps.
    func presetSchedule(_ n: Int, _ gen: Generator) throws -> [ScaleShape] {
        guard let s = gen.schedules.first(where: { $0.count == n }) else {
            let options = gen.schedules.map { String($0.count) }.joined(separator: ", ")
            throw EngineError.badArgument("\(gen.name) has no \(n)-step schedule (available: \(options))")
        }
        return s
    }

    func checkOutputs(count: Int, grid: Bool) throws {
        if output == "-" && tokensOut == "-" {
            throw EngineError.badArgument("-o - and --tokens-out - cannot share standard output; name a file for one")
        }
        if output == "-" && !grid && count > 1 {
            throw EngineError.badArgument("-o - writes one PNG to standard output; add --grid for \(count) images")
        }
        let outs = grid || count == 1 ? [output] : (0..<count).map { numbered(output, $0) }
        for o in outs + (tokensOut.map { [$0] } ?? []) { try checkOutput(o, force: force) }
    }

    func save(_ image: RGBImage, record: GenerationRecord, to path: String) throws {
        try writePNG(image, text: [("parameters", record.a1111), ("scalewise", try record.json)], to: path, overwrite: force)
        if !quiet { FileHandle.standardError.write(Data("saved \(path == "-" ? "to standard output" : path)\n".utf8)) }
    }

    func writeTokens(_ tokens: [[[Int32]]], to path: String) throws {
        let obj: [String: Any] = ["images": tokens.map { $0.map { $0.map { Int($0) } } }]
        let data = try JSONSerialization.data(withJSONObject: obj)
        if path == "-" { return try FileHandle.standardOutput.write(contentsOf: data) }
        try writeAtomically([UInt8](data), to: path, overwrite: force)
    }
}

/// out.png → out-0003.png style names for --count without --grid.
func numbered(_ path: String, _ i: Int) -> String {
    let ext = (path as NSString).pathExtension
    let base = ext.isEmpty ? path : String(path.dropLast(ext.count + 1))
    return "\(base)-\(String(format: "%04d", i)).\(ext.isEmpty ? "png" : ext)"
}

/// Progress on stderr: a bar redrawn in place on a terminal (ASCII when the locale is not UTF-8), one summary line
/// per image when stderr is a file or a pipe, so a log holds no carriage-return frames.
final class Progress {
    let total: Int, label: String
    private var ms = 0.0
    private var last = ""
    private let live = isatty(STDERR_FILENO) != 0
    private let unicode = localeIsUTF8()

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    func update(_ r: ScaleResult) {
        ms += r.milliseconds
        let done = r.index + 1, width = 20, filled = done * width / total
        let shape = unicode ? r.shape.description : "\(r.shape.h)x\(r.shape.w)"
        last = "\(label.isEmpty ? "" : label + " ")scale \(done)/\(total) \(shape) cfg \(String(format: "%.2f", r.guidance))"
        guard live else { return }
        let bar = String(repeating: unicode ? "█" : "#", count: filled)
            + String(repeating: unicode ? "░" : "-", count: width - filled)
        let text = "\r\(label.isEmpty ? "" : label + " ")\(bar) scale \(done)/\(total) \(shape) cfg "
            + "\(String(format: "%.2f", r.guidance)) \(String(format: "%6.0f", r.milliseconds)) ms"
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish(decodeMs: Double) {
        let times = String(format: "transformer %.0f ms, decode %.0f ms\n", ms, decodeMs)
        FileHandle.standardError.write(Data((live ? " | " + times : last + " | " + times).utf8))
    }
}

/// Whether the locale's character set is UTF-8, from LC_ALL, LC_CTYPE and LANG in that order (the first one set
/// decides, as setlocale would).
func localeIsUTF8(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    guard let value = ["LC_ALL", "LC_CTYPE", "LANG"].lazy.compactMap({ env[$0] }).first(where: { !$0.isEmpty }) else {
        return false
    }
    let v = value.lowercased()
    return v.contains("utf-8") || v.contains("utf8")
}

/// "1,2,4" → squares; "1x1,2x3" → h×w steps.
func parseSchedule(_ text: String) throws -> [ScaleShape] {
    try text.split(separator: ",").map { item in
        let parts = item.lowercased().split(whereSeparator: { $0 == "x" || $0 == "×" }).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...2).contains(parts.count), parts.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 256 }) else {
            throw EngineError.badArgument("bad schedule entry '\(item)': use sizes like 1,2,4 or 2x3")
        }
        return ScaleShape(parts[0]!, parts.count == 2 ? parts[1]! : parts[0]!)
    }
}

extension Generate {
    /// The sampling flags given (--cfg, --top-k, --top-p, --temperature, --more-smooth, the guidance rule) over
    /// `o`, whatever it came from: the model's defaults, a record, a sheet's cell.
    func applySamplingFlags(to o: inout SamplingOptions, gen: Generator) throws {
        if let c = cfg { o.cfg = c }
        if let k = topK { o.topK = k }
        if let p = topP { o.topP = p }
        if let t = temperature { o.temperature = t }
        if moreSmooth { o.moreSmooth = true }
        try applyCFGMode(cfgMode, constantFlag: cfgConstant, to: &o, gen: gen)
    }
}
