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

/// The keys and values of `rows` sequences of up to `capacity` tokens in bf16, laid out per head as the
/// attention kernel reads them (`sw_kv_pack_bf16`): the bf16 and int8 paths' KV cache. Attention over it
/// (`attend`) runs one block of queries at a time with the softmax computed online, never writing the scores.
public struct PackedKV {
    public let rows: Int, heads: Int, headDim: Int
    /// Tokens per sequence, rounded up to the kernel's 64-key groups.
    public let capacity: Int
    private let k: Tensor, v: Tensor

    /// Whether a head size is one the kernel takes.
    public static func supports(headDim d: Int) -> Bool { d > 0 && d % 2 == 0 && d <= 256 }

    /// Storage comes from `scratch` unzeroed: `write` zeroes what the kernel reads beyond the written tokens.
    public init(rows: Int, capacity: Int, heads: Int, headDim: Int, scratch: Scratch) {
        precondition(PackedKV.supports(headDim: headDim), "PackedKV: head size \(headDim)")
        (self.rows, self.heads, self.headDim) = (rows, heads, headDim)
        self.capacity = (capacity + 63) / 64 * 64
        let halves = rows * heads * self.capacity * headDim
        k = scratch.map([(halves + 1) / 2])
        v = scratch.map([(halves + 1) / 2])
    }

    private func base(_ t: Tensor, row r: Int) -> UnsafeMutablePointer<UInt16> {
        UnsafeMutableRawPointer(t.ptr).assumingMemoryBound(to: UInt16.self) + r * heads * capacity * headDim
    }

    /// Stores tokens pos..<pos+n of sequence `row` from f32 rows (stride `ld`, heads·headDim channels).
    public func write(row r: Int, keys kx: UnsafePointer<Float>, values vx: UnsafePointer<Float>, ld: Int, tokens n: Int,
                      at pos: Int) {
        precondition(pos + n <= capacity, "PackedKV overflow")
        sw_kv_pack_bf16(kx, vx, ld, n, pos, heads, headDim, capacity, base(k, row: r), base(v, row: r))
    }

    /// For every sequence r: out_r = softmax(scale·q_r·Kᵀ)·V over its first `keys` tokens, per head.
    /// q_r starts at `q + r·qRowStride` (rows `ldq` apart, head h at columns h·d), out_r likewise.
    public func attend(q: UnsafePointer<Float>, ldq: Int, qRowStride: Int, queries lq: Int, keys lk: Int, scale: Float,
                       out: UnsafeMutablePointer<Float>, ldo: Int, outRowStride: Int) {
        let d = headDim, blocks = (lq + 3) / 4, perRow = heads * blocks
        parallelRanges(rows * perRow) { items in
            for item in items {
                let r = item / perRow, h = (item % perRow) / blocks, i0 = (item % blocks) * 4
                let offset = r * heads * capacity * d + h * capacity * d
                let kp = UnsafeRawPointer(k.ptr).assumingMemoryBound(to: UInt16.self) + offset
                let vp = UnsafeRawPointer(v.ptr).assumingMemoryBound(to: UInt16.self) + offset
                sw_attention_bf16(q + r * qRowStride + i0 * ldq + h * d, ldq, min(4, lq - i0), kp, vp, lk, d, scale,
                                  out + r * outRowStride + i0 * ldo + h * d, ldo)
            }
        }
    }
}
