import Foundation
import ScalewiseKernels

/// Raster-order AiM generation, one row of the token map per step (16 tokens at 256 px), so the stepping UI
/// shows token-wise generation next to the coarse-to-fine families. Inside a row the tokens come one at a time
/// through the Mamba-2 recurrence; guidance is constant, u + cfg·(c − u), at every token, and the chosen token
/// feeds both rows. The session keeps only the states after the last fed token: stepping
/// back truncates the tokens and the next step rebuilds the states in one chunked pass over them (GEMMs) —
/// a snapshot per row would cost 39 MB each for AiM-B.
public final class AiMSession: SessionCore {
    public let model: AiM
    /// The image tokens so far, row-major.
    public private(set) var tokens: [Int32] = []
    /// Image token k is fed at position k + posShift (the file's `sample_pos_shift`; settable for analysis).
    public var posShift: Int
    /// Keep each row's guided logits in `lastLogits` ([side, V], tests and analysis).
    public override var keepLogits: Bool {
        get { sampler.keepLogits }
        set { sampler.keepLogits = newValue }
    }
    public override var lastLogits: [Float] { rowLogits }

    private let run: AiMRun
    private var sampler: GuidedSampler
    private var rowLogits: [Float] = []
    /// Sequence elements (class token first) folded into the states.
    private var consumed = 0

    public init(model: AiM, classIndex: Int, options: SamplingOptions) throws {
        let classIndex = try Self.checked(class: classIndex, of: model.config.num_classes)
        // AiM's sampler has one guidance rule, the constant one: the session runs and reports it whatever the options
        // say (the CLI refuses `--cfg-mode ramp` for AiM).
        var options = options
        options.cfgMode = .constant
        self.model = model
        let side = model.config.side
        posShift = model.config.posShift
        // cfg 1 is the conditional logits alone: skip the unconditional row.
        run = AiMRun(model: model, labels: options.cfg == 1 ? [classIndex] : [classIndex, model.nullClass])
        sampler = GuidedSampler(vocab: model.config.vocab_size)
        // One 1×side "scale" per row of the map.
        super.init(classIndex: classIndex, options: options, scales: [ScaleShape](repeating: ScaleShape(1, side), count: side),
                   vocab: model.config.vocab_size, unit: "row")
    }

    /// Row si, token by token through the recurrence; each token feeds both conditioning rows.
    override func advance(step si: Int, forcing forced: [Int32]?, rng: inout Rng) -> (tokens: [Int32], guidance: Float) {
        let side = model.config.side
        if consumed != si * side { rebuildStates() }
        let t = options.cfg - 1
        var row: [Int32] = [], logits: [Float] = []
        for j in (si * side)..<((si + 1) * side) {
            let x = model.elements(j..<(j + 1), labels: run.labels, tokens: tokens, posShift: posShift)
            run.forward(x, tokens: 1, scan: .recurrent)
            consumed = j + 1
            let token = sampler.sample(run.logits.ptr, rows: run.rows, tokens: 1, guidance: t, topK: options.topK,
                                       topP: options.topP, temperature: options.temperature, rng: &rng,
                                       forced: forced.map { [$0[j - si * side]] })[0]
            if keepLogits { logits += sampler.lastLogits }
            row.append(token)
            tokens.append(token)
        }
        rowLogits = logits
        return (row, run.rows == 2 ? options.cfg : 0)
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

    override func truncate(to k: Int) { tokens.removeLast(tokens.count - k * model.config.side) }

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

    public override func preview(after k: Int, tier: PreviewTier) -> RGBImage {
        guard let vq = model.tokenizer, let c = codes(after: k) else {
            return RGBImage(width: model.config.side, height: model.config.side)
        }
        switch tier {
        case .projection: return vq.projectPreview(c)
        case .decoded: return imageFromUnit(vq.decode(codes: c))
        }
    }
}
