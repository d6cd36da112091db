// Matrix products on OpenBLAS, row-major throughout, with PyTorch's Linear convention for weights.
import COpenBLAS

/// OpenBLAS's worker-thread count (the process-wide pthread pool, default = number of cores).
public enum Threads {
    /// Sets the number of threads every later BLAS call uses (values above the core count are capped by OpenBLAS).
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    public static var count: Int { Int(openblas_get_num_threads()) }
}

/// C = alpha·op(A)·op(B) + beta·C, row-major; op(X) = Xᵀ when trans is set. `m×n` is C's shape and `k` the
/// inner dimension; lda/ldb/ldc are row strides of A, B, C as stored.
@inline(__always)
public func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// y = alpha·op(A)·x + beta·y for a row-major `rows×cols` A; op(A) = Aᵀ when `trans`.
@inline(__always)
public func gemv(trans: Bool = false, rows: Int, cols: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                 x: UnsafePointer<Float>, incx: Int = 1, beta: Float = 0,
                 y: UnsafeMutablePointer<Float>, incy: Int = 1) {
    cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(rows), Int32(cols), alpha, a, Int32(lda),
                x, Int32(incx), beta, y, Int32(incy))
}

/// Up to this many rows, one sgemv per row beats sgemm: OpenBLAS 0.3.21's sgemm is 8–10× slower than
/// sgemv for a single row (research/swift-c-libs.md §5), and on two threads it splits small M between them
/// (M = 4: 13 GFLOP/s). Measured with weights streamed from DRAM (1920×7680): M = 4 sgemv 7 ms vs sgemm
/// 9 ms, M = 8 sgemv 19 ms vs sgemm 13 ms.
public let linearGemvMaxRows = 4

/// PyTorch `nn.Linear` on raw pointers: out[m, :] = x[m, :]·weightᵀ + bias, with weight stored `[n, k]`.
/// `ldx`/`ldOut` are row strides (default: packed), so rows can come from or go into a wider buffer
/// such as a KV cache. `bias` is added exactly once, whatever the path.
public func linear(_ x: UnsafePointer<Float>, rows m: Int, inFeatures k: Int, ldx: Int? = nil,
                   weight: UnsafePointer<Float>, outFeatures n: Int, bias: UnsafePointer<Float>?,
                   out: UnsafeMutablePointer<Float>, ldOut: Int? = nil) {
    let ldx = ldx ?? k, ldo = ldOut ?? n
    if let bias {
        for r in 0..<m { (out + r * ldo).update(from: bias, count: n) }
    }
    let beta: Float = bias == nil ? 0 : 1
    if m <= linearGemvMaxRows {
        for r in 0..<m {
            gemv(rows: n, cols: k, a: weight, lda: k, x: x + r * ldx, beta: beta, y: out + r * ldo)
        }
    } else {
        gemm(transB: true, m: m, n: n, k: k, a: x, lda: ldx, b: weight, ldb: k, beta: beta, c: out, ldc: ldo)
    }
}

/// PyTorch `nn.Linear`: x `[M, K]`, weight `[N, K]`, bias `[N]`, out `[M, N]` (any leading shape that
/// flattens to M rows is accepted).
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, out: Tensor) {
    precondition(weight.shape.count == 2, "linear weight must be [out, in], got \(weight.shape)")
    let n = weight.shape[0], k = weight.shape[1]
    precondition(x.shape.last == k && x.count % max(k, 1) == 0, "linear: x \(x.shape) vs weight \(weight.shape)")
    let m = x.count / max(k, 1)
    precondition(out.count == m * n, "linear: out \(out.shape), expected \(m)×\(n)")
    precondition(bias == nil || bias!.count == n, "linear: bias \(bias!.shape) vs \(n) outputs")
    linear(x.ptr, rows: m, inFeatures: k, weight: weight.ptr, outFeatures: n, bias: bias?.ptr, out: out.ptr)
}

/// out `[M, N]` = a `[M, K]` · b `[K, N]` (plain matrix product, no transposes).
public func matmul(_ a: Tensor, _ b: Tensor, out: Tensor) {
    precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[1] == b.shape[0], "matmul \(a.shape)·\(b.shape)")
    let m = a.shape[0], k = a.shape[1], n = b.shape[1]
    precondition(out.count == m * n, "matmul: out \(out.shape), expected \(m)×\(n)")
    if m == 1 {
        gemv(trans: true, rows: k, cols: n, a: b.ptr, lda: n, x: a.ptr, y: out.ptr)
    } else {
        gemm(m: m, n: n, k: k, a: a.ptr, lda: k, b: b.ptr, ldb: n, c: out.ptr, ldc: n)
    }
}

/// dst `[cols, rows]` = srcᵀ for a row-major `[rows, cols]` src. Blocked so both sides stay in cache.
public func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int, ldSrc: Int? = nil,
                      into dst: UnsafeMutablePointer<Float>, ldDst: Int? = nil) {
    let lds = ldSrc ?? cols, ldd = ldDst ?? rows
    let block = 32
    for r0 in stride(from: 0, to: rows, by: block) {
        let r1 = min(rows, r0 + block)
        for c0 in stride(from: 0, to: cols, by: block) {
            let c1 = min(cols, c0 + block)
            for r in r0..<r1 {
                let s = src + r * lds
                for c in c0..<c1 { dst[c * ldd + r] = s[c] }
            }
        }
    }
}
