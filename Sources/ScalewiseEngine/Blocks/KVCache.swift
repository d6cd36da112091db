import ScalewiseKernels

/// One layer's keys and values for every conditioning row, pre-allocated for the whole schedule so it is
/// never re-copied as it grows. Stepping back is free: only `length` moves; later writes overwrite.
final class KVCache {
    let rows: Int, capacity: Int, C: Int
    /// Keys and values `[rows, capacity, C]` in f32 (the fp32 path), or nil when `packed` holds them.
    let k: Tensor?, v: Tensor?
    /// The bf16 and int8 paths: bf16 keys and values in the attention kernel's layout (half the memory, and
    /// attention's products run in bf16 as under PyTorch's autocast).
    let packed: PackedKV?
    var length = 0

    init(rows: Int, capacity: Int, C: Int, heads: Int, bf16: Bool = false) {
        self.rows = rows
        self.capacity = capacity
        self.C = C
        let fresh = Scratch()  // not zeroed: only positions below `length` are read
        if bf16 && PackedKV.supports(headDim: C / max(heads, 1)) {
            packed = PackedKV(rows: rows, capacity: capacity, heads: heads, headDim: C / heads, scratch: fresh)
            (k, v) = (nil, nil)
        } else {
            packed = nil
            (k, v) = (fresh.map([rows, capacity, C]), fresh.map([rows, capacity, C]))
        }
    }

    /// Appends the k and v parts of a normalised [rows·l, 3C] qkv buffer at positions length..<length+l.
    func append(qkv: UnsafePointer<Float>, tokens l: Int) {
        precondition(length + l <= capacity, "KV cache overflow")
        for r in 0..<rows {
            let src = qkv + r * l * 3 * C
            if let packed {
                packed.write(row: r, keys: src + C, values: src + 2 * C, ld: 3 * C, tokens: l, at: length)
                continue
            }
            let dst = (r * capacity + length) * C
            for t in 0..<l {
                (k!.ptr + dst + t * C).update(from: src + t * 3 * C + C, count: C)
                (v!.ptr + dst + t * C).update(from: src + t * 3 * C + 2 * C, count: C)
            }
        }
        length += l
    }

    /// Attention of the newest `l` queries of every row over all cached keys (previous scales and the
    /// current one, bidirectionally — the block-causal mask restricted to the current rows). `scratch` holds
    /// the f32 path's scores; every layer's cache shares the run's one (one per layer held 16 × 11 MiB at 256 px).
    func attend(qkv: UnsafePointer<Float>, tokens l: Int, heads: Int, headDim: Int, scale: Float,
                out: UnsafeMutablePointer<Float>, scratch: Scratch) {
        if let packed {
            packed.attend(q: qkv, ldq: 3 * C, qRowStride: l * 3 * C, queries: l, keys: length, scale: scale, out: out,
                          ldo: C, outRowStride: l * C)
            return
        }
        for r in 0..<rows {
            attention(q: qkv + r * l * 3 * C, ldq: 3 * C, queries: l, k: k!.ptr + r * capacity * C, ldk: C,
                      v: v!.ptr + r * capacity * C, ldv: C, keys: length, heads: heads, headDim: headDim, scale: scale,
                      out: out + r * l * C, ldo: C, scratch: scratch)
        }
    }
}
