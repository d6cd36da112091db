import Foundation

// MVAR: visual autoregressive modelling with scale and spatial Markovian conditioning (Zhang et al. 2025, §3
// "Scale and Spatial Markovian Conditioning"; official `models/mvar.py`, `run_mvar_demo.py`).
//
// The checkpoint is VAR's, key for key: the same trunk, tokenizer, f̂ accumulation and sampler (`VAR`,
// `VARSession`). What changes is what a scale is conditioned on.
//
// 1. Scale-Markov. VAR lets scale k attend to scales 0…k. MVAR assumes scale k depends on the earlier scales
//    only through its own input, area↓(f̂) of scale k−1 — already the sum of all earlier residuals — so the
//    attention of scale k stays inside scale k (bidirectional). No KV cache: a session carries nothing
//    between scales but f̂.
// 2. Spatial-Markov. From scale index `refine_step` on (8 of 10 at 256 px: the 13×13 and 16×16 scales),
//    a token attends only to the `kernel_size`² window around it on the scale's own grid (7×7 officially):
//    attention cost O(N·k²) instead of O(N²) where N is largest.
// 3. Guidance. The official sampler turns guidance off entirely at cfg 1 (the conditional logits alone), so
//    the unconditional row is not run then.
//
// Our glyph model is trained with smaller windows on smaller scales (`kernel_size`, `refine_step` in its
// `config` metadata); files without them use the official values.

/// MVAR's conditioning of scale si: the scale alone, dense below `refineStep`, windowed from it on.
struct MarkovConditioning: ScaleConditioning {
    /// The official values (MVAR-d16 at 256 px).
    static let officialRefineStep = 8, officialKernel = 7
    let refineStep: Int, kernel: Int

    init(_ config: VAR.Config) {
        refineStep = config.refine_step ?? Self.officialRefineStep
        kernel = config.kernel_size ?? Self.officialKernel
    }

    func attention(scale si: Int, side pn: Int) -> AttentionScope {
        si >= refineStep ? .neighborhood(h: pn, w: pn, kernel: kernel) : .local
    }

    var attendsToEarlierScales: Bool { false }
    func unguided(cfg: Float) -> Bool { cfg == 0 || cfg == 1 }
    var markov: Bool { true }

    /// Keys and values of the largest scale only: the cache is refilled at every scale.
    func stateBytes(_ model: VAR, rows: Int) -> Int {
        model.kvCacheBytes(tokens: model.scales.map(\.count).max() ?? 0, rows: rows)
    }
}

extension ModelFamily {
    /// Detected by the official checkpoint's wrapper key `mvar_wo_ddp`; its keys are VAR's.
    static let mvar: ModelFamily = ModelFamily(
        name: "mvar", title: "MVAR",
        defaults: SamplingOptions(cfg: 1.4, topK: 900, topP: 0.96),  // run_mvar_demo.py
        detect: { ($0 as? PthFile)?.statePath.contains("mvar_wo_ddp") ?? false },
        load: { w, ctx in try VARGenerator.load(w, ctx, family: .mvar, conditioning: MarkovConditioning.init) },
        convertConfig: VAR.convertConfig, officialTokenizer: "vae_ch160v4096z32.pth", imageSide: VARGenerator.imageSide)
}
