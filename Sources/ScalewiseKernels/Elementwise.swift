// Pointwise activations, softmax and the small BLAS-1 style helpers, each one pass over memory.

import CKernels

/// SiLU (swish), x·σ(x) = x / (1 + e⁻ˣ), in place on n elements.
public func silu(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    parallelRanges(n, grain: elementGrain) { r in
        for i in r { x[i] = siluScalar(x[i]) }
    }
}

/// Elements below which a pointwise loop stays on one thread (a wake-up costs about as much as this work).
let elementGrain = 1 << 15

public func silu(_ t: Tensor) { silu(t.ptr, count: t.count) }

/// GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), in place.
/// Computed as x·σ(2u) with u the tanh argument: the same function without tanh's cancellation near −∞.
public func geluTanh(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    // x·σ(2·√(2/π)·(x + 0.044715·x³)), with `fastExp`: CKernels' run-time-dispatched loop.
    parallelRanges(n, grain: elementGrain) { r in sw_gelu_tanh(x + r.lowerBound, r.count) }
}

public func geluTanh(_ t: Tensor) { geluTanh(t.ptr, count: t.count) }

/// Row-wise softmax in place over `cols` entries of each of `rows` rows (row stride `ld`), max-subtracted
/// like torch.softmax so that large logits do not overflow.
public func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int? = nil) {
    let ld = ld ?? cols
    guard cols > 0 else { return }
    parallelRanges(rows, grain: max(1, elementGrain / cols)) { rs in
        for r in rs {
            let p = x + r * ld
            let m = maxElement(p, cols)
            for i in 0..<cols { p[i] = fastExp(p[i] - m) }
            scale(p, count: cols, by: 1 / floatSum(p, cols))
        }
    }
}

/// x *= s.
public func scale(_ x: UnsafeMutablePointer<Float>, count n: Int, by s: Float) {
    for i in 0..<n { x[i] *= s }
}

/// y += a·x.
public func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
    for i in 0..<n { y[i] += a * x[i] }
}

/// out = a + b (out may alias a or b).
public func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count n: Int) {
    parallelRanges(n, grain: elementGrain) { r in
        for i in r { out[i] = a[i] + b[i] }
    }
}

/// y += x, for residual connections.
public func add(_ x: Tensor, into y: Tensor) {
    precondition(x.count == y.count, "add: \(x.shape) into \(y.shape)")
    add(y.ptr, x.ptr, out: y.ptr, count: y.count)
}

/// out = a·x + b·y elementwise with scalar a, b (out may alias x or y); e.g. φ(h) = (1−r)·h + r·conv(h).
public func blend(_ a: Float, _ x: UnsafePointer<Float>, _ b: Float, _ y: UnsafePointer<Float>,
                  out: UnsafeMutablePointer<Float>, count n: Int) {
    for i in 0..<n { out[i] = a * x[i] + b * y[i] }
}

/// Adds bias[j] to column j of a `[rows, cols]` matrix (row stride `ld`): Linear-style bias.
public func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int? = nil, bias: UnsafePointer<Float>) {
    let ld = ld ?? cols
    for r in 0..<rows {
        let p = x + r * ld
        for j in 0..<cols { p[j] += bias[j] }
    }
}

/// Adds bias[c] to every element of channel c of a `[C, spatial]` map: conv-style bias.
public func addChannelBias(_ x: UnsafeMutablePointer<Float>, channels: Int, spatial: Int, bias: UnsafePointer<Float>) {
    for c in 0..<channels {
        let p = x + c * spatial, b = bias[c]
        for j in 0..<spatial { p[j] += b }
    }
}

/// Clamps every element to [lo, hi] in place (the VQ-VAE wrappers clamp decoder output to [−1, 1]).
public func clamp(_ x: UnsafeMutablePointer<Float>, count n: Int, to lo: Float, _ hi: Float) {
    for i in 0..<n { x[i] = min(max(x[i], lo), hi) }
}

/// x[t, c] += gate[c]·y[t, c] over `rows` rows of `channels` (AdaLN's gated residual).
public func gatedAdd(_ y: UnsafePointer<Float>, gate: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>,
                     rows: Int, channels c: Int) {
    parallelRanges(rows, grain: max(1, elementGrain / max(c, 1))) { rs in
        for t in rs {
            let xp = x + t * c, yp = y + t * c
            for j in 0..<c { xp[j] += gate[j] * yp[j] }
        }
    }
}
