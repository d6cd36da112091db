// Normalisations with PyTorch semantics: biased variance, eps inside the square root, statistics
// accumulated in Double so that 1e-5 parity holds for million-element groups.

import CKernels

/// PyTorch `GroupNorm(groups, C, eps)` on one sample: x is `[C, spatial]` (channel-major, e.g. `[C, H·W]`),
/// statistics over each group of C/groups consecutive channels, then the per-channel affine
/// y = (x − μ)/√(σ² + eps)·gamma[c] + beta[c]. With `fusedSiLU` the result is also passed through SiLU
/// in the same write, which is how every VQ-VAE resblock uses it. `out` may equal `x` (in place).
public func groupNorm(_ x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, channels: Int, spatial: Int,
                      groups: Int, eps: Float, gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?,
                      fusedSiLU: Bool = false) {
    precondition(groups > 0 && channels % groups == 0, "groupNorm: \(channels) channels in \(groups) groups")
    let perGroup = channels / groups
    let n = perGroup * spatial
    parallelRanges(groups, grain: max(1, (1 << 16) / max(n, 1))) { range in
        for g in range {
            let s = statistics(x + g * n, n, eps: eps)
            for c in (g * perGroup)..<((g + 1) * perGroup) {
                // (x − μ_hi)·a + (b − μ_lo·a) rather than PyTorch's folded x·a + (b − μ·a): the folded form,
                // and even rounding μ to one Float, lose digits when |μ| ≫ σ; x − μ_hi is exact (Sterbenz).
                let a = Float(s.rstd * Double(gamma?[c] ?? 1))
                affine(x + c * spatial, out + c * spatial, count: spatial, mean: s.meanHi, a: a,
                       b: (beta?[c] ?? 0) - s.meanLo * a, silu: fusedSiLU)
            }
        }
    }
}

/// `groupNorm` on a tensor whose first dimension is channels (`[C, H, W]` or `[C, HW]`); in place when
/// `out` is nil.
public func groupNorm(_ x: Tensor, groups: Int, eps: Float, gamma: Tensor?, beta: Tensor?,
                      fusedSiLU: Bool = false, out: Tensor? = nil) {
    let c = x.shape[0]
    let dst = out ?? x
    precondition(dst.count == x.count, "groupNorm: out \(dst.shape) vs x \(x.shape)")
    precondition(gamma == nil || gamma!.count == c, "groupNorm: gamma \(gamma!.shape) vs \(c) channels")
    precondition(beta == nil || beta!.count == c, "groupNorm: beta \(beta!.shape) vs \(c) channels")
    groupNorm(x.ptr, out: dst.ptr, channels: c, spatial: x.count / max(c, 1), groups: groups, eps: eps,
              gamma: gamma?.ptr, beta: beta?.ptr, fusedSiLU: fusedSiLU)
}

/// Mean as an unevaluated Float sum hi + lo (so x − hi is exact for x near the mean) and 1/√(σ² + eps),
/// both accumulated in Double; σ² is the biased (population) variance, as in PyTorch.
private func statistics(_ p: UnsafePointer<Float>, _ n: Int, eps: Float) -> (meanHi: Float, meanLo: Float, rstd: Double) {
    let mean = Double(p[0]) + shiftedSum(p, n, shift: p[0]) / Double(n)
    let hi = Float(mean), lo = Float(mean - Double(hi))
    // Σ(x − hi)²/n = σ² + lo², since Σ(x − μ) = 0.
    let variance = max(0, sumSquaredDeviation(p, n, mean: hi) / Double(n) - Double(lo) * Double(lo))
    return (hi, lo, 1 / (variance + Double(eps)).squareRoot())
}

/// out = (x − mean)·a + b, optionally followed by SiLU, one pass.
@inline(__always) private func affine(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count n: Int,
                                      mean: Float, a: Float, b: Float, silu: Bool) {
    if silu {
        for i in 0..<n { out[i] = siluScalar((x[i] - mean) * a + b) }
    } else {
        for i in 0..<n { out[i] = (x[i] - mean) * a + b }
    }
}

/// Affine-free LayerNorm over each row of `[rows, C]`, then AdaLN modulation:
/// out = LN(x)·(1 + scale) + shift, with scale/shift `[C]` (nil = 0). Rows have stride `ld` in x and out;
/// `out` may equal `x`.
public func layerNormModulate(_ x: UnsafePointer<Float>, rows: Int, channels c: Int, ld: Int? = nil, eps: Float,
                              scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?,
                              out: UnsafeMutablePointer<Float>) {
    let ld = ld ?? c
    parallelRanges(rows, grain: max(1, elementGrain / max(c, 1))) { rs in
        for r in rs { modulatedRow(x + r * ld, c, eps: eps, scale: scale, shift: shift, out: out + r * ld) }
    }
}

/// `layerNormModulate` of packed rows written as bf16 (each value rounded to nearest even): the source of a
/// bf16 linear layer, equal to rounding the f32 result, without writing and reading it back.
public func layerNormModulate(_ x: UnsafePointer<Float>, rows: Int, channels c: Int, eps: Float,
                              scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?,
                              bf16 out: UnsafeMutablePointer<UInt16>) {
    parallelRanges(rows, grain: max(1, elementGrain / max(c, 1))) { rs in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: c) { row in
            for r in rs {
                modulatedRow(x + r * c, c, eps: eps, scale: scale, shift: shift, out: row.baseAddress!)
                sw_round_bf16(row.baseAddress!, out + r * c, c)
            }
        }
    }
}

@inline(__always) private func modulatedRow(_ p: UnsafePointer<Float>, _ c: Int, eps: Float, scale: UnsafePointer<Float>?,
                                            shift: UnsafePointer<Float>?, out o: UnsafeMutablePointer<Float>) {
    let st = statistics(p, c, eps: eps)
    let m = st.meanHi, lo = st.meanLo, rstd = Float(st.rstd)
    switch (scale, shift) {
    case let (s?, t?): for j in 0..<c { o[j] = ((p[j] - m) - lo) * rstd * (1 + s[j]) + t[j] }
    case let (s?, nil): for j in 0..<c { o[j] = ((p[j] - m) - lo) * rstd * (1 + s[j]) }
    case let (nil, t?): for j in 0..<c { o[j] = ((p[j] - m) - lo) * rstd + t[j] }
    case (nil, nil): for j in 0..<c { o[j] = ((p[j] - m) - lo) * rstd }
    }
}

/// `layerNormModulate` on tensors: x and out `[rows, C]`, scale/shift `[C]`.
public func layerNormModulate(_ x: Tensor, eps: Float, scale: Tensor?, shift: Tensor?, out: Tensor) {
    let c = x.shape.last ?? 0
    precondition(out.count == x.count, "layerNormModulate: out \(out.shape) vs x \(x.shape)")
    precondition(scale == nil || scale!.count == c, "layerNormModulate: scale \(scale!.shape) vs C=\(c)")
    precondition(shift == nil || shift!.count == c, "layerNormModulate: shift \(shift!.shape) vs C=\(c)")
    layerNormModulate(x.ptr, rows: x.count / max(c, 1), channels: c, eps: eps, scale: scale?.ptr,
                      shift: shift?.ptr, out: out.ptr)
}

/// `F.normalize(x, dim=-1)` on `rows` vectors of `dim` elements starting `ld` apart:
/// x ← x / max(‖x‖₂, eps), in place. Per-head q/k rows of `[L, H·d]` are `rows: L·H, dim: d`.
public func l2NormalizeRows(_ x: UnsafeMutablePointer<Float>, rows: Int, dim: Int, ld: Int? = nil,
                            eps: Float = 1e-12) {
    let ld = ld ?? dim
    parallelRanges(rows, grain: max(1, elementGrain / max(dim, 1))) { rs in
        for r in rs {
            let p = x + r * ld
            let norm = max(Float(sumSquaredDeviation(p, dim, mean: 0)).squareRoot(), eps)
            for j in 0..<dim { p[j] /= norm }  // divide, not multiply by 1/norm: bit-closer to F.normalize
        }
    }
}

/// VAR's L2-normalised attention on a fused `[rows, 3C]` qkv buffer (C = heads·headDim), in place: every
/// head's q is normalised and multiplied by `qScale[h]`, every head's k normalised; v is untouched.
public func normalizeQK(_ qkv: UnsafeMutablePointer<Float>, rows: Int, heads: Int, headDim: Int,
                        qScale: UnsafePointer<Float>) {
    let C = heads * headDim
    parallelRanges(rows, grain: 16) { rs in
        for r in rs {
            let row = qkv + r * 3 * C
            for h in 0..<heads {
                let q = row + h * headDim, k = row + C + h * headDim
                let qn = max(Float(sumSquaredDeviation(q, headDim, mean: 0)).squareRoot(), 1e-12)
                for j in 0..<headDim { q[j] /= qn }
                let s = qScale[h]
                for j in 0..<headDim { q[j] *= s }
                let kn = max(Float(sumSquaredDeviation(k, headDim, mean: 0)).squareRoot(), 1e-12)
                for j in 0..<headDim { k[j] /= kn }
            }
        }
    }
}
