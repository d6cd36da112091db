import Foundation

// The loops of a selective state-space layer (Mamba-2's "SSD"), for one sequence.
// Tokens are rows; a head h owns columns [h·P, (h+1)·P) of x and y; heads h of group g = h / (H/G) read
// columns [g·N, (g+1)·N) of B and C. The state S is [H, P, N].

public struct SSDShape: Sendable {
    public let heads: Int, headDim: Int, groups: Int, dState: Int
    public init(heads: Int, headDim: Int, groups: Int, dState: Int) {
        self.heads = heads
        self.headDim = headDim
        self.groups = groups
        self.dState = dState
    }
}

/// Causal depthwise conv over `l` tokens of `channels` (row stride `ld`), continuing from `window` — the
/// previous K−1 inputs, oldest first, [K−1, channels] — which is then replaced by the last K−1 inputs.
/// `taps` is [K, channels] (tap K−1 multiplies the current token); out = SiLU(conv + bias), [l, channels].
public func causalConv1dSiLU(_ x: UnsafePointer<Float>, ld: Int, tokens l: Int, channels: Int,
                             window: UnsafeMutablePointer<Float>, taps: UnsafePointer<Float>, kernel K: Int,
                             bias: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
    let n = channels, h = K - 1
    // The input row at sequence index i (i < 0 reaches into the window).
    func row(_ i: Int) -> UnsafePointer<Float> { i < 0 ? UnsafePointer(window + (h + i) * n) : x + i * ld }
    for t in 0..<l {
        let o = out + t * n
        o.update(from: bias, count: n)
        for k in 0..<K {
            let src = row(t - h + k), w = taps + k * n
            for c in 0..<n { o[c] += w[c] * src[c] }
        }
        for c in 0..<n { o[c] = o[c] / (1 + exp(-o[c])) }
    }
    // New window = last K−1 rows of [window; x]; rows are moved oldest first, so none is overwritten early.
    for j in 0..<h {
        let i = l - h + j
        if i < 0 {
            (window + j * n).update(from: window + (j + l) * n, count: n)
        } else {
            (window + j * n).update(from: x + i * ld, count: n)
        }
    }
}

/// Δ = softplus(dt + dt_bias) in place for [l, H] (PyTorch switches to the identity above 20).
public func softplusBias(_ dt: UnsafeMutablePointer<Float>, tokens l: Int, ld: Int, bias: UnsafePointer<Float>,
                         count H: Int) {
    for t in 0..<l {
        for h in 0..<H {
            let v = dt[t * ld + h] + bias[h]
            dt[t * ld + h] = v > 20 ? v : log1p(exp(v))
        }
    }
}

/// The SSD recurrence token by token: S_h ← exp(Δ_h·a_h)·S_h + Δ_h·x_h ⊗ B;  y_h = S_h·C + D ⊙ x_h.
/// x, B, C rows have stride `ldx`; Δ rows stride `ldDt`; `a` = −exp(A_log) [H]; `D` [H·P]; y [l, H·P] stride ldy.
public func ssdRecurrent(x: UnsafePointer<Float>, B: UnsafePointer<Float>, C: UnsafePointer<Float>, ldx: Int,
                         dt: UnsafePointer<Float>, ldDt: Int, a: UnsafePointer<Float>, D: UnsafePointer<Float>,
                         shape s: SSDShape, tokens l: Int, state S: UnsafeMutablePointer<Float>,
                         y: UnsafeMutablePointer<Float>, ldy: Int) {
    let (H, P, N) = (s.heads, s.headDim, s.dState), perGroup = H / s.groups
    for t in 0..<l {
        for h in 0..<H {
            let g = h / perGroup, delta = dt[t * ldDt + h], decay = exp(delta * a[h])
            let b = B + t * ldx + g * N, c = C + t * ldx + g * N
            for p in 0..<P {
                let xv = x[t * ldx + h * P + p], sp = S + (h * P + p) * N, dx = delta * xv
                var acc: Float = 0
                for n in 0..<N {
                    sp[n] = decay * sp[n] + dx * b[n]
                    acc += sp[n] * c[n]
                }
                y[t * ldy + h * P + p] = acc + D[h * P + p] * xv
            }
        }
    }
}

/// The same map in chunks of `chunk` tokens with matrix products. Inside a chunk, with
/// c_t = Σ_{r≤t} Δ_r·a (per head):
///   y_t = e^{c_t}·S₀·C_t + Σ_{s≤t} e^{c_t−c_s}·(C_t·B_s)·Δ_s·x_s + D·x_t,
///   S   = e^{c_T}·S₀ + Σ_s e^{c_T−c_s}·Δ_s·x_s ⊗ B_s.
/// C·Bᵀ is one GEMM per group; each head then needs three GEMMs. Only s ≤ t exponents are formed (≤ 0).
public func ssdChunked(x: UnsafePointer<Float>, B: UnsafePointer<Float>, C: UnsafePointer<Float>, ldx: Int,
                       dt: UnsafePointer<Float>, ldDt: Int, a: UnsafePointer<Float>, D: UnsafePointer<Float>,
                       shape s: SSDShape, tokens l: Int, chunk: Int, state S: UnsafeMutablePointer<Float>,
                       y: UnsafeMutablePointer<Float>, ldy: Int) {
    let (H, P, N) = (s.heads, s.headDim, s.dState), perGroup = H / s.groups, Q = max(1, min(chunk, l))
    let CB = UnsafeMutablePointer<Float>.allocate(capacity: Q * Q), M = UnsafeMutablePointer<Float>.allocate(capacity: Q * Q)
    let scaled = UnsafeMutablePointer<Float>.allocate(capacity: Q * N), cum = UnsafeMutablePointer<Float>.allocate(capacity: Q)
    defer { [CB, M, scaled, cum].forEach { $0.deallocate() } }
    var t0 = 0
    while t0 < l {
        let T = min(Q, l - t0)
        for g in 0..<s.groups {
            let b = B + t0 * ldx + g * N, c = C + t0 * ldx + g * N
            gemm(transA: false, transB: true, m: T, n: T, k: N, alpha: 1, a: c, lda: ldx, b: b, ldb: ldx, beta: 0,
                 c: CB, ldc: T)
            for h in (g * perGroup)..<((g + 1) * perGroup) {
                let xh = x + t0 * ldx + h * P, yh = y + t0 * ldy + h * P, Sh = S + h * P * N
                let delta = dt + t0 * ldDt + h
                var acc: Float = 0
                for t in 0..<T {
                    acc += delta[t * ldDt] * a[h]
                    cum[t] = acc
                }
                // Intra-chunk: y = M·X with M[t,s] = (C_t·B_s)·e^{c_t−c_s}·Δ_s (s ≤ t).
                for t in 0..<T {
                    for u in 0...t { M[t * T + u] = CB[t * T + u] * exp(cum[t] - cum[u]) * delta[u * ldDt] }
                    for u in (t + 1)..<T { M[t * T + u] = 0 }
                }
                gemm(transA: false, transB: false, m: T, n: P, k: T, alpha: 1, a: M, lda: T, b: xh, ldb: ldx, beta: 0,
                     c: yh, ldc: ldy)
                // Entering state: y += (e^{c_t}·C_t)·S₀ᵀ.
                for t in 0..<T {
                    let f = exp(cum[t])
                    for n in 0..<N { scaled[t * N + n] = f * c[t * ldx + n] }
                }
                gemm(transA: false, transB: true, m: T, n: P, k: N, alpha: 1, a: scaled, lda: N, b: Sh, ldb: N, beta: 1,
                     c: yh, ldc: ldy)
                // Leaving state: S = e^{c_T}·S₀ + Xᵀ·(e^{c_T−c_s}·Δ_s·B_s).
                for u in 0..<T {
                    let f = exp(cum[T - 1] - cum[u]) * delta[u * ldDt]
                    for n in 0..<N { scaled[u * N + n] = f * b[u * ldx + n] }
                }
                gemm(transA: true, transB: false, m: P, n: N, k: T, alpha: 1, a: xh, lda: ldx, b: scaled, ldb: N,
                     beta: exp(cum[T - 1]), c: Sh, ldc: N)
                for t in 0..<T {
                    for p in 0..<P { yh[t * ldy + p] += D[h * P + p] * xh[t * ldx + p] }
                }
            }
        }
        t0 += T
    }
}

/// y ← RMSNorm(y ⊙ SiLU(z))·weight over groups of `groupSize` channels (mamba_ssm's gated RMSNorm with
/// norm_before_gate=False), for `rows` rows of `dim` channels; z rows have stride `ldz`.
public func gatedRMSNorm(_ y: UnsafeMutablePointer<Float>, z: UnsafePointer<Float>, ldz: Int, rows: Int, dim: Int,
                         groupSize: Int, weight: UnsafePointer<Float>, eps: Float) {
    for r in 0..<rows {
        let yr = y + r * dim, zr = z + r * ldz
        for i in 0..<dim { yr[i] *= zr[i] / (1 + exp(-zr[i])) }
        rmsNorm(yr, rows: 1, dim: dim, groupSize: groupSize, weight: weight, eps: eps, out: yr)
    }
}

/// out = x·(mean(x²) + eps)^(−½)·weight per group of `groupSize` channels (in place allowed).
public func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, dim: Int, groupSize: Int? = nil, weight: UnsafePointer<Float>,
                    eps: Float, out: UnsafeMutablePointer<Float>) {
    let gs = groupSize ?? dim
    for r in 0..<rows {
        var g0 = 0
        while g0 < dim {
            let xr = x + r * dim + g0, o = out + r * dim + g0
            var sq: Float = 0
            for i in 0..<gs { sq += xr[i] * xr[i] }
            let inv = 1 / (sq / Float(gs) + eps).squareRoot()
            for i in 0..<gs { o[i] = xr[i] * inv * weight[g0 + i] }
            g0 += gs
        }
    }
}
