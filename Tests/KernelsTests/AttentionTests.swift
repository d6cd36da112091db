import Foundation
import ScalewiseKernels
import XCTest

/// Per-head softmax(α·q·kᵀ + mask)·v in Double; q/k/v/out rows have strides ldq/ldk/ldv/ldo.
private func naiveAttention(q: [Float], ldq: Int, lq: Int, k: [Float], ldk: Int, v: [Float], ldv: Int, lk: Int,
                            heads: Int, d: Int, scale: Float, headScales: [Float]?, mask: [Float]?,
                            ldo: Int) -> [Float] {
    var out = [Float](repeating: 0, count: lq * ldo)
    for h in 0..<heads {
        let alpha = Double(scale) * Double(headScales?[h] ?? 1)
        for i in 0..<lq {
            var s = (0..<lk).map { j -> Double in
                var dot = 0.0
                for t in 0..<d { dot += Double(q[i * ldq + h * d + t]) * Double(k[j * ldk + h * d + t]) }
                return alpha * dot + Double(mask?[i * lk + j] ?? 0)
            }
            let m = s.max()!
            s = s.map { exp($0 - m) }
            let z = s.reduce(0, +)
            for t in 0..<d {
                var acc = 0.0
                for j in 0..<lk { acc += s[j] / z * Double(v[j * ldv + h * d + t]) }
                out[i * ldo + h * d + t] = Float(acc)
            }
        }
    }
    return out
}

final class AttentionTests: XCTestCase {
    let scratch = Scratch()

    func testAttentionOverKVCacheWithStridesMatchesNaive() {
        // K/V are the first 23 rows of a cache of capacity 40, each row 3 heads × 16 plus 8 unused columns.
        let (heads, d, lk, capacity) = (3, 16, 23, 40)
        let width = heads * d, ldk = width + 8
        let kCache = lcg(seed: 60, count: capacity * ldk), vCache = lcg(seed: 61, count: capacity * ldk)
        let headScales: [Float] = [2.5, 0.5, 7]
        // Score budgets of one head per group and of all heads in one group.
        for (lq, budget) in [(1, 23), (9, 9 * 23), (9, attentionScoreBudget)] {
            let ldq = width + 5
            let q = lcg(seed: 62, count: lq * ldq)
            var out = [Float](repeating: -3, count: lq * (width + 2))
            for i in 0..<lq { for j in 0..<width { out[i * (width + 2) + j] = .nan } }  // must be overwritten
            scratch.floats(lq * lk * heads, .scores).update(repeating: .nan, count: lq * lk * heads)
            attention(q: q, ldq: ldq, queries: lq, k: kCache, ldk: ldk, v: vCache, ldv: ldk, keys: lk,
                      heads: heads, headDim: d, scale: 0.25, headScales: headScales, out: &out, ldo: width + 2,
                      scratch: scratch, scoreBudget: budget)
            var expected = naiveAttention(q: q, ldq: ldq, lq: lq, k: kCache, ldk: ldk, v: vCache, ldv: ldk, lk: lk,
                                          heads: heads, d: d, scale: 0.25, headScales: headScales, mask: nil,
                                          ldo: width + 2)
            for i in 0..<lq { expected[i * (width + 2) + width] = -3; expected[i * (width + 2) + width + 1] = -3 }
            assertClose(out, expected, atol: 2e-6, "attention lq=\(lq) budget \(budget) over a strided cache")
        }
    }

    func testAttentionTensorFormWithCausalMask() {
        let (heads, d, l) = (2, 8, 6)
        let q = lcgTensor(seed: 70, [l, heads * d]), k = lcgTensor(seed: 71, [l, heads * d])
        let v = lcgTensor(seed: 72, [l, heads * d])
        let mask = Tensor(shape: [l, l], (0..<(l * l)).map { $0 % l > $0 / l ? -Float.infinity : 0 })
        let out = Tensor(zeros: [l, heads * d])
        attention(q: q, k: k, v: v, heads: heads, headDim: d, scale: 1 / Float(d).squareRoot(), mask: mask,
                  out: out, scratch: scratch)
        let expected = naiveAttention(q: q.array, ldq: heads * d, lq: l, k: k.array, ldk: heads * d, v: v.array,
                                      ldv: heads * d, lk: l, heads: heads, d: d, scale: 1 / Float(d).squareRoot(),
                                      headScales: nil, mask: mask.array, ldo: heads * d)
        assertClose(out.array, expected, atol: 2e-6, "masked attention")
        // The first query sees only the first key, so it returns v's first row exactly.
        assertClose(Array(out.array[0..<(heads * d)]), Array(v.array[0..<(heads * d)]), atol: 1e-7, "causal row 0")
    }
}
