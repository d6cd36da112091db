import Foundation

// M-VAR: decoupled scale-wise autoregressive modelling (arXiv 2411.10433).
//
// VAR's tokenizer, embeddings, level positions, head and sampler (`VAR`, `VARSession`), with two changes in
// every block (`AdaLNBlock` with `mamba`): attention sees only the tokens of the current scale (intra-scale,
// bidirectional), and a Mamba-2 sublayer between attention and FFN runs causally over every token so far —
// the earlier scales coarse to fine, each row-major, then the current one (inter-scale). AdaLN grows to 9C.
// Official checkpoints: d16/d20 without `scale_mul_1H11` (attention scale 1/32), d24/d32 with it;
// Mamba2(d_model=C, d_state=64, d_conv=4, expand=2, headdim=64) → H = 2C/64 heads, G = 1.
//
// The released sampler re-runs Mamba from zero over all cached tokens at every scale. Mamba is causal and
// the inputs of earlier scales never change (LayerNorm is per token; s2, b2 depend only on the class), so
// carrying each block's conv window and SSM state from scale to scale is exactly equal: a scale's pn² tokens
// go through the chunked scan (GEMMs) continuing from the state, which is then carried on — memory that does
// not grow with the sequence, instead of a cache that does. `TrunkRun` keeps the state after every scale
// (`RecurrentStates`), so stepping back and re-rolling recompute nothing.

extension VAR {
    /// Whether the blocks carry M-VAR's Mamba sublayer (`blocks.i.mamba.*`).
    public var isMambaVAR: Bool { trunk.blocks.first?.mamba != nil }

    /// Bytes of every block's Mamba state (conv window + SSM state, fp32) for `rows` conditioning rows: what
    /// M-VAR carries from one scale to the next, the same size after every scale. A session keeps one such
    /// snapshot per completed scale. 0 for VAR and MVAR.
    public func recurrentStateBytes(rows: Int) -> Int {
        trunk.blocks.reduce(0) { $0 + ($1.mamba.map { Mamba2State.bytes($0.config, rows: rows) } ?? 0) }
    }

    /// Bytes of VAR's KV cache after scale `si` (K and V of every token so far, every block, `rows` rows):
    /// the state M-VAR replaces, for comparison. bf16 entries in the bf16 and int8 paths.
    public func kvCacheBytes(afterScale si: Int, rows: Int) -> Int {
        2 * (trunk.pool == .openmp ? 2 : 4) * rows * beginEnds[si + 1] * C * trunk.blocks.count
    }
}
