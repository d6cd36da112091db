import Foundation
import ScalewiseKernels

/// Incremental VAR (and MVAR, M-VAR) generation. After scale k the session holds exactly what scale k+1 needs:
/// the KV cache of scales 0…k (per block, per conditioning row; none for MVAR; for M-VAR every block's Mamba
/// state instead, snapshotted per scale) and f̂ after scale k. Every earlier f̂ is kept (32 KB each at
/// 16×16×32), so stepping back only moves the cache length and re-rolling starts from a stored f̂.
public final class VARSession: GenerationSession, @unchecked Sendable {
    public let model: VAR
    public let classIndex: Int
    public let options: SamplingOptions
    /// The seed each scale draws from (stream = scale index); `reroll` changes a suffix of it.
    public private(set) var scaleSeeds: [UInt64]
    public private(set) var results: [ScaleResult] = []
    public var scales: [ScaleShape] { model.scales }
    public var completed: Int { results.count }
    /// MVAR (scale- and spatial-Markov): attention inside the current scale only, and from scale index
    /// `refineStep` on inside a `neighborhoodKernel`² window; nothing but f̂ is carried between scales.
    let markov: Bool
    public static let refineStep = 8, neighborhoodKernel = 7
    var refineStep: Int { model.config.refine_step ?? Self.refineStep }
    var neighborhoodKernel: Int { model.config.kernel_size ?? Self.neighborhoodKernel }

    private let run: TrunkRun
    /// fHats[k] = f̂ after k scales; fHats[0] = 0.
    private var fHats: [Tensor]

    public init(model: VAR, classIndex: Int, options: SamplingOptions, markov: Bool = false) throws {
        guard (0..<model.config.num_classes).contains(classIndex) else {
            throw EngineError.badArgument("class \(classIndex) is out of range 0…\(model.config.num_classes - 1)")
        }
        self.model = model
        self.classIndex = classIndex
        self.options = options
        self.markov = markov
        scaleSeeds = [UInt64](repeating: options.seed, count: model.config.patch_nums.count)
        // Without guidance the unconditional row is never used: skip it. The official MVAR sampler also
        // turns guidance off entirely at cfg 1.
        let unguided = options.cfg == 0 || (markov && options.cfg == 1)
        let labels = unguided ? [classIndex] : [classIndex, model.nullClass]
        let maxTokens = model.config.patch_nums.map { $0 * $0 }.max()!
        let local = markov || model.isMambaVAR
        try MemoryBudget.checkTrunkRun(model.trunk, rows: labels.count, capacity: local ? maxTokens : model.beginEnds.last!,
                                       maxTokens: maxTokens, what: "this model's schedule")
        run = TrunkRun(trunk: model.trunk, labels: labels, capacity: local ? maxTokens : model.beginEnds.last!,
                       maxTokens: maxTokens)
        let side = model.tokenizer.latentSide
        fHats = [Tensor(shape: [model.config.Cvae, side, side])]
    }

    /// Keep a copy of each step's guided logits in `lastLogits` (tests, analysis).
    public var keepLogits: Bool {
        get { run.keepLogits }
        set { run.keepLogits = newValue }
    }
    public var lastLogits: [Float] { run.lastLogits }

    /// The guidance VAR applies at scale si: a linear ramp from 0 to cfg over the schedule.
    public func guidance(at si: Int) -> Float {
        guard run.rows == 2 else { return 0 }
        return options.cfg * Float(si) / Float(max(model.config.patch_nums.count - 1, 1))
    }

    public func step() throws -> ScaleResult { try step(forcing: nil) }

    /// Runs one scale; with `forcing`, the given tokens replace the sampled ones (teacher forcing:
    /// parity tests, in-painting).
    public func step(forcing forced: [Int32]?) throws -> ScaleResult {
        let si = completed
        guard si < scales.count else { throw EngineError.badArgument("all \(scales.count) scales are done") }
        let start = DispatchTime.now().uptimeNanoseconds
        let pn = model.config.patch_nums[si], l = pn * pn, C = model.C, V = model.config.vocab_size
        if let f = forced, f.count != l || !f.allSatisfy({ (0..<Int32(V)).contains($0) }) {
            throw EngineError.badArgument("forced tokens for scale \(si) must be \(l) ids in 0..<\(V)")
        }
        if si == 0 {
            for r in 0..<run.rows { model.firstInput(label: r == 0 ? classIndex : model.nullClass, into: run.x.ptr + r * C) }
        } else {
            model.scaleInput(fHat: fHats[si], scale: si, into: run.x.ptr)
            run.broadcastInput(tokens: l)
        }
        let scope: AttentionScope = model.isMambaVAR ? .local : !markov ? .cached
            : si >= refineStep ? .neighborhood(h: pn, w: pn, kernel: neighborhoodKernel) : .local
        run.forward(tokens: l, offset: model.beginEnds[si], scope: scope)
        let t = guidance(at: si)
        var rng = Rng(seed: scaleSeeds[si], stream: UInt64(si))
        let tokens = run.sample(tokens: l, guidance: t, topK: options.topK, topP: options.topP,
                                temperature: options.temperature, rng: &rng, forced: forced)
        let fHat = fHats[si].copy()
        model.tokenizer.accumulate(fHat: fHat, code: codeMap(tokens: tokens, scale: si, rng: &rng), scale: si)
        fHats.append(fHat)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let result = ScaleResult(index: si, shape: scales[si], tokens: tokens, guidance: t, milliseconds: ms)
        results.append(result)
        return result
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

    public func rewind(to k: Int) {
        let k = max(0, min(k, completed))
        results.removeLast(completed - k)
        fHats.removeLast(fHats.count - (k + 1))
    }

    /// Sets the seed of one scale (reproducing a re-rolled image from its record).
    public func overrideSeed(scale k: Int, seed: UInt64) { scaleSeeds[k] = seed }

    public func reroll(from k: Int, seed: UInt64) {
        rewind(to: k)
        for i in k..<scaleSeeds.count { scaleSeeds[i] = seed }
    }

    /// f̂ after `k` completed scales.
    public func fHat(after k: Int) -> Tensor { fHats[max(0, min(k, completed))] }

    public func preview(after k: Int, tier: PreviewTier) -> RGBImage {
        let f = fHat(after: k)
        switch tier {
        case .projection: return model.tokenizer.projectPreview(f)
        case .decoded: return imageFromUnit(model.tokenizer.decode(fHat: f))
        }
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
