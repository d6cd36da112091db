import ScalewiseKernels

/// One layer's keys and values for every conditioning row, pre-allocated for the whole schedule so it is
/// never re-copied as it grows. Stepping back is free: only `length` moves; later writes overwrite.
final class KVCache {
    let rows: Int, capacity: Int, C: Int
    let k: Tensor, v: Tensor  // [rows, capacity, C]
    var length = 0

    init(rows: Int, capacity: Int, C: Int) {
        self.rows = rows
        self.capacity = capacity
        self.C = C
        k = Tensor(shape: [rows, capacity, C])
        v = Tensor(shape: [rows, capacity, C])
    }

    /// Appends the k and v parts of a normalised [rows·l, 3C] qkv buffer at positions length..<length+l.
    func append(qkv: UnsafePointer<Float>, tokens l: Int) {
        precondition(length + l <= capacity, "KV cache overflow")
        for r in 0..<rows {
            for t in 0..<l {
                let src = qkv + (r * l + t) * 3 * C
                let dst = (r * capacity + length + t) * C
                (k.ptr + dst).update(from: src + C, count: C)
                (v.ptr + dst).update(from: src + 2 * C, count: C)
            }
        }
        length += l
    }

    /// Attention of the newest `l` queries of every row over all cached keys (previous scales and the
    /// current one, bidirectionally — the block-causal mask restricted to the current rows). `scratch` holds
    /// the scores; every layer's cache shares the run's one (one per layer held 16 × 11 MiB at 256 px).
    func attend(qkv: UnsafePointer<Float>, tokens l: Int, heads: Int, headDim: Int, scale: Float,
                out: UnsafeMutablePointer<Float>, scratch: Scratch) {
        for r in 0..<rows {
            attention(q: qkv + r * l * 3 * C, ldq: 3 * C, queries: l, k: k.ptr + r * capacity * C, ldk: C,
                      v: v.ptr + r * capacity * C, ldv: C, keys: length, heads: heads, headDim: headDim,
                      scale: scale, out: out + r * l * C, ldo: C, scratch: scratch)
        }
    }
}
