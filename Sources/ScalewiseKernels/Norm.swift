import Foundation

/// PyTorch GroupNorm in place on x [C, H·W]: per group of C/groups channels, biased variance, statistics in
/// Double; then the per-channel affine, optionally followed by SiLU (the decoder always applies one after).
public func groupNorm(_ x: Tensor, groups: Int, eps: Float, gamma: Tensor, beta: Tensor, fusedSiLU: Bool) {
    let C = x.shape[0], n = x.count / C, cpg = C / groups
    for g in 0..<groups {
        let base = x.ptr + g * cpg * n, m = cpg * n
        var sum = 0.0
        for i in 0..<m { sum += Double(base[i]) }
        let mean = sum / Double(m)
        var sq = 0.0
        for i in 0..<m {
            let d = Double(base[i]) - mean
            sq += d * d
        }
        let rstd = 1 / (sq / Double(m) + Double(eps)).squareRoot()
        for cc in 0..<cpg {
            let c = g * cpg + cc
            let a = Float(rstd) * gamma.ptr[c], b = beta.ptr[c] - Float(mean) * a
            let p = base + cc * n
            if fusedSiLU {
                for i in 0..<n {
                    let v = p[i] * a + b
                    p[i] = v / (1 + exp(-v))
                }
            } else {
                for i in 0..<n { p[i] = p[i] * a + b }
            }
        }
    }
}

/// LayerNorm without affine (eps, biased variance) followed by VAR's AdaLN modulation:
/// out = LN(x)·(1 + scale) + shift, per row of length `dim`; nil scale/shift mean 0.
public func layerNormModulate(_ x: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float, scale: UnsafePointer<Float>?,
                              shift: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let xr = x + r * dim, o = out + r * dim
        var sum: Float = 0
        for i in 0..<dim { sum += xr[i] }
        let mean = sum / Float(dim)
        var sq: Float = 0
        for i in 0..<dim {
            let d = xr[i] - mean
            sq += d * d
        }
        let rstd = 1 / (sq / Float(dim) + eps).squareRoot()
        if let scale, let shift {
            for i in 0..<dim { o[i] = (xr[i] - mean) * rstd * (1 + scale[i]) + shift[i] }
        } else {
            for i in 0..<dim { o[i] = (xr[i] - mean) * rstd * (1 + (scale?[i] ?? 0)) + (shift?[i] ?? 0) }
        }
    }
}

/// `F.normalize` per row (x / max(‖x‖, 1e-12)), times `scale`.
public func l2NormalizeRows(_ x: UnsafeMutablePointer<Float>, rows: Int, dim: Int, scale: Float) {
    for r in 0..<rows {
        let p = x + r * dim
        var sq: Float = 0
        for i in 0..<dim { sq += p[i] * p[i] }
        let f = scale / max(sq.squareRoot(), 1e-12)
        for i in 0..<dim { p[i] *= f }
    }
}
