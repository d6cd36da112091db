import COpenBLAS

/// Row-major sgemm: C = alpha·op(A)·op(B) + beta·C.
public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// PyTorch `nn.Linear`: y [rows, N] = x [rows, K] · Wᵀ + b, with W stored [N, K].
/// A few rows go through one sgemv each: OpenBLAS's sgemm packs the whole weight first, which for a
/// token-at-a-time step (AiM: 2 guidance rows) costs more than reading the weight once per row.
/// Up to this many rows, `linear` calls sgemv per row (measured on AiM-B's steps: 43 s → 16 s per image).
private let gemvRows = 2

public func linear(x: UnsafePointer<Float>, rows: Int, weight: Tensor, bias: Tensor?, out: UnsafeMutablePointer<Float>) {
    let n = weight.shape[0], k = weight.shape[1]
    if let b = bias {
        for r in 0..<rows { (out + r * n).update(from: b.ptr, count: n) }
    }
    let beta: Float = bias == nil ? 0 : 1
    if rows <= gemvRows {
        for r in 0..<rows {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, weight.ptr, Int32(k), x + r * k, 1, beta,
                        out + r * n, 1)
        }
    } else {
        gemm(transA: false, transB: true, m: rows, n: n, k: k, alpha: 1, a: x, lda: k, b: weight.ptr, ldb: k,
             beta: beta, c: out, ldc: n)
    }
}

public func linear(x: Tensor, weight: Tensor, bias: Tensor?, out: Tensor) {
    linear(x: x.ptr, rows: x.count / weight.shape[1], weight: weight, bias: bias, out: out.ptr)
}
