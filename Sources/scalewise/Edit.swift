import ArgumentParser
import Foundation
import ScalewiseEngine

struct Edit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "FlexVAR zero-shot editing: in-paint, out-paint (extend) or refine an image.",
        discussion: """
            The known region's tokens are teacher-forced at every step and only the masked region is sampled \
            (FlexVAR §4.4). Mask: white = regenerate, black = keep. --extend doubles the canvas on one side and \
            generates the new half, keeping the image at its own scale: the output is the image (its sides at the \
            nearest multiples of the tokenizer's downsampling) plus the new half. An output larger than the model \
            can make is refused, and one beyond twice its learned size needs --allow-large. --refine keeps the \
            image's coarse steps and regenerates the detail. With --mask or --refine a non-square image keeps its \
            aspect: every step takes the image's shape, its longer side at the step's size, so the output's sides \
            are the nearest multiples of the tokenizer's downsampling. \
            Without -m, edit uses glyphs64-flexvar, else glyphs-flexvar, else the first model found that can edit.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: [.customShort("c"), .customLong("class")], parsing: .unconditional, help: "Class index or name.") var classLabel: String
    @Option(name: .shortAndLong, help: "Input image (PNG).") var image: String
    @Option(help: "Mask PNG (white = regenerate): the image's size, or its aspect (scaled).") var mask: String?
    @Option(help: "Extend the canvas: left, right, up or down (the output is the image plus the new half).") var extend: String?
    @Option(help: "Refine: keep the image's steps up to this size (e.g. 4), regenerate the rest.") var refine: Int?
    @Option(parsing: .unconditional, help: "Seed; -1 picks a random one.") var seed = SeedFlag(0)
    @Option(parsing: .unconditional, help: "Classifier-free guidance (default: the model's).") var cfg: Float?
    @Option(name: .customLong("cfg-mode"), help: cfgModeHelp) var cfgMode: CFGMode?
    @Option(name: .customLong("top-k"), parsing: .unconditional) var topK: Int?
    @Option(name: .customLong("top-p"), parsing: .unconditional) var topP: Float?
    @Option(help: "Number of steps (the paper's presets).") var steps: Int?
    @Option(name: .shortAndLong, help: "Output PNG; - writes it to standard output (not a terminal).") var output: String
    @Flag(help: "Overwrite the output.") var force = false
    @Flag(name: .customLong("allow-large"), help: "Extend even when the output is beyond twice the model's learned size (slow; the model has not learned such sizes).")
    var allowLarge = false

    func validate() throws {
        try checkSamplingFlags(cfg: cfg, topK: topK, topP: topP, seed: seed)
        if let r = refine, !(1...ScheduleRules.maxSide).contains(r) {
            throw ValidationError("--refine must be a size in 1…\(ScheduleRules.maxSide)")
        }
        let modes = [mask != nil, extend != nil, refine != nil].filter { $0 }.count
        guard modes == 1 else { throw ValidationError("give exactly one of --mask, --extend, --refine") }
        if let e = extend, !["left", "right", "up", "down"].contains(e) {
            throw ValidationError("--extend must be left, right, up or down")
        }
    }

    func run() throws {
        try checkOutput(output, force: force)  // before the model loads
        let gen = try modelOptions.load(editing: true)
        guard gen.capabilities.canEdit else {
            throw EngineError.badArgument("edit needs a FlexVAR model (its steps predict whole images)")
        }
        let cls = try gen.resolveClass(classLabel)
        var opts = gen.defaults
        if let c = cfg { opts.cfg = c }
        if let k = topK { opts.topK = k }
        if let p = topP { opts.topP = p }
        try applyCFGMode(cfgMode, to: &opts, gen: gen)
        opts.seed = seed.resolve(quiet: false)
        var schedule = gen.defaultSchedule
        if let n = steps {
            guard let s = gen.schedules.first(where: { $0.count == n }) else {
                throw EngineError.badArgument("no \(n)-step preset")
            }
            schedule = s
        }
        let (input, _) = try PNG.read(image)
        // The edit keeps the image's aspect: a wide image gets wide steps rather than being squeezed square.
        schedule = EditPlan.schedule(schedule, width: input.width, height: input.height)
        let plan: EditPlan
        if let m = mask {
            plan = .inpaint(mask: try checkedMask(m, for: input))
        } else if let side = extend {
            plan = .extend(side)
        } else {
            plan = .refine(upTo: refine!)
        }
        // Refused before the model encodes anything: an extend too large for the model (never shrunk to fit).
        _ = try gen.editSteps(plan: plan, schedule: schedule, width: input.width, height: input.height,
                              allowLarge: allowLarge)
        let (session, _) = try gen.makeEditSession(image: input, plan: plan, classIndex: cls, options: opts,
                                                   schedule: schedule)
        while session.completed < session.scales.count { _ = try session.step() }
        let out = session.preview(after: session.completed, tier: .decoded)
        var rec = GenerationRecord(generator: gen, session: session)
        rec.edit = plan.description
        try writePNG(out, text: [("parameters", rec.a1111), ("scalewise", try rec.json)], to: output, overwrite: force)
        // On stderr, as generate does: stdout is kept for data (the PNG itself with -o -).
        FileHandle.standardError.write(Data("saved \(output == "-" ? "to standard output" : output)\n".utf8))
    }
}

/// The mask PNG at `path`: the image's size, or its aspect at another size (scaled to it, which is said on
/// stderr); any other shape would stretch the region it marks, and is refused.
func checkedMask(_ path: String, for image: RGBImage) throws -> RGBImage {
    let mask = try PNG.read(path).0
    guard mask.width != image.width || mask.height != image.height else { return mask }
    guard mask.width * image.height == mask.height * image.width else {
        throw EngineError.badArgument("mask \(path) is \(mask.width)×\(mask.height) and the image \(image.width)×"
                                      + "\(image.height): the mask needs the image's size or at least its aspect")
    }
    let note = "mask \(mask.width)×\(mask.height) scaled to the image's \(image.width)×\(image.height)\n"
    FileHandle.standardError.write(Data(note.utf8))
    return mask
}
