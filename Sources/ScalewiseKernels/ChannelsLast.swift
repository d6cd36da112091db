// The pointwise passes between the bf16 convolutions (PackedConv) on channels-last maps `[P, C]`, P = H·W
// pixels: each reads the f32 output of one convolution and writes the bf16 source of the next, so a map is
// rounded once, in the pass that touches it anyway.

import CKernels

/// `count` floats rounded to bf16 (nearest even, as torch's `.bfloat16()`; a NaN stays a NaN).
public func roundToBF16(_ x: UnsafePointer<Float>, count: Int, into dst: UnsafeMutablePointer<UInt16>) {
    parallelRanges(count, grain: 1 << 16) { r in sw_round_bf16(x + r.lowerBound, dst + r.lowerBound, r.count) }
}

/// PyTorch `GroupNorm(groups, C, eps)` (biased variance, eps inside the square root, per-channel affine) on a
/// channels-last map x `[P, C]`, optionally followed by SiLU, written as bf16.
///
/// Statistics: per-channel sums of x − s_c (s_c = the first pixel's value, so the Float partial sums stay at
/// the scale of the spread) over fixed pixel chunks, combined in Double; the chunking does not depend on the
/// thread count, so neither does the result.
public func groupNormChannelsLast(_ x: UnsafePointer<Float>, pixels p: Int, channels c: Int, groups: Int, eps: Float,
                                  gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?, silu: Bool,
                                  out: UnsafeMutablePointer<UInt16>) {
    precondition(groups > 0 && c % groups == 0 && p > 0, "groupNorm: \(c) channels in \(groups) groups, \(p) pixels")
    let chunks = max(1, min(64, p / 64))
    let partial = UnsafeMutablePointer<Double>.allocate(capacity: chunks * 2 * c)
    defer { partial.deallocate() }
    parallelRanges(chunks) { range in
        let s1 = UnsafeMutablePointer<Float>.allocate(capacity: 2 * c)
        defer { s1.deallocate() }
        let s2 = s1 + c
        for k in range {
            s1.update(repeating: 0, count: 2 * c)
            let first = k * p / chunks
            sw_channel_sums(x + first * c, (k + 1) * p / chunks - first, c, x, s1, s2)
            let dst = partial + k * 2 * c
            for j in 0..<(2 * c) { dst[j] = Double(s1[j]) }
        }
    }
    // a[c] = rstd·gamma, b[c] = beta, m[c] = the group mean: y = (x − m)·a + b.
    let coef = UnsafeMutablePointer<Float>.allocate(capacity: 3 * c)
    defer { coef.deallocate() }
    let (a, b, m) = (coef, coef + c, coef + 2 * c)
    let perGroup = c / groups
    for g in 0..<groups {
        let channels = (g * perGroup)..<((g + 1) * perGroup)
        var sum1 = [Double](repeating: 0, count: perGroup), sum2 = sum1
        for k in 0..<chunks {
            for (i, j) in channels.enumerated() {
                sum1[i] += partial[k * 2 * c + j]
                sum2[i] += partial[k * 2 * c + c + j]
            }
        }
        let n = Double(p * perGroup)
        var total = 0.0
        for (i, j) in channels.enumerated() { total += sum1[i] + Double(p) * Double(x[j]) }
        let mean = total / n
        // Σ(x − μ)² per channel from sums around s_c: S2 + 2(s_c − μ)S1 + P(s_c − μ)².
        var squares = 0.0
        for (i, j) in channels.enumerated() {
            let d = Double(x[j]) - mean
            squares += sum2[i] + 2 * d * sum1[i] + Double(p) * d * d
        }
        let rstd = 1 / (max(0, squares / n) + Double(eps)).squareRoot()
        for j in channels {
            a[j] = Float(rstd * Double(gamma?[j] ?? 1))
            b[j] = beta?[j] ?? 0
            m[j] = Float(mean)
        }
    }
    parallelRanges(p, grain: max(1, (1 << 15) / c)) { range in
        for i in range { sw_affine_bf16(x + i * c, m, a, b, out + i * c, c, silu ? 1 : 0) }
    }
}

/// The output of a nearest-×2 upsample and 3×3 conv from the 2×2 convolution on collapsed weights
/// (`collapsedUpsampleWeights`): r `[h + 1, w + 1, 4·O]` → out `[2h, 2w, O]` with
/// out[2i + py, 2j + px, :] = r[i + py, j + px, (2py + px)·O ..< (2py + px + 1)·O].
public func interleaveParities(_ r: UnsafePointer<Float>, height h: Int, width w: Int, channels o: Int,
                               out: UnsafeMutablePointer<Float>) {
    parallelRanges(2 * h, grain: max(1, (1 << 14) / max(1, w * o))) { rows in
        for y in rows {
            let (i, py) = (y / 2, y % 2)
            let dst = out + y * 2 * w * o
            for x in 0..<(2 * w) {
                let (j, px) = (x / 2, x % 2)
                (dst + x * o).update(from: r + ((i + py) * (w + 1) + j + px) * 4 * o + (2 * py + px) * o, count: o)
            }
        }
    }
}
