import Foundation

/// The bookkeeping every family's session shares: the class and options, the steps, each step's seed, the
/// results so far, teacher forcing's checks, timing, stepping back and re-rolling. A family's session
/// subclasses it and supplies the step itself (`advance`), what it drops when stepping back (`truncate`),
/// its logits and its previews.
///
/// Not `Sendable`: a session is mutable and belongs to one thread of work at a time (the TUI's worker thread,
/// the CLI's main thread).
public class SessionCore: GenerationSession {
    public let classIndex: Int
    public let options: SamplingOptions
    /// The shape of every step's token map.
    public let scales: [ScaleShape]
    /// The seed each step draws from (stream = step index); `reroll` changes a suffix of it.
    public private(set) var scaleSeeds: [UInt64]
    public private(set) var results: [ScaleResult] = []
    public var completed: Int { results.count }
    /// What one step generates, for messages: "scale", "step", "row".
    let unit: String
    /// Token ids run over 0..<vocab.
    let vocab: Int

    /// `classIndex` must have passed `checked(class:of:)` (a subclass builds its model state before this).
    init(classIndex: Int, options: SamplingOptions, scales: [ScaleShape], vocab: Int, unit: String) {
        (self.classIndex, self.options, self.scales, self.vocab, self.unit) = (classIndex, options, scales, vocab, unit)
        scaleSeeds = [UInt64](repeating: options.seed, count: scales.count)
    }

    /// `classIndex` if it is one of the model's `classes`, else the error every session gives.
    static func checked(class classIndex: Int, of classes: Int) throws -> Int {
        guard (0..<classes).contains(classIndex) else {
            throw EngineError.badArgument("class \(classIndex) is out of range 0…\(classes - 1)")
        }
        return classIndex
    }

    public func step() throws -> ScaleResult { try step(forcing: nil) }

    /// Runs one more step; with `forcing`, the given tokens replace the sampled ones (teacher forcing: parity
    /// tests, editing).
    public func step(forcing forced: [Int32]?) throws -> ScaleResult {
        let si = completed
        guard si < scales.count else { throw EngineError.badArgument("all \(scales.count) \(unit)s are done") }
        let l = scales[si].count
        if let f = forced, f.count != l || !f.allSatisfy({ (0..<Int32(vocab)).contains($0) }) {
            throw EngineError.badArgument("forced tokens for \(unit) \(si) must be \(l) ids in 0..<\(vocab)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var rng = Rng(seed: scaleSeeds[si], stream: UInt64(si))
        let (tokens, guidance) = advance(step: si, forcing: forced, rng: &rng)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let result = ScaleResult(index: si, shape: scales[si], tokens: tokens, guidance: guidance, milliseconds: ms)
        results.append(result)
        return result
    }

    /// The family's step `si`: runs the model, samples (or takes `forced`) and keeps what the next step reads.
    /// Returns the tokens and the guidance applied.
    func advance(step si: Int, forcing forced: [Int32]?, rng: inout Rng) -> (tokens: [Int32], guidance: Float) {
        preconditionFailure("\(type(of: self)) does not implement advance(step:forcing:rng:)")
    }

    /// Drops the family's state beyond `k` completed steps.
    func truncate(to k: Int) {}

    public func rewind(to k: Int) {
        let k = max(0, min(k, completed))
        results.removeLast(completed - k)
        truncate(to: k)
    }

    /// Sets the seed of one step (reproducing a re-rolled image from its record).
    public func overrideSeed(scale k: Int, seed: UInt64) { scaleSeeds[k] = seed }

    public func reroll(from k: Int, seed: UInt64) {
        rewind(to: k)
        for i in k..<scaleSeeds.count { scaleSeeds[i] = seed }
    }

    /// Keep each step's guided logits in `lastLogits` (tests, analysis).
    public var keepLogits: Bool {
        get { false }
        set {}
    }

    /// The guided logits of the last step, [tokens, V], when `keepLogits` is set.
    public var lastLogits: [Float] { [] }

    public func preview(after k: Int, tier: PreviewTier) -> RGBImage {
        preconditionFailure("\(type(of: self)) does not implement preview(after:tier:)")
    }
}

public enum EngineError: Error, CustomStringConvertible {
    case badArgument(String)
    public var description: String {
        switch self {
        case .badArgument(let s): return terminalSafe(s, limit: 1000)
        }
    }
}
