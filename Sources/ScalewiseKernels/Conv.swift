// Batch-1 NCHW convolution. General case: im2col + sgemm, in bands of output rows so that the column
// buffer stays cache-sized instead of 9× the input (377 MB for a 3×3 conv at 160 ch, 256²). Large 3×3
// convs go to Winograd (Winograd.swift) instead.

/// Zero padding per side, in input pixels. Asymmetric padding exists in the wild (the LDM encoder's
/// downsample pads only right and bottom).
public struct Padding: Sendable, Equatable {
    public var top, left, bottom, right: Int
    public init(top: Int, left: Int, bottom: Int, right: Int) {
        (self.top, self.left, self.bottom, self.right) = (top, left, bottom, right)
    }
    public static func uniform(_ p: Int) -> Padding { Padding(top: p, left: p, bottom: p, right: p) }
    public static let zero = Padding.uniform(0)
}

/// How `conv2d` computes a convolution. All give the same result up to float rounding.
public enum ConvAlgorithm: Sendable {
    /// Winograd for 3×3 / stride 1 / pad 1 convs with enough channels and pixels, im2col otherwise.
    case auto
    /// im2col + sgemm (1×1 stride-1 unpadded convs skip im2col).
    case im2col
    /// Winograd F(2×2, 3×3); only valid for 3×3, stride 1, padding 1.
    case winograd
}

/// `.auto` picks Winograd from this many input channels and 2×2 tiles up: below them its GEMMs
/// ([O, C]·[C, tiles]) get too thin and im2col's K = 9C wins. Measured: Winograd ahead at 64 ch 32²,
/// 320 ch 16² (1.6 vs 2.2 ms) and 640 ch 16²; behind at 32 ch 32² (0.17 vs 0.14 ms).
let winogradMinChannels = 64
let winogradMinTiles = 64

/// PyTorch `Conv2d` (groups = 1, dilation = 1) on one image: input `[C, H, W]`, weight `[O, C, kh, kw]`,
/// bias `[O]`, out `[O, Ho, Wo]` with Ho = (H + top + bottom − kh)/stride + 1 (likewise Wo).
/// `out` must not share storage with `input`. Temporaries live in `scratch` (slots .im2col, .convOut,
/// .convWeights).
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Padding,
                   out: Tensor, scratch: Scratch, algorithm: ConvAlgorithm = .auto) {
    precondition(input.shape.count == 3 && weight.shape.count == 4, "conv2d: input \(input.shape), weight \(weight.shape)")
    let (c, h, w) = (input.shape[0], input.shape[1], input.shape[2])
    let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    precondition(weight.shape[1] == c, "conv2d: weight \(weight.shape) vs \(c) input channels")
    let ho = (h + padding.top + padding.bottom - kh) / stride + 1
    let wo = (w + padding.left + padding.right - kw) / stride + 1
    precondition(out.shape == [o, ho, wo], "conv2d: out \(out.shape), expected \([o, ho, wo])")
    precondition(bias == nil || bias!.count == o, "conv2d: bias \(bias!.shape) vs \(o) outputs")
    let winogradShape = kh == 3 && kw == 3 && stride == 1 && padding == .uniform(1)
    precondition(algorithm != .winograd || winogradShape, "conv2d: Winograd needs 3×3, stride 1, padding 1")
    let useWinograd = algorithm == .winograd || (algorithm == .auto && winogradShape
        && c >= winogradMinChannels && ((h + 1) / 2) * ((w + 1) / 2) >= winogradMinTiles)
    if useWinograd {
        winogradConv3x3(input.ptr, channels: c, height: h, width: w, weight: weight.ptr, outChannels: o,
                        bias: bias?.ptr, out: out.ptr, scratch: scratch)
        return
    }
    convGemm(input.ptr, channels: c, height: h, width: w, weight: weight.ptr, outChannels: o, kh: kh, kw: kw,
             stride: stride, padding: padding, bias: bias?.ptr, out: out.ptr, scratch: scratch)
}

/// Band size: the im2col buffer of one band is at most about this many bytes, so that sgemm reads it back
/// from the 32 MB L3 rather than DRAM, but at least `im2colMinColumns` wide, below which sgemm on two
/// threads loses efficiency (measured: N = 1024 about 5% slower than N ≥ 2048 for M = 160, K = 1440).
let im2colBandBytes = 12 << 20
let im2colMinColumns = 2048

/// out[O, Ho·Wo] = weight[O, C·kh·kw] · im2col(input) (+ bias). 1×1 stride-1 unpadded convs skip im2col:
/// the input already is the column matrix.
func convGemm(_ input: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
              weight: UnsafePointer<Float>, outChannels o: Int, kh: Int, kw: Int, stride: Int, padding: Padding,
              bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, scratch: Scratch) {
    let ho = (h + padding.top + padding.bottom - kh) / stride + 1
    let wo = (w + padding.left + padding.right - kw) / stride + 1
    let k = c * kh * kw, spatial = ho * wo
    if let bias {
        parallelRanges(o, grain: max(1, 4096 / max(spatial, 1))) { outChannels in
            for oc in outChannels { (out + oc * spatial).update(repeating: bias[oc], count: spatial) }
        }
    }
    let beta: Float = bias == nil ? 0 : 1
    if kh == 1 && kw == 1 && stride == 1 && padding == .zero {
        gemm(m: o, n: spatial, k: c, a: weight, lda: c, b: input, ldb: h * w, beta: beta, c: out, ldc: spatial)
        return
    }
    let bandRows = min(ho, max(im2colBandBytes / max(1, k * wo * 4), (im2colMinColumns + wo - 1) / wo))
    let cols = scratch.floats(k * bandRows * wo, .im2col)
    for y0 in Swift.stride(from: 0, to: ho, by: bandRows) {
        let rows = min(bandRows, ho - y0)
        let n = rows * wo
        im2col(input, channels: c, height: h, width: w, kh: kh, kw: kw, stride: stride, padding: padding,
               outWidth: wo, firstRow: y0, rows: rows, into: cols)
        gemm(m: o, n: n, k: k, a: weight, lda: k, b: cols, ldb: n, beta: beta, c: out + y0 * wo, ldc: spatial)
    }
}

/// Column matrix `[C·kh·kw, rows·Wo]` for output rows [firstRow, firstRow + rows): row (c, ky, kx) holds the
/// input pixel each output position sees through tap (ky, kx), zero where the tap falls in the padding.
/// Row order matches the flattening of a `[O, C, kh, kw]` weight.
func im2col(_ input: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int, kh: Int, kw: Int,
            stride s: Int, padding: Padding, outWidth wo: Int, firstRow: Int, rows: Int,
            into cols: UnsafeMutablePointer<Float>) {
    let n = rows * wo
    parallelRanges(c, grain: 4) { channels in
    for ch in channels {
        let plane = input + ch * h * w
        var dst = cols + ch * kh * kw * n
        for ky in 0..<kh {
            for kx in 0..<kw {
                // Output columns [x0, x1) read inside the image for this tap; the rest are padding.
                let x0 = min(wo, max(0, (padding.left - kx + s - 1) / s))
                let x1 = max(x0, min(wo, (w + padding.left - kx + s - 1) / s))
                for r in 0..<rows {
                    let d = dst + r * wo
                    let iy = (firstRow + r) * s + ky - padding.top
                    guard iy >= 0 && iy < h else { d.update(repeating: 0, count: wo); continue }
                    let src = plane + iy * w + kx - padding.left
                    if x0 > 0 { d.update(repeating: 0, count: x0) }
                    if s == 1 {
                        (d + x0).update(from: src + x0, count: x1 - x0)
                    } else {
                        for x in x0..<x1 { d[x] = src[x * s] }
                    }
                    if x1 < wo { (d + x1).update(repeating: 0, count: wo - x1) }
                }
                dst += n
            }
        }
    }
    }
}

/// Nearest-neighbour ×2 upsampling (`F.interpolate(scale_factor=2, mode='nearest')`):
/// src `[C, h, w]` → dst `[C, 2h, 2w]`, every pixel copied into a 2×2 block.
public func upsampleNearest2x(_ src: Tensor, out dst: Tensor) {
    let (c, h, w) = (src.shape[0], src.shape[1], src.shape[2])
    precondition(dst.shape == [c, 2 * h, 2 * w], "upsampleNearest2x: \(src.shape) → \(dst.shape)")
    for ch in 0..<c {
        for y in 0..<h {
            let s = src.ptr + (ch * h + y) * w
            let d = dst.ptr + (ch * 2 * h + 2 * y) * 2 * w
            for x in 0..<w { d[2 * x] = s[x]; d[2 * x + 1] = s[x] }
            (d + 2 * w).update(from: d, count: 2 * w)
        }
    }
}
