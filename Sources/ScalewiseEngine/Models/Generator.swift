import Foundation

/// A loaded generator with its tokenizer: what the CLI and TUI hold. Immutable, shareable across threads;
/// all per-image state lives in the sessions it makes. What differs between families is asked through this
/// protocol and `capabilities`, never by casting to a family's class.
public protocol Generator: AnyObject, Sendable {
    /// The file, family, classes, defaults and precision it was loaded with.
    var info: GeneratorInfo { get }
    /// Schedules the model can run; fixed models have exactly one.
    var schedules: [[ScaleShape]] { get }
    /// The schedule a session runs when none is asked for (the training schedule).
    var defaultSchedule: [ScaleShape] { get }
    /// A session over `schedule` (nil: the model's default; only families with `freeSchedule` accept others).
    func makeSession(classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]?) throws -> GenerationSession
    /// Analytic FLOPs of one image: transformer (with the guidance rows) and full decode.
    func flops(cfg: Float) -> (transformer: Double, decoder: Double)
    /// Bytes of the per-image state a session holds at its largest (KV cache, recurrent states and their
    /// snapshots) when sampling at `cfg`.
    func stateBytes(cfg: Float) -> Int
    /// A session that regenerates part of `image` as `plan` says (families with `canEdit`), and the per-step
    /// masks of the tokens it keeps.
    func makeEditSession(image: RGBImage, plan: EditPlan, classIndex: Int, options: SamplingOptions,
                         schedule: [ScaleShape]) throws -> (GenerationSession, [[Bool]])
    /// The steps that session runs for a `width`×`height` image (an extend keeps the image's pixels per token and
    /// adds the new half); refuses an output too large for the model, or beyond the learned sizes unless `allowLarge`.
    func editSteps(plan: EditPlan, schedule: [ScaleShape], width: Int, height: Int, allowLarge: Bool) throws -> [ScaleShape]
}

extension Generator {
    public var name: String { info.name }
    /// The family's name ("var", "mvar", "mambavar", "flexvar", "aim").
    public var family: String { info.family.name }
    public var modelFamily: ModelFamily { info.family }
    public var capabilities: FamilyCapabilities { info.family.capabilities }
    public var classNames: [String] { info.classNames }
    public var defaults: SamplingOptions { info.defaults }
    public var parameterCount: Int { info.parameterCount }
    public var precision: Precision { info.precision }
    public var defaultSchedule: [ScaleShape] { schedules[0] }

    public func makeEditSession(image: RGBImage, plan: EditPlan, classIndex: Int, options: SamplingOptions,
                                schedule: [ScaleShape]) throws -> (GenerationSession, [[Bool]]) {
        throw EngineError.badArgument("\(info.family.title) cannot edit images")
    }

    public func editSteps(plan: EditPlan, schedule: [ScaleShape], width: Int, height: Int,
                          allowLarge: Bool) throws -> [ScaleShape] {
        throw EngineError.badArgument("\(info.family.title) cannot edit images")
    }

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
