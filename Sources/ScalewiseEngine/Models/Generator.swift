import Foundation

/// A loaded generator with its tokenizer: what the CLI and TUI hold. Immutable, shareable across threads;
/// all per-image state lives in the sessions it makes.
public protocol Generator: AnyObject, Sendable {
    var name: String { get }
    var family: String { get }
    var classNames: [String] { get }
    var defaults: SamplingOptions { get }
    /// Schedules the model can run; fixed models have exactly one.
    var schedules: [[ScaleShape]] { get }
    /// The schedule a session runs when none is asked for (the training schedule).
    var defaultSchedule: [ScaleShape] { get }
    var parameterCount: Int { get }
    /// The precision the linear layers were loaded in (`ModelLoader.load(precision:)`).
    var precision: Precision { get }
    /// A session over `schedule` (nil: the model's default; only FlexVAR accepts others).
    func makeSession(classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]?) throws -> GenerationSession
    /// Analytic FLOPs of one image: transformer (with the guidance rows) and full decode.
    func flops(cfg: Float) -> (transformer: Double, decoder: Double)
}

extension Generator {
    public var defaultSchedule: [ScaleShape] { schedules[0] }

    public func makeSession(classIndex: Int, options: SamplingOptions) throws -> GenerationSession {
        try makeSession(classIndex: classIndex, options: options, schedule: nil)
    }

    /// Resolves a class given as an index ("207") or a name (exact, then unique prefix, case-insensitive).
    public func resolveClass(_ s: String) throws -> Int {
        let t = s.trimmingCharacters(in: .whitespaces)
        if let i = Int(t) {
            guard (0..<classNames.count).contains(i) else {
                throw EngineError.badArgument("class \(i) is out of range 0…\(classNames.count - 1)")
            }
            return i
        }
        if let i = classNames.firstIndex(of: t) { return i }
        let lower = t.lowercased()
        if let i = classNames.firstIndex(where: { $0.lowercased() == lower }) { return i }
        let hits = classNames.indices.filter { classNames[$0].lowercased().hasPrefix(lower) }
        if hits.count == 1 { return hits[0] }
        if hits.isEmpty { throw EngineError.badArgument("unknown class '\(s)' (see `scalewise classes`)") }
        let names = hits.prefix(5).map { "\($0) \(classNames[$0])" }.joined(separator: ", ")
        throw EngineError.badArgument("class '\(s)' is ambiguous: \(names)\(hits.count > 5 ? ", …" : "")")
    }
}

/// VAR and MVAR checkpoints share one layout; the family decides the inference procedure.
public final class VARGenerator: Generator, @unchecked Sendable {
    public let model: VAR
    public let name: String
    public let family: String
    public let classNames: [String]
    public let defaults: SamplingOptions
    public let parameterCount: Int
    public let precision: Precision
    public var schedules: [[ScaleShape]] { [model.scales] }

    init(model: VAR, name: String, family: String, classNames: [String], defaults: SamplingOptions,
         parameterCount: Int, precision: Precision) {
        self.precision = precision
        self.model = model
        self.name = name
        self.family = family
        self.classNames = classNames
        self.defaults = defaults
        self.parameterCount = parameterCount
    }

    public func makeSession(classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]?) throws -> GenerationSession {
        if let s = schedule, s != model.scales {
            throw EngineError.badArgument("\(family) runs its fixed schedule \(model.config.patch_nums); only FlexVAR takes others")
        }
        return try VARSession(model: model, classIndex: classIndex, options: options, markov: family == "mvar")
    }
}

public final class FlexVARGenerator: Generator, @unchecked Sendable {
    public let model: FlexVAR
    public let name: String
    public let family = "flexvar"
    public let classNames: [String]
    public let defaults: SamplingOptions
    public let parameterCount: Int
    public let precision: Precision
    /// Named step presets for the model's latent side: paper Table 7 (6…13 steps) for a 16×16 latent; for
    /// other sides our analogues (see `FlexVAR.presets(side:)`); always including the training schedule.
    public var schedules: [[ScaleShape]] {
        let side = model.config.patch_nums.last ?? 16
        var all = FlexVAR.presets(side: side)
        if !all.contains(model.config.patch_nums) { all.append(model.config.patch_nums) }
        return all.sorted { $0.count < $1.count }.map { $0.map { ScaleShape($0, $0) } }
    }

    public var defaultSchedule: [ScaleShape] { model.config.patch_nums.map { ScaleShape($0, $0) } }

    init(model: FlexVAR, name: String, classNames: [String], defaults: SamplingOptions, parameterCount: Int,
         precision: Precision) {
        self.precision = precision
        self.model = model
        self.name = name
        self.classNames = classNames
        self.defaults = defaults
        self.parameterCount = parameterCount
    }

    public func makeSession(classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]?) throws -> GenerationSession {
        let s = schedule ?? defaultSchedule
        return try FlexVARSession(model: model, classIndex: classIndex, options: options, schedule: s)
    }

}

public final class AiMGenerator: Generator, @unchecked Sendable {
    public let model: AiM
    public let name: String
    public let family = "aim"
    public let classNames: [String]
    public let defaults: SamplingOptions
    public let parameterCount: Int
    public let precision: Precision
    /// One step per row of the token map.
    public var schedules: [[ScaleShape]] {
        [[ScaleShape](repeating: ScaleShape(1, model.config.side), count: model.config.side)]
    }

    init(model: AiM, name: String, classNames: [String], defaults: SamplingOptions, parameterCount: Int,
         precision: Precision) {
        (self.model, self.name, self.classNames) = (model, name, classNames)
        (self.defaults, self.parameterCount, self.precision) = (defaults, parameterCount, precision)
    }

    public func makeSession(classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]?) throws -> GenerationSession {
        if let s = schedule, s != schedules[0] {
            throw EngineError.badArgument("AiM generates its \(model.config.num_tokens) tokens row by row; no other schedule")
        }
        return try AiMSession(model: model, classIndex: classIndex, options: options)
    }

    /// Per token and row: every layer's Mamba-2 and the tied head; then one decode of the full map.
    public func flops(cfg: Float) -> (transformer: Double, decoder: Double) {
        let c = model.config, perToken = model.layers.reduce(0) { $0 + $1.mixer.flops(tokens: 1) } + 2 * Double(c.d_model * c.vocab_size)
        return (perToken * Double(c.num_tokens) * (cfg == 1 ? 1 : 2), model.tokenizer?.decoder.flops(h: c.side, w: c.side) ?? 0)
    }
}
