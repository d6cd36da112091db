import Foundation
import ScalewiseKernels

/// Raster-order AiM generation, one row of the token map per step (16 tokens at 256 px), so the stepping UI
/// shows token-wise generation next to the coarse-to-fine families. Inside a row the tokens come one at a time
/// through the Mamba-2 recurrence; guidance is constant, u + cfg·(c − u), at every token, and the chosen token
/// feeds both rows. The session keeps only the states after the last fed token: stepping
/// back truncates the tokens and the next step rebuilds the states in one chunked pass over them (GEMMs) —
/// a snapshot per row would cost 39 MB each for AiM-B.
public final class AiMSession: GenerationSession, @unchecked Sendable {
    public let model: AiM, classIndex: Int, options: SamplingOptions
    /// One 1×side "scale" per row of the map.
    public let scales: [ScaleShape]
    public private(set) var scaleSeeds: [UInt64], results: [ScaleResult] = []
    public var completed: Int { results.count }
    /// The image tokens so far, row-major.
    public private(set) var tokens: [Int32] = []
    /// Image token k is fed at position k + posShift (the file's `sample_pos_shift`; settable for analysis).
    public var posShift: Int
    /// Keep each row's guided logits in `lastLogits` ([side, V], tests and analysis).
    public var keepLogits: Bool {
        get { sampler.keepLogits }
        set { sampler.keepLogits = newValue }
    }
    public private(set) var lastLogits: [Float] = []

    private let run: AiMRun
    private var sampler: GuidedSampler
    /// Sequence elements (class token first) folded into the states.
    private var consumed = 0

    public init(model: AiM, classIndex: Int, options: SamplingOptions) throws {
        guard (0..<model.config.num_classes).contains(classIndex) else {
            throw EngineError.badArgument("class \(classIndex) is out of range 0…\(model.config.num_classes - 1)")
        }
        self.model = model
        self.classIndex = classIndex
        self.options = options
        let side = model.config.side
        scales = [ScaleShape](repeating: ScaleShape(1, side), count: side)
        scaleSeeds = [UInt64](repeating: options.seed, count: side)
        posShift = model.config.posShift
        // cfg 1 is the conditional logits alone: skip the unconditional row.
        run = AiMRun(model: model, labels: options.cfg == 1 ? [classIndex] : [classIndex, model.nullClass])
        sampler = GuidedSampler(vocab: model.config.vocab_size)
    }

    public func step() throws -> ScaleResult { try step(forcing: nil) }

    /// Generates one row; with `forcing`, the given tokens are fed instead of sampled (teacher forcing).
    public func step(forcing forced: [Int32]?) throws -> ScaleResult {
        let si = completed, side = model.config.side, V = model.config.vocab_size
        guard si < scales.count else { throw EngineError.badArgument("all \(scales.count) rows are done") }
        if let f = forced, f.count != side || !f.allSatisfy({ (0..<Int32(V)).contains($0) }) {
            throw EngineError.badArgument("forced tokens for row \(si) must be \(side) ids in 0..<\(V)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        if consumed != si * side { rebuildStates() }
        var rng = Rng(seed: scaleSeeds[si], stream: UInt64(si))
        let t = options.cfg - 1
        var row: [Int32] = [], rowLogits: [Float] = []
        for j in (si * side)..<((si + 1) * side) {
            let x = model.elements(j..<(j + 1), labels: run.labels, tokens: tokens, posShift: posShift)
            run.forward(x, tokens: 1, scan: .recurrent)
            consumed = j + 1
            let token = sampler.sample(run.logits.ptr, rows: run.rows, tokens: 1, guidance: t, topK: options.topK,
                                       topP: options.topP, temperature: options.temperature, rng: &rng,
                                       forced: forced.map { [$0[j - si * side]] })[0]
            if keepLogits { rowLogits += sampler.lastLogits }
            row.append(token)
            tokens.append(token)
        }
        lastLogits = rowLogits
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let result = ScaleResult(index: si, shape: scales[si], tokens: row, guidance: run.rows == 2 ? t : 0,
                                 milliseconds: ms)
        results.append(result)
        return result
    }

    /// States after the kept tokens, from zero: element 0 (the class) and every token but the last, whose
    /// turn to be fed comes with the next step.
    private func rebuildStates() {
        run.reset()
        let n = tokens.count
        if n > 0 {
            let x = model.elements(0..<n, labels: run.labels, tokens: tokens, posShift: posShift)
            run.forward(x, tokens: n, scan: .chunked(Mamba2.defaultChunk), head: false)
        }
        consumed = n
    }

    public func rewind(to k: Int) {
        let k = max(0, min(k, completed))
        results.removeLast(completed - k)
        tokens.removeLast(tokens.count - k * model.config.side)
    }

    public func overrideSeed(scale k: Int, seed: UInt64) { scaleSeeds[k] = seed }

    public func reroll(from k: Int, seed: UInt64) {
        rewind(to: k)
        for i in k..<scaleSeeds.count { scaleSeeds[i] = seed }
    }

    /// The code map after `k` rows with the rows not yet generated left at zero: [D, side, side].
    public func codes(after k: Int) -> Tensor? {
        guard let vq = model.tokenizer else { return nil }
        let side = model.config.side, n = max(0, min(k, completed)) * side
        let full = Tensor(shape: [vq.codeDim, side, side])
        for (p, t) in tokens.prefix(n).enumerated() {
            for c in 0..<vq.codeDim { full.ptr[c * side * side + p] = vq.codebook.ptr[Int(t) * vq.codeDim + c] }
        }
        return full
    }

    public func preview(after k: Int, tier: PreviewTier) -> RGBImage {
        guard let vq = model.tokenizer, let c = codes(after: k) else {
            return RGBImage(width: model.config.side, height: model.config.side)
        }
        switch tier {
        case .projection: return vq.projectPreview(c)
        case .decoded: return imageFromUnit(vq.decode(codes: c))
        }
    }
}
