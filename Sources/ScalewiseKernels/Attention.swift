/// Multi-head attention of `lq` queries over `lk` keys: head h owns columns [h·d, (h+1)·d) of q, k, v and out,
/// each with its own row stride so the q/k/v views of a fused qkv buffer and a pre-allocated KV cache are
/// read in place. scores = scale·q·kᵀ, softmax over keys, out = scores·v.
public func attention(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>,
                      ldv: Int, lq: Int, lk: Int, heads: Int, headDim d: Int, scale: Float,
                      out: UnsafeMutablePointer<Float>, ldo: Int) {
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: lq * lk)
    defer { scores.deallocate() }
    for h in 0..<heads {
        gemm(transA: false, transB: true, m: lq, n: lk, k: d, alpha: scale, a: q + h * d, lda: ldq, b: k + h * d,
             ldb: ldk, beta: 0, c: scores, ldc: lk)
        softmaxRows(scores, rows: lq, cols: lk)
        gemm(transA: false, transB: false, m: lq, n: d, k: lk, alpha: 1, a: scores, lda: lk, b: v + h * d, ldb: ldv,
             beta: 0, c: out + h * d, ldc: ldo)
    }
}
