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
    var parameterCount: Int { get }
    func makeSession(classIndex: Int, options: SamplingOptions) throws -> GenerationSession
    /// Analytic FLOPs of one image: transformer (with the guidance rows) and full decode.
    func flops(cfg: Float) -> (transformer: Double, decoder: Double)
}

extension Generator {
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
    public var schedules: [[ScaleShape]] { [model.scales] }

    init(model: VAR, name: String, family: String, classNames: [String], defaults: SamplingOptions,
         parameterCount: Int) {
        self.model = model
        self.name = name
        self.family = family
        self.classNames = classNames
        self.defaults = defaults
        self.parameterCount = parameterCount
    }

    public func makeSession(classIndex: Int, options: SamplingOptions) throws -> GenerationSession {
        try VARSession(model: model, classIndex: classIndex, options: options)
    }
}
