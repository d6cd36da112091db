import Foundation
import ScalewiseKernels

/// Incremental generation for the families on VAR's checkpoint layout (VAR, MVAR, M-VAR): next-scale
/// prediction over the multi-scale residual tokenizer (VAR paper §3.2; official
/// `models/var.py: VAR.autoregressive_infer_cfg`). After scale k the session holds exactly what scale k+1
/// needs: f̂ after scale k and whatever `conditioning` carries (VAR: the KV cache of scales 0…k; MVAR:
/// nothing; M-VAR: every block's Mamba state, snapshotted per scale). Every earlier f̂ is kept (32 KB each at
/// 16×16×32), so stepping back only moves the cache length and re-rolling starts from a stored f̂.
public final class VARSession: SessionCore {
    public let model: VAR
    /// What each scale attends to: the one thing VAR, MVAR and M-VAR do differently here.
    let conditioning: ScaleConditioning
    /// MVAR's scale- and spatial-Markov conditioning: nothing but f̂ is carried between scales.
    public var markov: Bool { conditioning.markov }

    private let run: TrunkRun
    /// fHats[k] = f̂ after k scales; fHats[0] = 0.
    private var fHats: [Tensor]

    /// A session with the conditioning the model's blocks imply: VAR's, or M-VAR's when they carry Mamba.
    public convenience init(model: VAR, classIndex: Int, options: SamplingOptions) throws {
        try self.init(model: model, classIndex: classIndex, options: options, conditioning: model.blockConditioning)
    }

    init(model: VAR, classIndex: Int, options: SamplingOptions, conditioning: ScaleConditioning) throws {
        let classIndex = try Self.checked(class: classIndex, of: model.config.num_classes)
        self.model = model
        self.conditioning = conditioning
        // Without guidance the unconditional row is never used: skip it.
        let unguided = options.constantCFG ? options.cfg == 1 : conditioning.unguided(cfg: options.cfg)
        let labels = unguided ? [classIndex] : [classIndex, model.nullClass]
        let maxTokens = model.config.patch_nums.map { $0 * $0 }.max()!
        let capacity = conditioning.attendsToEarlierScales ? model.beginEnds.last! : maxTokens
        try MemoryBudget.checkTrunkRun(model.trunk, rows: labels.count, capacity: capacity, maxTokens: maxTokens,
                                       what: "this model's schedule")
        run = TrunkRun(trunk: model.trunk, labels: labels, capacity: capacity, maxTokens: maxTokens)
        let side = model.tokenizer.latentSide
        fHats = [Tensor(shape: [model.config.Cvae, side, side])]
        super.init(classIndex: classIndex, options: options, scales: model.scales,
                       vocab: model.config.vocab_size, unit: "scale")
    }

    public override var keepLogits: Bool {
        get { run.keepLogits }
        set { run.keepLogits = newValue }
    }
    public override var lastLogits: [Float] { run.lastLogits }

    /// The guidance t of (1 + t)·c − t·u at scale si: VAR's ramp from 0 to cfg over the schedule
    /// (`models/var.py: VAR.autoregressive_infer_cfg`), or u + cfg·(c − u), t = cfg − 1, under the constant rule.
    public func guidance(at si: Int) -> Float {
        guard run.rows == 2 else { return 0 }
        if options.constantCFG { return options.cfg - 1 }
        return options.cfg * Float(si) / Float(max(model.config.patch_nums.count - 1, 1))
    }

    /// Scale si: its input (the class token, or area↓ of f̂), the blocks under the family's attention, the
    /// guided draw, and f̂ plus this scale's upsampled residual.
    override func advance(step si: Int, forcing forced: [Int32]?, rng: inout Rng) -> (tokens: [Int32], guidance: Float) {
        let pn = model.config.patch_nums[si], l = pn * pn, C = model.C
        if si == 0 {
            for r in 0..<run.rows { model.firstInput(label: r == 0 ? classIndex : model.nullClass, into: run.x.ptr + r * C) }
        } else {
            model.scaleInput(fHat: fHats[si], scale: si, into: run.x.ptr)
            run.broadcastInput(tokens: l)
        }
        run.forward(tokens: l, offset: model.beginEnds[si], scope: conditioning.attention(scale: si, side: pn))
        let t = guidance(at: si)
        let tokens = run.sample(tokens: l, guidance: t, topK: options.topK, topP: options.topP,
                                temperature: options.temperature, rng: &rng, forced: forced)
        let fHat = fHats[si].copy()
        model.tokenizer.accumulate(fHat: fHat, code: codeMap(tokens: tokens, scale: si, rng: &rng), scale: si)
        fHats.append(fHat)
        return (tokens, run.rows == 2 && options.constantCFG ? options.cfg : t)
    }

    /// The scale's code map [Cvae, pn, pn]: codebook rows of the tokens, or with `more_smooth` the
    /// Gumbel-softmax-weighted mix of codebook rows (noise drawn after the tokens, as upstream does).
    private func codeMap(tokens: [Int32], scale si: Int, rng: inout Rng) -> Tensor {
        let pn = model.config.patch_nums[si], vq = model.tokenizer
        guard options.moreSmooth else { return vq.embed(tokens, h: pn, w: pn) }
        let V = model.config.vocab_size, Cv = vq.Cvae, l = pn * pn
        let ratio = Double(si) / Double(max(scales.count - 1, 1))
        let w = Tensor(shape: [l, V]), soft = Tensor(shape: [l, Cv])
        for p in 0..<l {
            gumbelSoftmaxWeights(run.logits.ptr + p * V, vocab: V, ratio: ratio, rng: &rng, into: w.ptr + p * V)
        }
        gemm(transA: false, transB: false, m: l, n: Cv, k: V, alpha: 1, a: w.ptr, lda: V, b: vq.codebook.ptr,
             ldb: Cv, beta: 0, c: soft.ptr, ldc: Cv)
        let out = Tensor(shape: [Cv, pn, pn])
        transpose(soft.ptr, rows: l, cols: Cv, into: out.ptr)
        return out
    }

    override func truncate(to k: Int) { fHats.removeLast(fHats.count - (k + 1)) }

    /// f̂ after `k` completed scales.
    public func fHat(after k: Int) -> Tensor { fHats[max(0, min(k, completed))] }

    public override func preview(after k: Int, tier: PreviewTier) -> RGBImage {
        let f = fHat(after: k)
        switch tier {
        case .projection: return model.tokenizer.projectPreview(f)
        case .decoded: return imageFromUnit(model.tokenizer.decode(fHat: f))
        }
    }
}
