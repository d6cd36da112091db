import ScalewiseKernels

/// One layer's keys and values for every conditioning row, pre-allocated for the whole schedule so it is
/// never re-copied as it grows. Stepping back is free: only `length` moves; later writes overwrite.
final class KVCache {
    let rows: Int, capacity: Int, C: Int
    /// Keys and values `[rows, capacity, C]`: f32, or bf16 bit patterns in the low-precision paths (half the
    /// memory, and attention's products run in bf16 as under PyTorch's autocast).
    let k: Tensor, v: Tensor
    let bf16: Bool
    var length = 0

    init(rows: Int, capacity: Int, C: Int, bf16: Bool = false) {
        self.rows = rows
        self.capacity = capacity
        self.C = C
        self.bf16 = bf16
        let n = rows * capacity * C
        k = Tensor(shape: bf16 ? [(n + 1) / 2] : [rows, capacity, C])
        v = Tensor(shape: bf16 ? [(n + 1) / 2] : [rows, capacity, C])
    }

    private var kHalf: UnsafeMutablePointer<UInt16> { UnsafeMutableRawPointer(k.ptr).assumingMemoryBound(to: UInt16.self) }
    private var vHalf: UnsafeMutablePointer<UInt16> { UnsafeMutableRawPointer(v.ptr).assumingMemoryBound(to: UInt16.self) }

    /// Appends the k and v parts of a normalised [rows·l, 3C] qkv buffer at positions length..<length+l.
    func append(qkv: UnsafePointer<Float>, tokens l: Int) {
        precondition(length + l <= capacity, "KV cache overflow")
        for r in 0..<rows {
            let src = qkv + r * l * 3 * C, dst = (r * capacity + length) * C
            if bf16 {
                roundToBF16(src + C, rows: l, cols: C, ld: 3 * C, into: kHalf + dst)
                roundToBF16(src + 2 * C, rows: l, cols: C, ld: 3 * C, into: vHalf + dst)
            } else {
                for t in 0..<l {
                    (k.ptr + dst + t * C).update(from: src + t * 3 * C + C, count: C)
                    (v.ptr + dst + t * C).update(from: src + t * 3 * C + 2 * C, count: C)
                }
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
            let q = qkv + r * l * 3 * C
            guard bf16 else {
                attention(q: q, ldq: 3 * C, queries: l, k: k.ptr + r * capacity * C, ldk: C, v: v.ptr + r * capacity * C,
                          ldv: C, keys: length, heads: heads,
                          headDim: headDim, scale: scale, out: out + r * l * C, ldo: C, scratch: scratch)
                continue
            }
            let qHalf = scratch.tensor([(l * C + 1) / 2], .user(0))
            let qb = UnsafeMutableRawPointer(qHalf.ptr).assumingMemoryBound(to: UInt16.self)
            roundToBF16(q, rows: l, cols: C, ld: 3 * C, into: qb)
            attentionBF16(q: qb, ldq: C, queries: l, k: kHalf + r * capacity * C, ldk: C, v: vHalf + r * capacity * C,
                          ldv: C, keys: length, heads: heads, headDim: headDim, scale: scale, out: out + r * l * C,
                          ldo: C, scratch: scratch)
        }
    }
}
