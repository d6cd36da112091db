import ArgumentParser
import Foundation
import ScalewiseEngine
import ScalewiseTUI

extension TUIOptions.ColorChoice: ExpressibleByArgument {}
extension TUIOptions.SymbolChoice: ExpressibleByArgument {}
extension SeedPolicy: ExpressibleByArgument {}

struct TUICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tui", abstract: "The interactive terminal UI (default): step through the scales live.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: [.customShort("c"), .customLong("class")], parsing: .unconditional, help: "Class index or name to start on.")
    var classLabel: String?
    @Option(parsing: .unconditional, help: "Seed of the engine's RNG; -1 picks a random one.") var seed: SeedFlag?
    @Option(name: .customLong("seed-policy"), help: "Seed after a finished run: fixed, +1 or random.")
    var seedPolicy: SeedPolicy = .fixed
    @Option(parsing: .unconditional, help: "Classifier-free guidance (default: the model's).") var cfg: Float?
    @Option(name: .customLong("cfg-mode"), help: cfgModeHelp) var cfgMode: CFGMode?
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Keep the k most likely tokens; 0 = off (default: the model's).") var topK: Int?
    @Option(name: .customLong("top-p"), parsing: .unconditional, help: "Nucleus sampling mass; 0 = off (default: the model's).") var topP: Float?
    @Flag(name: .customLong("more-smooth"), help: "VAR's Gumbel-softmax smoothing.") var moreSmooth = false
    @Option(help: "Colour mode: auto, truecolor, 256, 16, 8 or mono (auto honours COLORTERM and NO_COLOR).")
    var color: TUIOptions.ColorChoice = .auto
    @Option(help: "Picture mode: auto (ask the terminal), kitty, sixel, iterm or blocks.") var graphics: GraphicsChoice = .auto
    @Option(name: .customLong("probe-timeout"), help: "Milliseconds the start-up probe waits for a terminal that answers nothing.")
    var probeTimeout = 150
    @Option(help: "Cell symbols: auto, half, quad, sextant or ascii.") var symbols: TUIOptions.SymbolChoice = .auto
    @Option(name: .customLong("output-dir"), help: "Folder for saved PNGs (. is the current folder).") var outputDir = "."
    @Option(help: "A second model to compare side by side.") var compare: String?
    @Option(help: "Append per-scale latencies to this file (also SCALEWISE_TUI_LOG).") var log: String?
    @Option(help: "Start in edit mode on this PNG (FlexVAR models; without --model, glyphs64-flexvar, else glyphs-flexvar).") var image: String?
    @Option(name: .customLong("from-png"), help: "Open the parameters recorded in a PNG written by scalewise (its model unless --model names one).")
    var fromPNG: String?
    @Flag(name: .customLong("no-history"), help: "Do not log finished images in $XDG_STATE_HOME/scalewise/history (also SCALEWISE_NO_HISTORY=1).")
    var noHistory = false
    @Flag(name: .customLong("allow-large"), help: "Let the X/Y view (X) make sheets of more than 64 cells (up to 1024), and edit mode extend beyond twice the model's learned size.")
    var allowLarge = false

    func validate() throws {
        try checkSamplingFlags(cfg: cfg, topK: topK, topP: topP, seed: seed)
        if let l = log, let problem = SafeOpen.outputProblem(l) { throw ValidationError("--log \(l): \(problem)") }
        guard (1...5000).contains(probeTimeout) else { throw ValidationError("--probe-timeout must be 1…5000 ms") }
        var dir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: outputDir, isDirectory: &dir), dir.boolValue else {
            throw ValidationError("--output-dir \(outputDir) is not a folder")
        }
    }

    func run() throws {
        // Loading happens before the screen opens: a missing model is a plain one-line error.
        let gen = try startModel()
        if let c = classLabel { _ = try gen.resolveClass(c) }
        var probe = gen.defaults
        try applyCFGMode(cfgMode, to: &probe, gen: gen)
        let second = try compare.map { try ModelLoader.load($0, precision: gen.precision) }
        if let s = second, ThreadRule.isAuto(explicit: modelOptions.threads) {
            setThreads(modelOptions.autoThreads(for: [gen, s]).count)
        }
        if let path = image {
            guard gen.capabilities.canEdit else {
                throw EngineError.badArgument("--image needs a FlexVAR model, not \(gen.family)")
            }
            _ = try PNG.read(path)  // an unreadable file is a one-line error, before the screen opens
        }
        var o = TUIOptions()
        o.color = color
        o.symbols = symbols
        o.graphics = graphics
        o.probeTimeoutMs = probeTimeout
        o.classLabel = classLabel
        o.cfg = cfg
        o.cfgMode = cfgMode
        o.topK = topK
        o.topP = topP
        o.moreSmooth = moreSmooth
        // A random seed shows in the UI's status line; the screen would hide it on stderr.
        o.seed = seed?.resolve(quiet: true)
        o.seedPolicy = seedPolicy
        o.outputDir = outputDir
        o.logPath = log
        o.editImage = image
        o.fromPNG = fromPNG
        o.history = !noHistory
        o.allowLarge = allowLarge
        o.autoThreads = ThreadRule.isAuto(explicit: modelOptions.threads)
        o.modelArguments = [("--model", modelOptions.model), ("--tokenizer", modelOptions.tokenizer), ("--config", modelOptions.config),
                            ("--tokenizer-config", modelOptions.tokenizerConfig)].flatMap { f, v in v.map { [f, $0] } ?? [] }
        if fromPNG != nil && modelOptions.model == nil && modelOptions.tokenizer == nil { o.modelArguments = ["--model", gen.name] }
        let status = try runTUI(generator: gen, compare: second, options: o)
        // The terminal is restored by now. Leave with _exit: a scale still running on the engine thread (a
        // long one outlives the UI's bounded wait) must not meet exit()'s teardown of the process's memory
        // (seen: SIGSEGV on SIGTERM mid-generation once freed feature maps were unmapped at once).
        fflush(nil)
        _exit(status)
    }
}

extension TUICommand {
    /// The model to start on: `--model`, else with `--from-png` the record's model file (a model named by path) or
    /// its model when it loads (an unknown one is the UI's status message, on the default model), else the default. With `--from-png` the precision is the
    /// record's unless `--precision` says otherwise, as for `generate --from-png`. An unreadable PNG is a one-line
    /// error here.
    func startModel() throws -> Generator {
        guard let src = fromPNG else { return try modelOptions.load(editing: image != nil) }
        let text = try PNG.readText(src)
        guard let json = text["scalewise"] else { throw EngineError.badArgument("\(src) has no scalewise record") }
        let rec = try GenerationRecord.parse(json, path: src)
        var mo = modelOptions
        if mo.precision == nil { mo.precision = rec.precision ?? "fp32" }
        if mo.model != nil { return try mo.load() }
        if let file = rec.modelFile {
            // A model named by path: that file (and its tokenizer) or a one-line error, never another of its name.
            mo.model = try file.located(field: "model_file", flag: "--model", record: src)
            if mo.tokenizer == nil, let t = rec.tokenizerFile {
                mo.tokenizer = try t.located(field: "tokenizer_file", flag: "--tokenizer", record: src)
            }
            return try checked(mo.load(), rec, src)
        }
        mo.model = rec.model
        if let g = try? mo.load() { return try checked(g, rec, src) }
        mo.model = nil
        return try mo.load()
    }

    /// The record's model as it loaded, when its files are those the record hashed (`--tokenizer` is the user's).
    private func checked(_ gen: Generator, _ rec: GenerationRecord, _ src: String) throws -> Generator {
        try rec.checkFiles(gen, model: true, tokenizer: modelOptions.tokenizer == nil, path: src, modelFlag: "--model")
        return gen
    }
}
