/// Batch-1 convolution as im2col + sgemm, in bands of output rows so the column buffer stays small
/// (a 3×3 conv at 160 channels and 256×256 would otherwise need a 377 MB im2col matrix).
public func conv2d(input: Tensor, weight: Tensor, bias: Tensor?, stride: Int,
                   padding: (top: Int, left: Int, bottom: Int, right: Int), out: Tensor) {
    let (C, H, W) = (input.shape[0], input.shape[1], input.shape[2])
    let (O, k) = (weight.shape[0], weight.shape[2])
    let (Ho, Wo) = (out.shape[1], out.shape[2])
    precondition(weight.shape[1] == C && out.shape[0] == O, "conv2d shape mismatch")
    fillBias(out, bias)
    if k == 1 && stride == 1 && padding == (0, 0, 0, 0) {
        gemm(transA: false, transB: false, m: O, n: H * W, k: C, alpha: 1, a: weight.ptr, lda: C, b: input.ptr,
             ldb: H * W, beta: 1, c: out.ptr, ldc: Ho * Wo)
        return
    }
    convBands(C: C, k: k, O: O, Ho: Ho, Wo: Wo, weight: weight, out: out) { cols, y0, rows in
        im2col(input.ptr, C: C, H: H, W: W, k: k, stride: stride, padTop: padding.top, padLeft: padding.left,
               y0: y0, rows: rows, Wo: Wo, cols: cols)
    }
}

/// Nearest-neighbour ×2 upsampling followed by a 3×3, pad-1 conv, reading the small map directly
/// (the official `Upsample2x`) instead of materialising the 4× larger one.
public func upsampleNearest2xConv3x3(input: Tensor, weight: Tensor, bias: Tensor?, out: Tensor) {
    let (C, H, W) = (input.shape[0], input.shape[1], input.shape[2])
    let O = weight.shape[0]
    fillBias(out, bias)
    convBands(C: C, k: 3, O: O, Ho: 2 * H, Wo: 2 * W, weight: weight, out: out) { cols, y0, rows in
        im2col(input.ptr, C: C, H: 2 * H, W: 2 * W, k: 3, stride: 1, padTop: 1, padLeft: 1, y0: y0, rows: rows,
               Wo: 2 * W, cols: cols, source: (H, W))
    }
}

public func upsampleNearest2x(_ x: Tensor) -> Tensor {
    let (C, H, W) = (x.shape[0], x.shape[1], x.shape[2])
    let out = Tensor(shape: [C, 2 * H, 2 * W])
    for c in 0..<C {
        for y in 0..<(2 * H) {
            let src = x.ptr + (c * H + y / 2) * W, dst = out.ptr + (c * 2 * H + y) * 2 * W
            for xx in 0..<(2 * W) { dst[xx] = src[xx / 2] }
        }
    }
    return out
}

private func fillBias(_ out: Tensor, _ bias: Tensor?) {
    let O = out.shape[0], n = out.count / O
    for o in 0..<O { (out.ptr + o * n).update(repeating: bias?.ptr[o] ?? 0, count: n) }
}

/// Runs `fill(cols, y0, rows)` then one sgemm per band of output rows.
private func convBands(C: Int, k: Int, O: Int, Ho: Int, Wo: Int, weight: Tensor, out: Tensor,
                       fill: (UnsafeMutablePointer<Float>, Int, Int) -> Void) {
    let K = C * k * k
    let bandRows = max(1, min(Ho, (1 << 21) / max(K * Wo, 1)))
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: K * bandRows * Wo)
    defer { cols.deallocate() }
    var y0 = 0
    while y0 < Ho {
        let rows = min(bandRows, Ho - y0)
        fill(cols, y0, rows)
        gemm(transA: false, transB: false, m: O, n: rows * Wo, k: K, alpha: 1, a: weight.ptr, lda: K, b: cols,
             ldb: rows * Wo, beta: 1, c: out.ptr + y0 * Wo, ldc: Ho * Wo)
        y0 += rows
    }
}

/// Column matrix [C·k·k, rows·Wo] for output rows y0..<y0+rows. With `source` = (h, w), the input is the
/// nearest-×2 upsampling of an h×w map, read through index halving.
@inline(__always)
private func im2col(_ x: UnsafePointer<Float>, C: Int, H: Int, W: Int, k: Int, stride: Int, padTop: Int, padLeft: Int,
                    y0: Int, rows: Int, Wo: Int, cols: UnsafeMutablePointer<Float>, source: (Int, Int)? = nil) {
    let n = rows * Wo
    let (sh, sw) = source ?? (H, W)
    let half = source != nil
    for c in 0..<C {
        let plane = x + c * sh * sw
        for ky in 0..<k {
            for kx in 0..<k {
                let dst = cols + ((c * k + ky) * k + kx) * n
                for r in 0..<rows {
                    let iy = (y0 + r) * stride - padTop + ky
                    let d = dst + r * Wo
                    guard iy >= 0 && iy < H else {
                        d.update(repeating: 0, count: Wo)
                        continue
                    }
                    let srcRow = plane + (half ? iy / 2 : iy) * sw
                    for ox in 0..<Wo {
                        let ix = ox * stride - padLeft + kx
                        d[ox] = ix >= 0 && ix < W ? srcRow[half ? ix / 2 : ix] : 0
                    }
                }
            }
        }
    }
}

private func == (a: (Int, Int, Int, Int), b: (Int, Int, Int, Int)) -> Bool {
    a.0 == b.0 && a.1 == b.1 && a.2 == b.2 && a.3 == b.3
}
