import CKernels
import Foundation
import ScalewiseKernels

/// NATTEN's window rule (stride 1, dilation 1, odd kernel k, non-causal): a query at index i of an n-long
/// axis sees keys [s, s + k) with s = clamp(i − k/2, 0, n − k) — the window shifts inward at borders rather
/// than being zero-padded, so every query sees exactly k×k keys.
public func neighborhoodWindowStart(_ i: Int, n: Int, kernel k: Int) -> Int {
    let k = min(k, n)
    return min(max(i - k / 2, 0), n - k)
}

/// Attention of every token of an h×w grid over its k×k neighbourhood, from a [h·w, 3C] qkv buffer
/// (q, k, v with heads in column blocks); out is [h·w, C]. Rows of the grid run in parallel. `vectorised`: the C
/// kernel, whose dot products are summed in another order (the bf16 and int8 paths); otherwise the loop below,
/// whose order the fp32 path keeps.
func neighborhoodAttention(qkv: UnsafePointer<Float>, h: Int, w: Int, kernel: Int, heads: Int, headDim d: Int,
                           scale: Float, vectorised: Bool = false, out: UnsafeMutablePointer<Float>) {
    let ky = min(kernel, h), kx = min(kernel, w)
    if vectorised && ky * kx <= 1024 {
        parallelRanges(h) { rows in
            sw_neighborhood_attention(qkv, h, w, kernel, heads, d, scale, out, rows.lowerBound, rows.upperBound)
        }
        return
    }
    parallelRanges(h) { rows in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: ky * kx) { buffer in
            neighborhoodRows(rows, qkv: qkv, h: h, w: w, kernel: kernel, heads: heads, headDim: d, scale: scale,
                             scores: buffer.baseAddress!, out: out)
        }
    }
}

private func neighborhoodRows(_ rows: Range<Int>, qkv: UnsafePointer<Float>, h: Int, w: Int, kernel: Int, heads: Int,
                              headDim d: Int, scale: Float, scores: UnsafeMutablePointer<Float>,
                              out: UnsafeMutablePointer<Float>) {
    let C = heads * d, ky = min(kernel, h), kx = min(kernel, w), count = ky * kx
    for y in rows {
        let y0 = neighborhoodWindowStart(y, n: h, kernel: kernel)
        for x in 0..<w {
            let x0 = neighborhoodWindowStart(x, n: w, kernel: kernel)
            let q = qkv + (y * w + x) * 3 * C
            for hd in 0..<heads {
                var m = -Float.infinity
                for a in 0..<ky {
                    for b in 0..<kx {
                        let k = qkv + ((y0 + a) * w + x0 + b) * 3 * C + C + hd * d
                        var s: Float = 0
                        for c in 0..<d { s += q[hd * d + c] * k[c] }
                        s *= scale
                        scores[a * kx + b] = s
                        m = max(m, s)
                    }
                }
                var total: Float = 0
                for i in 0..<count {
                    scores[i] = exp(scores[i] - m)
                    total += scores[i]
                }
                let o = out + (y * w + x) * C + hd * d
                for c in 0..<d { o[c] = 0 }
                for a in 0..<ky {
                    for b in 0..<kx {
                        let v = qkv + ((y0 + a) * w + x0 + b) * 3 * C + 2 * C + hd * d
                        let p = scores[a * kx + b] / total
                        for c in 0..<d { o[c] += p * v[c] }
                    }
                }
            }
        }
    }
}
