// Building blocks for the fused loops. Written so that LLVM's loop vectoriser handles them: pointwise
// work is a plain loop over a branch-free scalar body (ternaries become vector selects), and only the
// reductions, which LLVM will not reorder for floats, use explicit 16-lane SIMD accumulators.
// Avoid `SIMD.clamped`/`pointwiseMin`/`Swift.min` on Float in hot code: their NaN handling compiles to
// a per-lane scalar loop with branches (measured: ~40 cycles per element for SiLU).

typealias F16 = SIMD16<Float>

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> F16 {
    UnsafeRawPointer(p).loadUnaligned(as: F16.self)
}

/// e^x, ≈1 ulp on the normal range (Cephes expf: range reduction by ln 2 in two parts, degree-6
/// polynomial). libm's expf is an opaque call that blocks vectorisation; softmax, SiLU and GELU run this
/// hundreds of millions of times per image. Inputs are clamped to ±88.376 so the result is finite:
/// 0 below (no subnormals), ≈2.4e38 above. Rounding uses the 1.5·2²³ trick, not `.rounded()`, which on
/// baseline x86-64 (no SSE4.1) is a libm call.
@inline(__always) func fastExp(_ x: Float) -> Float {
    let limit: Float = 88.3762626647949
    var x = x < -limit ? -limit : x
    x = x > limit ? limit : x
    let magic: Float = 12582912  // 1.5·2²³: adding it leaves round(t) in the low mantissa bits
    let shifted = x * 1.44269504088896341 + magic
    let n = shifted - magic
    x = x - n * 0.693359375 + n * 2.12194440e-4
    var y: Float = 1.9875691500e-4
    y = y * x + 1.3981999507e-3
    y = y * x + 8.3334519073e-3
    y = y * x + 4.1665795894e-2
    y = y * x + 1.6666665459e-1
    y = y * x + 5.0000001201e-1
    y = y * (x * x) + x + 1
    // 2ⁿ from its bit pattern: the low bits of `shifted` hold n + 2²², the exponent field wants n + 127.
    return y * Float(bitPattern: (shifted.bitPattern &- magic.bitPattern &+ 127) &<< 23)
}

/// x·σ(x) = x / (1 + e⁻ˣ).
@inline(__always) func siluScalar(_ x: Float) -> Float { x / (1 + fastExp(-x)) }

/// Σ (p[i] − shift) over n elements, accumulated in Float within 16 lanes × 1024-element chunks and in
/// Double across chunks. Shifting by a value near the mean (any element will do) keeps the Float partial
/// sums at the scale of the spread rather than of the mean, which is what matters when |mean| ≫ σ.
@inline(__always) func shiftedSum(_ p: UnsafePointer<Float>, _ n: Int, shift: Float) -> Double {
    var total = 0.0
    var i = 0
    let sv = F16(repeating: shift)
    while i < n {
        let end = min(n, i + 1024)
        var acc = F16(repeating: 0)
        while i + 16 <= end { acc += load16(p + i) - sv; i += 16 }
        var s = Double(acc.sum())
        while i < end { s += Double(p[i] - shift); i += 1 }
        total += s
    }
    return total
}

/// Σ (p[i] − mean)² over n elements, accumulated like `shiftedSum`. Two-pass variance avoids the
/// cancellation of E[x²] − E[x]² when |mean| ≫ σ.
@inline(__always) func sumSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, mean: Float) -> Double {
    var total = 0.0
    var i = 0
    let m = F16(repeating: mean)
    while i < n {
        let end = min(n, i + 1024)
        var acc = F16(repeating: 0)
        while i + 16 <= end {
            let d = load16(p + i) - m
            acc += d * d
            i += 16
        }
        var s = Double(acc.sum())
        while i < end { let d = Double(p[i] - mean); s += d * d; i += 1 }
        total += s
    }
    return total
}

/// Σ p[0..<n] in Float (for short rows such as softmax's, where Float accumulation is accurate enough).
@inline(__always) func floatSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = F16(repeating: 0)
    var i = 0
    while i + 16 <= n { acc += load16(p + i); i += 16 }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// max p[0..<n] (n ≥ 1), with a select-based lane max that vectorises.
@inline(__always) func maxElement(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = F16(repeating: -.infinity)
    var i = 0
    while i + 16 <= n {
        let v = load16(p + i)
        acc.replace(with: v, where: v .> acc)
        i += 16
    }
    var best = -Float.infinity
    for lane in 0..<16 where acc[lane] > best { best = acc[lane] }
    while i < n { if p[i] > best { best = p[i] }; i += 1 }
    return best
}
