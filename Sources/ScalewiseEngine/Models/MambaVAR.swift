import Foundation

// M-VAR: decoupled scale-wise autoregressive modelling (arXiv 2411.10433, §3.2).
//
// VAR's attention does two jobs at once: tokens of one scale looking at each other (intra-scale, where most of
// the attention mass lies and sequences are short) and looking back at the coarser scales (inter-scale, where
// the sequence is long). M-VAR gives each job its own layer. In every block (`AdaLNBlock` with `mamba`):
//
//   S'  = [Attn(C), Attn(s₁), …, Attn(sₙ₋₁)]     attention inside each scale only, bidirectional   (eq. 5)
//   S'' = Mamba(Concat(S'))                      causal Mamba-2 over every token so far             (eq. 6)
//
// the earlier scales coarse to fine, each row-major, then the current one; then the FFN. AdaLN grows to 9C
// (γ, scale, shift for three sublayers). Everything else — tokenizer, embeddings, level positions, head,
// sampler, f̂ — is VAR's (`VAR`, `VARSession`).
//
// Official checkpoints: d16/d20 without `scale_mul_1H11` (attention scale 1/32), d24/d32 with it;
// Mamba2(d_model=C, d_state=64, d_conv=4, expand=2, headdim=64) → H = 2C/64 heads, G = 1.
//
// Inference. The released sampler re-runs Mamba from zero over all cached tokens at every scale. Mamba is
// causal and the inputs of earlier scales never change (LayerNorm is per token; the AdaLN terms depend only on
// the class), so carrying each block's conv window and SSM state from scale to scale is exactly equal: a
// scale's pn² tokens go through the chunked scan (GEMMs) continuing from the state, which is then carried on —
// memory that does not grow with the sequence, instead of a cache that does. `TrunkRun` keeps the state after
// every scale (`RecurrentStates`), so stepping back and re-rolling recompute nothing.

/// M-VAR's conditioning of scale si: attention inside the scale; the earlier scales reach it through the
/// blocks' Mamba states, which `TrunkRun` carries.
struct DecoupledConditioning: ScaleConditioning {
    func attention(scale si: Int, side pn: Int) -> AttentionScope { .local }
    var attendsToEarlierScales: Bool { false }

    /// Keys and values of the largest scale, and one snapshot of every block's Mamba state per scale.
    func stateBytes(_ model: VAR, rows: Int) -> Int {
        model.kvCacheBytes(tokens: model.scales.map(\.count).max() ?? 0, rows: rows)
            + model.scales.count * model.recurrentStateBytes(rows: rows)
    }
}

extension VAR {
    /// Whether the blocks carry M-VAR's Mamba sublayer (`blocks.i.mamba.*`).
    public var isMambaVAR: Bool { trunk.blocks.first?.mamba != nil }

    /// Bytes of every block's Mamba state (conv window + SSM state, fp32) for `rows` conditioning rows: what
    /// M-VAR carries from one scale to the next, the same size after every scale. A session keeps one such
    /// snapshot per completed scale. 0 for VAR and MVAR.
    public func recurrentStateBytes(rows: Int) -> Int {
        trunk.blocks.reduce(0) { $0 + ($1.mamba.map { Mamba2State.bytes($0.config, rows: rows) } ?? 0) }
    }
}

extension ModelFamily {
    /// Detected by the blocks' `mamba.*` sublayer.
    static let mambavar: ModelFamily = ModelFamily(
        name: "mambavar", title: "M-VAR",
        defaults: SamplingOptions(),  // VAR's demo settings, which M-VAR's sampler keeps
        detect: { $0.has("blocks.0.mamba.in_proj.weight") },
        load: { w, ctx in try VARGenerator.load(w, ctx, family: .mambavar) { _ in DecoupledConditioning() } },
        convertConfig: VAR.convertConfig, officialTokenizer: "vae_ch160v4096z32.pth", imageSide: VARGenerator.imageSide)
}
