import Foundation

/// Everything needed to reproduce an image bit for bit; stored in the PNG as the `scalewise` JSON chunk,
/// next to A1111's human-readable `parameters` chunk.
public struct GenerationRecord: Codable, Sendable, Equatable {
    public var version = 1
    public var model: String
    public var family: String
    public var classIndex: Int
    public var className: String
    public var cfg: Float
    public var topK: Int
    public var topP: Float
    public var moreSmooth: Bool
    public var seed: UInt64
    public var constantCFG: Bool?
    /// The guidance rule ("ramp" or "constant"); records without it ran their family's rule of the time: ramp
    /// for VAR, MVAR and M-VAR, constant for AiM, `constant_cfg` for FlexVAR.
    public var cfgMode: CFGMode?
    public var temperature: Float?
    /// Per-scale seeds when the image was re-rolled from a later scale (nil when all equal `seed`).
    public var scaleSeeds: [UInt64]?
    public var schedule: [ScaleShape]
    /// A FlexVAR edit ("inpaint …", "extend right", "refine from 4"): the image came from a source image that
    /// the record does not hold, so it cannot be regenerated from the record alone.
    public var edit: String?
    /// The generator's linear-layer precision ("fp32", "bf16", "int8"); absent in records from before
    /// precisions existed, which were all fp32.
    public var precision: String?
    /// A grid sheet of this many images, seeds `seed`, `seed`+1, … (nil for a single image).
    public var grid: Int?
    /// An X/Y sheet: its axes and every cell's record (nil for anything else).
    public var xy: SheetRecord?
    public var engine = "scalewise \(scalewiseVersion)"

    enum CodingKeys: String, CodingKey {
        case version, model, family, schedule, seed, engine, edit, precision, grid, xy
        case classIndex = "class", className = "class_name", cfg, topK = "top_k", topP = "top_p"
        case moreSmooth = "more_smooth", scaleSeeds = "scale_seeds", constantCFG = "constant_cfg", temperature
        case cfgMode = "cfg_mode"
    }

    public init(generator: Generator, session: GenerationSession) {
        model = generator.name
        family = generator.family
        classIndex = session.classIndex
        className = generator.classNames[session.classIndex]
        let o = session.options
        cfg = o.cfg
        topK = o.topK
        topP = o.topP
        moreSmooth = o.moreSmooth
        seed = o.seed
        constantCFG = o.constantCFG ? true : nil
        cfgMode = o.cfgMode
        temperature = o.temperature == 1 ? nil : o.temperature
        let seeds = session.scaleSeeds
        scaleSeeds = seeds.allSatisfy { $0 == o.seed } ? nil : seeds
        schedule = session.scales
        precision = generator.precision.rawValue
    }

    public var options: SamplingOptions {
        let legacy: CFGMode = family == "aim" || (family == "flexvar" && constantCFG == true) ? .constant : .ramp
        return SamplingOptions(cfg: cfg, topK: topK, topP: topP, moreSmooth: moreSmooth, seed: seed,
                               constantCFG: (cfgMode ?? legacy) == .constant, temperature: temperature)
    }

    /// The record as JSON. Sampling values are checked before generation (`SamplingRules`), so a
    /// non-finite number here is a bug upstream; it is still an error, never a trap.
    public var json: String {
        get throws {
            try SamplingRules.check(options, from: .record(model))
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            do {
                return String(decoding: try enc.encode(self), as: UTF8.self)
            } catch {
                throw InputError("cannot record the generation as JSON: \(error)")
            }
        }
    }

    /// Decodes and checks a record read from `path`: sampling values by `SamplingRules` (as if given as
    /// flags), the schedule's sizes by `ScheduleRules` (the model's own limits are checked when it loads).
    public static func parse(_ json: String, path: String = "the PNG") throws -> GenerationRecord {
        // The guidance rule by the rule defaults and flags follow, before the decoder would only say "not valid".
        if case .object(let members)? = Array(json.utf8).withUnsafeBytes({ try? JSON.parse($0) }),
           let mode = members.first(where: { $0.0 == "cfg_mode" })?.1, mode != .null {
            guard case .string(let text) = mode else {
                throw InputError("the record in \((path as NSString).lastPathComponent): cfg_mode is not a string")
            }
            _ = try SamplingRules.cfgMode(text, from: .record(path))
        }
        let r: GenerationRecord
        do {
            r = try JSONDecoder().decode(GenerationRecord.self, from: Data(json.utf8))
        } catch {
            throw EngineError.badArgument("\(path): the scalewise chunk is not a valid generation record")
        }
        try SamplingRules.check(r.options, from: .record(path))
        try ScheduleRules.checkSizes(r.schedule, from: "the record in \((path as NSString).lastPathComponent)")
        if let seeds = r.scaleSeeds, seeds.count > r.schedule.count {
            throw InputError("the record in \((path as NSString).lastPathComponent) has \(seeds.count) scale seeds for \(r.schedule.count) scales")
        }
        try r.xy?.check(path: path)
        return r
    }

    /// A1111's `parameters` text: the prompt line, then `Key: value, …` (values quoted when they contain
    /// `,`, `:` or a newline).
    public var a1111: String {
        func q(_ v: String) -> String {
            guard v.contains(",") || v.contains(":") || v.contains("\n") else { return v }
            return (try? JSONEncoder().encode(v)).map { String(decoding: $0, as: UTF8.self) } ?? JSON.quote(v)
        }
        var items: [(String, String)] = [
            ("Steps", "\(schedule.count)"), ("Sampler", family.uppercased()), ("CFG scale", fmt(cfg)),
            ("Seed", "\(seed)"), ("Top-k", "\(topK)"), ("Top-p", fmt(topP)),
        ]
        if moreSmooth { items.append(("More smooth", "true")) }
        if let m = cfgMode ?? (constantCFG == true ? .constant : nil) { items.append(("CFG mode", m.rawValue)) }
        if let t = temperature { items.append(("Temperature", fmt(t))) }
        items.append(("Schedule", schedule.map { $0.h == $0.w ? "\($0.h)" : "\($0.h)x\($0.w)" }.joined(separator: " ")))
        items += [("Model", model)]
        if let p = precision { items.append(("Precision", p)) }
        items.append(("Version", engine))
        if let e = edit { items.append(("Edit", e)) }
        if let n = grid { items.append(("Batch size", "\(n)")) }
        if let sheet = xy {
            for (label, axis) in zip(["X", "Y"], sheet.axes) {
                items += [("\(label) Type", axis.name), ("\(label) Values", axis.values.joined(separator: ","))]
            }
        }
        return "\(className)\n" + items.map { "\($0.0): \(q($0.1))" }.joined(separator: ", ")
    }

    /// 3 → "3", 0.95 → "0.95"; never traps (∞, NaN and |v| ≥ 2^63 have no Int).
    private func fmt(_ v: Float) -> String { shown(v) }
}

public let scalewiseVersion = "0.1.0"
