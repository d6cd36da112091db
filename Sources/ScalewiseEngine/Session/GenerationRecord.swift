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
    /// The generator's and tokenizer's files when they were named by path (`ModelFile`); absent for models
    /// found by name.
    public var modelFile: ModelFile?
    public var tokenizerFile: ModelFile?
    /// The SHA-256 of the generator's file and of the tokenizer's own file (64 lowercase hex digits): a replay
    /// refuses other weights that carry the same name or path (`checkFiles`). Absent in older records.
    public var modelSHA256: String?
    public var tokenizerSHA256: String?
    /// A grid sheet of this many images, seeds `seed`, `seed`+1, … (nil for a single image).
    public var grid: Int?
    /// An X/Y sheet: its axes and every cell's record (nil for anything else).
    public var xy: SheetRecord?
    public var engine = "scalewise \(scalewiseVersion)"

    enum CodingKeys: String, CodingKey {
        case version, model, family, schedule, seed, engine, edit, precision, grid, xy
        case classIndex = "class", className = "class_name", cfg, topK = "top_k", topP = "top_p"
        case moreSmooth = "more_smooth", scaleSeeds = "scale_seeds", constantCFG = "constant_cfg", temperature
        case cfgMode = "cfg_mode", modelFile = "model_file", tokenizerFile = "tokenizer_file"
        case modelSHA256 = "model_sha256", tokenizerSHA256 = "tokenizer_sha256"
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
        modelFile = generator.info.file
        tokenizerFile = generator.info.tokenizerFile
        modelSHA256 = generator.info.sha256
        tokenizerSHA256 = generator.info.tokenizerSHA256
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
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
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
        let source = SamplingRules.Source.record(path), file = (path as NSString).lastPathComponent
        // The guidance rule by the rule defaults and flags follow, before the decoder would only say "not valid".
        if case .object(let members)? = Array(json.utf8).withUnsafeBytes({ try? JSON.parse($0) }),
           let mode = members.first(where: { $0.0 == "cfg_mode" })?.1, mode != .null {
            guard case .string(let text) = mode else {
                throw InputError("record field 'cfg_mode' must be ramp or constant, got a value that is not a string from \(source)")
            }
            _ = try SamplingRules.cfgMode(text, from: .record(path))
        }
        if case .object(let members)? = Array(json.utf8).withUnsafeBytes({ try? JSON.parse($0) }) {
            try checkUnsigned(members, source: source)
        }
        let r: GenerationRecord
        do {
            r = try JSONDecoder().decode(GenerationRecord.self, from: Data(json.utf8))
        } catch let error as DecodingError {
            throw InputError(decodingMessage(error, source: source))
        } catch {
            throw EngineError.badArgument("\(path): the scalewise chunk is not a valid generation record")
        }
        try SamplingRules.check(r.options, from: .record(path))
        try ScheduleRules.checkSizes(r.schedule, from: "record field 'schedule' in \(file)")
        if let seeds = r.scaleSeeds, seeds.count > r.schedule.count {
            throw InputError("record field 'scale_seeds' holds \(seeds.count) seeds for \(r.schedule.count) scales in \(file)")
        }
        if let p = r.precision, Precision(rawValue: p) == nil {
            let names = Precision.allCases.map(\.rawValue).joined(separator: ", ")
            throw InputError("record field 'precision' must be one of \(names), got '\(p)' from \(source)")
        }
        if let n = r.grid, !gridSizes.contains(n) {
            throw InputError("record field 'grid' must be a number of images in \(gridSizes.lowerBound)…\(gridSizes.upperBound), got \(n) from \(source)")
        }
        try r.checkHashes(source: source)
        try r.xy?.check(path: path)
        return r
    }

    /// Images one grid sheet may hold (as `--count` allows).
    public static let gridSizes = 1...1024

    /// The recorded class against the model's classes, once the model is loaded.
    public func checkClass(count: Int, path: String) throws {
        guard (0..<count).contains(classIndex) else {
            throw InputError("record field 'class' must be a class index in 0…\(count - 1), got \(classIndex) from "
                             + "\(SamplingRules.Source.record(path))")
        }
    }

    /// Seeds are unsigned: a negative one is named here, as the decoder's own error names no field.
    static func checkUnsigned(_ members: [(String, JSON)], source: SamplingRules.Source) throws {
        func negative(_ v: JSON) -> Bool {
            switch v {
            case .int(let i): i < 0
            case .double(let d): d < 0
            default: false
            }
        }
        for (key, value) in members {
            let values: [JSON]
            switch (key, value) {
            case ("seed", _): values = [value]
            case ("scale_seeds", .array(let items)): values = items
            default: continue
            }
            if let bad = values.first(where: negative) {
                let shownValue = if case .int(let i) = bad { String(i) } else { "a negative number" }
                throw InputError("record field '\(key)' must hold integers in 0…2^64−1, got \(shownValue) from \(source)")
            }
        }
    }

    /// A decoding failure as the record field it concerns ("record field 'seed' has the wrong type").
    static func decodingMessage(_ error: DecodingError, source: SamplingRules.Source) -> String {
        func field(_ path: [CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let ctx):
            return "record field '\(field(ctx.codingPath + [key]))' is missing from \(source)"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            guard !ctx.codingPath.isEmpty else { return "\(source) is not a JSON object" }
            return "record field '\(field(ctx.codingPath))' has the wrong type (or a number out of range) in \(source)"
        case .dataCorrupted(let ctx):
            guard !ctx.codingPath.isEmpty else { return "\(source) is not a valid generation record" }
            return "record field '\(field(ctx.codingPath))' is not valid (or a number out of range) in \(source)"
        @unknown default:
            return "\(source) is not a valid generation record"
        }
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
            ("Seed", "\(seed)"),
        ]
        if let runs = scaleSeedRuns { items.append(("Scale seeds", runs)) }
        items += [("Top-k", "\(topK)"), ("Top-p", fmt(topP))]
        if moreSmooth { items.append(("More smooth", "true")) }
        if let m = cfgMode ?? (constantCFG == true ? .constant : nil) { items.append(("CFG mode", m.rawValue)) }
        if let t = temperature { items.append(("Temperature", fmt(t))) }
        items.append(("Schedule", schedule.map { $0.h == $0.w ? "\($0.h)" : "\($0.h)x\($0.w)" }.joined(separator: " ")))
        // A1111 shows the first 10 hex digits of the checkpoint's SHA-256 just before its name.
        if let h = modelSHA256 { items.append(("Model hash", String(h.prefix(10)))) }
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

    /// The first scale (from 1) whose seed is not `seed`: where a re-roll or a kept variation starts; nil for a
    /// plain image.
    public var rerolledFrom: Int? {
        scaleSeeds?.firstIndex { $0 != seed }.map { $0 + 1 }
    }

    /// Per-scale seeds as runs, "0 ×6, 2434294736 ×4", when they are not all `seed` (the `parameters` text would
    /// otherwise name a seed that does not make the image).
    public var scaleSeedRuns: String? {
        guard let seeds = scaleSeeds, rerolledFrom != nil else { return nil }
        var runs: [(UInt64, Int)] = []
        for s in seeds {
            if let last = runs.last, last.0 == s { runs[runs.count - 1].1 += 1 } else { runs.append((s, 1)) }
        }
        return runs.map { "\($0.0) ×\($0.1)" }.joined(separator: ", ")
    }

    /// 3 → "3", 0.95 → "0.95"; never traps (∞, NaN and |v| ≥ 2^63 have no Int).
    private func fmt(_ v: Float) -> String { shown(v) }
}

public let scalewiseVersion = "0.1.0"
