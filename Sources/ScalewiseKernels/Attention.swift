// Multi-head scaled-dot-product attention on row-major token matrices, one head at a time:
// scores = scale·Q_h·K_hᵀ (+ mask), softmax over keys, out_h = P·V_h. No causal mask is built in:
// scale-wise models attend to every key in the cache, and teacher-forced checks pass an explicit mask.

import CDNNL
import CKernels

/// q `[Lq, ·]`, k and v `[Lk, ·]` hold head h in columns [h·d, (h+1)·d); `ldq`/`ldk`/`ldv`/`ldo` are their
/// row strides, so k/v can be the first Lk rows of a preallocated KV cache (or slices of a fused qkv
/// matrix) without copying. out `[Lq, ·]` receives head h in the same columns.
/// - scale: softmax temperature applied to q·k (e.g. 1/√d).
/// - headScales: optional per-head factor multiplied into `scale` (learned per-head temperatures).
/// - mask: optional additive `[Lq, Lk]` bias (row stride `ldMask`), −∞ to forbid a key.
/// Keeps up to `scoreBudget` floats of scores in scratch (slot `.scores`), at least Lq·Lk.
public func attention(q: UnsafePointer<Float>, ldq: Int, queries lq: Int,
                      k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int, keys lk: Int,
                      heads: Int, headDim d: Int, scale: Float, headScales: UnsafePointer<Float>? = nil,
                      mask: UnsafePointer<Float>? = nil, ldMask: Int? = nil,
                      out: UnsafeMutablePointer<Float>, ldo: Int, scratch: Scratch,
                      scoreBudget: Int = attentionScoreBudget) {
    guard lq > 0 && heads > 0 else { return }
    if Threads.pool == .openmp {
        attentionDNNL(q: q, ldq: ldq, queries: lq, k: k, ldk: ldk, v: v, ldv: ldv, keys: lk, heads: heads, headDim: d,
                      scale: scale, headScales: headScales, mask: mask, ldMask: ldMask, out: out, ldo: ldo, scratch: scratch)
        return
    }
    let perHead = lq * lk
    // Heads are processed in groups, each phase (scores, softmax, weighted sum) over the whole group:
    // alternating one-thread softmax with two-thread sgemm per head leaves OpenBLAS's worker spinning
    // against us, measured 1.9× slower at 16 heads, Lq 256, Lk 680.
    let group = max(1, min(heads, scoreBudget / max(1, perHead)))
    let scores = scratch.floats(group * perHead, .scores)
    for h0 in stride(from: 0, to: heads, by: group) {
        let hs = h0..<min(heads, h0 + group)
        for h in hs {
            let s = scores + (h - h0) * perHead, alpha = scale * (headScales?[h] ?? 1)
            if lq == 1 {
                // One query (a decoding step): matrix–vector products, 8–10× faster than sgemm at M = 1.
                gemv(rows: lk, cols: d, alpha: alpha, a: k + h * d, lda: ldk, x: q + h * d, y: s)
            } else {
                gemm(transB: true, m: lq, n: lk, k: d, alpha: alpha, a: q + h * d, lda: ldq, b: k + h * d, ldb: ldk,
                     c: s, ldc: lk)
            }
        }
        for h in hs {
            let s = scores + (h - h0) * perHead
            if let mask {
                let ldm = ldMask ?? lk
                for r in 0..<lq { add(s + r * lk, mask + r * ldm, out: s + r * lk, count: lk) }
            }
            softmaxRows(s, rows: lq, cols: lk)
        }
        for h in hs {
            let s = scores + (h - h0) * perHead
            if lq == 1 {
                gemv(trans: true, rows: lk, cols: d, a: v + h * d, lda: ldv, x: s, y: out + h * d)
            } else {
                gemm(m: lq, n: d, k: lk, a: s, lda: lk, b: v + h * d, ldb: ldv, c: out + h * d, ldc: ldo)
            }
        }
    }
}

/// Score floats `attention` may keep in scratch at once (16 MB): all heads of a VAR stage fit.
public let attentionScoreBudget = 4 << 20

/// `attention` on tensors with packed rows: q `[Lq, H·d]`, k/v `[Lk, H·d]`, out `[Lq, H·d]`.
public func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, headDim d: Int, scale: Float,
                      headScales: Tensor? = nil, mask: Tensor? = nil, out: Tensor, scratch: Scratch) {
    let width = heads * d
    let lq = q.count / max(width, 1), lk = k.count / max(width, 1)
    precondition(q.shape.last == width && k.shape.last == width && v.shape.last == width,
                 "attention: q \(q.shape), k \(k.shape), v \(v.shape) vs \(heads) heads × \(d)")
    precondition(v.count == k.count && out.count == q.count, "attention: v \(v.shape) / out \(out.shape)")
    precondition(headScales == nil || headScales!.count == heads, "attention: headScales \(headScales!.shape)")
    precondition(mask == nil || mask!.count == lq * lk, "attention: mask \(mask!.shape), expected [\(lq), \(lk)]")
    attention(q: q.ptr, ldq: width, queries: lq, k: k.ptr, ldk: width, v: v.ptr, ldv: width, keys: lk,
              heads: heads, headDim: d, scale: scale, headScales: headScales?.ptr, mask: mask?.ptr,
              out: out.ptr, ldo: width, scratch: scratch)
}

/// `attention` on oneDNN's threads (the bf16 and int8 paths, `Threads.pool == .openmp`): all heads in one
/// batched product per phase, reading q, k and v in place through strides. Float32 throughout, like the
/// OpenBLAS path, but summed in another order, so not bit-identical to it.
func attentionDNNL(q: UnsafePointer<Float>, ldq: Int, queries lq: Int, k: UnsafePointer<Float>, ldk: Int,
                   v: UnsafePointer<Float>, ldv: Int, keys lk: Int, heads: Int, headDim d: Int, scale: Float,
                   headScales: UnsafePointer<Float>?, mask: UnsafePointer<Float>?, ldMask: Int?,
                   out: UnsafeMutablePointer<Float>, ldo: Int, scratch: Scratch) {
    let perHead = lq * lk
    let scores = scratch.floats(heads * perHead, .scores)
    // scores[h] = q_h · k_hᵀ: q as [H, Lq, d] (strides d, ldq, 1), kᵀ as [H, d, Lk] (strides d, 1, ldk).
    DNNL.stridedMatmul(b: heads, m: lq, n: lk, k: d, src: [d, ldq, 1], weights: [d, 1, ldk], dst: [perHead, lk, 1])
        .execute(src: q, weights: k, bias: nil, dst: scores)
    parallelRanges(heads * lq, grain: max(1, 16384 / max(lk, 1))) { rows in
        for row in rows {
            let h = row / lq, r = row % lq, s = scores + row * lk
            let alpha = scale * (headScales?[h] ?? 1)
            if alpha != 1 { for j in 0..<lk { s[j] *= alpha } }
            if let mask { add(s, mask + r * (ldMask ?? lk), out: s, count: lk) }
        }
    }
    softmaxRows(scores, rows: heads * lq, cols: lk)
    // out_h = P_h · v_h: v as [H, Lk, d] (strides d, ldv, 1), out as [H, Lq, d] (strides d, ldo, 1).
    DNNL.stridedMatmul(b: heads, m: lq, n: d, k: lk, src: [perHead, lk, 1], weights: [d, ldv, 1], dst: [d, ldo, 1])
        .execute(src: scores, weights: v, bias: nil, dst: out)
}

/// `attention` with bf16 operands (the bf16 and int8 paths): q, k and v are bf16, the products accumulate in
/// f32, the scores are scaled, masked and soft-maxed in f32 and rounded to bf16 for the weighted sum, as
/// PyTorch's attention computes under bf16 autocast. On oneDNN's threads.
public func attentionBF16(q: UnsafePointer<UInt16>, ldq: Int, queries lq: Int, k: UnsafePointer<UInt16>, ldk: Int,
                          v: UnsafePointer<UInt16>, ldv: Int, keys lk: Int, heads: Int, headDim d: Int, scale: Float,
                          headScales: UnsafePointer<Float>? = nil, mask: UnsafePointer<Float>? = nil, ldMask: Int? = nil,
                          out: UnsafeMutablePointer<Float>, ldo: Int, scratch: Scratch) {
    guard lq > 0 && heads > 0 else { return }
    let perHead = lq * lk
    let scores = scratch.floats(heads * perHead + (heads * perHead + 1) / 2, .scores)
    let probabilities = UnsafeMutableRawPointer(scores + heads * perHead).assumingMemoryBound(to: UInt16.self)
    DNNL.stridedMatmul(b: heads, m: lq, n: lk, k: d, src: [d, ldq, 1], weights: [d, 1, ldk], dst: [perHead, lk, 1],
                       type: dnnl_bf16)
        .execute(src: q, weights: k, bias: nil, dst: scores)
    parallelRanges(heads * lq, grain: max(1, 16384 / max(lk, 1))) { rows in
        for row in rows {
            let h = row / lq, r = row % lq, s = scores + row * lk
            var alpha = scale * (headScales?[h] ?? 1)
            if let mask {
                for j in 0..<lk { s[j] *= alpha }
                add(s, mask + r * (ldMask ?? lk), out: s, count: lk)
                alpha = 1
            }
            sw_softmax_bf16(s, probabilities + row * lk, lk, alpha)
        }
    }
    DNNL.stridedMatmul(b: heads, m: lq, n: d, k: lk, src: [perHead, lk, 1], weights: [d, ldv, 1], dst: [d, ldo, 1],
                       type: dnnl_bf16)
        .execute(src: probabilities, weights: v, bias: nil, dst: out)
}
