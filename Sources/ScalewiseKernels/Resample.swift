/// PyTorch-exact `F.interpolate` (align_corners=False) for latent maps [C, h, w], separably:
/// out = Wy · in · Wxᵀ with interpolation matrices built exactly as PyTorch builds its taps (var-spec §1.4).
public func bicubicResize(_ src: Tensor, into dst: Tensor) {
    separable(src, dst, bicubicMatrix(from: src.shape[1], to: dst.shape[1]), bicubicMatrix(from: src.shape[2], to: dst.shape[2]))
}

/// `mode='area'` = adaptive average pooling: output cell i averages input cells
/// [⌊i·in/out⌋, ⌈(i+1)·in/out⌉), for down- and up-sampling alike.
public func areaResize(_ src: Tensor, into dst: Tensor) {
    separable(src, dst, areaMatrix(from: src.shape[1], to: dst.shape[1]), areaMatrix(from: src.shape[2], to: dst.shape[2]))
}

/// Row-major [out, in] bicubic weights: A = −0.75, source = (i + ½)·in/out − ½ (not clamped), taps at
/// ⌊source⌋−1…+2 clamped to the edge, weights landing on the same index summed.
public func bicubicMatrix(from n: Int, to m: Int) -> [Float] {
    var M = [Float](repeating: 0, count: m * n)
    let scale = Float(n) / Float(m), A: Float = -0.75
    func near(_ x: Float) -> Float { ((A + 2) * x - (A + 3)) * x * x + 1 }
    func far(_ x: Float) -> Float { ((A * x - 5 * A) * x + 8 * A) * x - 4 * A }
    for i in 0..<m {
        let real = scale * (Float(i) + 0.5) - 0.5
        let i0 = Int(real.rounded(.down))
        let t = real - Float(i0)
        let w = [far(t + 1), near(t), near(1 - t), far(2 - t)]
        for j in 0..<4 {
            let idx = min(max(i0 - 1 + j, 0), n - 1)
            M[i * n + idx] += w[j]
        }
    }
    return M
}

public func areaMatrix(from n: Int, to m: Int) -> [Float] {
    var M = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        let start = (i * n) / m, end = ((i + 1) * n + m - 1) / m
        for j in start..<end { M[i * n + j] = 1 / Float(end - start) }
    }
    return M
}

private func separable(_ src: Tensor, _ dst: Tensor, _ wy: [Float], _ wx: [Float]) {
    let (C, h, w) = (src.shape[0], src.shape[1], src.shape[2])
    let (H, W) = (dst.shape[1], dst.shape[2])
    precondition(dst.shape[0] == C, "resize: channel mismatch")
    var tmp = [Float](repeating: 0, count: h * W)
    for c in 0..<C {
        let s = src.ptr + c * h * w, d = dst.ptr + c * H * W
        for y in 0..<h {
            for X in 0..<W {
                var acc: Float = 0
                for x in 0..<w { acc += s[y * w + x] * wx[X * w + x] }
                tmp[y * W + X] = acc
            }
        }
        for Y in 0..<H {
            for X in 0..<W {
                var acc: Float = 0
                for y in 0..<h { acc += wy[Y * h + y] * tmp[y * W + X] }
                d[Y * W + X] = acc
            }
        }
    }
}
