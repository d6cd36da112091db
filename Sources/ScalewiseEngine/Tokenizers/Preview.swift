import Foundation
import ScalewiseKernels

/// The cheapest preview tier: a linear map from a latent vector to RGB in [0, 1], one pixel per latent
/// cell (the idea of stable-diffusion's "latent2rgb" previews). Fitted by least squares against the decoder,
/// stored in the tokenizer's metadata (`preview`), or fitted at first use when a file has none.
public struct LatentPreview: Sendable {
    public let weights: [[Float]]  // [3][C]
    public let bias: [Float]  // [3]

    public init(weights: [[Float]], bias: [Float]) {
        self.weights = weights
        self.bias = bias
    }

    public var json: String {
        let rows = weights + [bias]
        return "[" + rows.map { "[" + $0.map { String($0) }.joined(separator: ",") + "]" }.joined(separator: ",") + "]"
    }

    /// f [C, h, w] → h×w RGB.
    public func apply(_ f: Tensor) -> RGBImage {
        let C = f.shape[0], h = f.shape[1], w = f.shape[2], n = h * w
        var img = RGBImage(width: w, height: h)
        for p in 0..<n {
            for ch in 0..<3 {
                var v = bias[ch]
                for c in 0..<C { v += weights[ch][c] * f.ptr[c * n + p] }
                img.pixels[p * 3 + ch] = unitToByte(v)
            }
        }
        return img
    }

    /// Least squares (with a little ridge) from latent cells to the mean colour of their pixel blocks.
    static func fit(latents: [Tensor], images: [Tensor]) -> LatentPreview {
        let C = latents[0].shape[0], D = C + 1
        var ata = [Double](repeating: 0, count: D * D)
        var atb = [[Double]](repeating: [Double](repeating: 0, count: D), count: 3)
        for (f, img) in zip(latents, images) {
            let h = f.shape[1], w = f.shape[2], H = img.shape[1], W = img.shape[2]
            let (sy, sx) = (H / h, W / w)
            for y in 0..<h {
                for x in 0..<w {
                    var a = [Double](repeating: 1, count: D)
                    for c in 0..<C { a[c] = Double(f.ptr[(c * h + y) * w + x]) }
                    for i in 0..<D { for j in 0..<D { ata[i * D + j] += a[i] * a[j] } }
                    for ch in 0..<3 {
                        var mean = 0.0
                        for yy in 0..<sy { for xx in 0..<sx { mean += Double(img.ptr[(ch * H + y * sy + yy) * W + x * sx + xx]) } }
                        mean = (mean / Double(sy * sx) + 1) / 2
                        for i in 0..<D { atb[ch][i] += a[i] * mean }
                    }
                }
            }
        }
        for i in 0..<C { ata[i * D + i] += 1e-3 }
        let sol = atb.map { solve(ata, $0, n: D) }
        return LatentPreview(weights: sol.map { $0[0..<C].map { Float($0) } }, bias: sol.map { Float($0[C]) })
    }

    /// Gaussian elimination with partial pivoting for the small normal equations.
    private static func solve(_ m: [Double], _ b: [Double], n: Int) -> [Double] {
        var a = m, x = b
        for col in 0..<n {
            var piv = col
            for r in col..<n where abs(a[r * n + col]) > abs(a[piv * n + col]) { piv = r }
            if piv != col {
                for c in 0..<n { a.swapAt(col * n + c, piv * n + c) }
                x.swapAt(col, piv)
            }
            let d = a[col * n + col]
            guard abs(d) > 1e-12 else { continue }
            for r in 0..<n where r != col {
                let f = a[r * n + col] / d
                if f == 0 { continue }
                for c in col..<n { a[r * n + c] -= f * a[col * n + c] }
                x[r] -= f * x[col]
            }
        }
        return (0..<n).map { abs(a[$0 * n + $0]) > 1e-12 ? x[$0] / a[$0 * n + $0] : 0 }
    }
}

/// [0, 1] → byte, rounding half to even like `torch.round(x·255)`.
@inline(__always) func unitToByte(_ v: Float) -> UInt8 {
    UInt8(min(255, max(0, (v * 255).rounded(.toNearestOrEven))))
}

/// A decoder output [3, H, W] in [−1, 1] → RGB bytes of (x + 1)/2.
public func imageFromUnit(_ x: Tensor) -> RGBImage {
    let H = x.shape[1], W = x.shape[2], n = H * W
    var img = RGBImage(width: W, height: H)
    for p in 0..<n { for ch in 0..<3 { img.pixels[p * 3 + ch] = unitToByte((x.ptr[ch * n + p] + 1) / 2) } }
    return img
}

extension VQVAE {
    /// The projection-tier preview of a latent (one pixel per cell).
    public func projectPreview(_ f: Tensor) -> RGBImage { previewMap().apply(f) }

    func previewMap() -> LatentPreview { codec.previewMap(side: min(4, latentSide)) }
}

/// A value computed once, on first use, thread-safely. `@unchecked Sendable`: `stored` is only read and written
/// with `lock` held.
final class Lazy<T: Sendable>: @unchecked Sendable {
    private var stored: T?
    private let lock = NSLock()
    func value(_ make: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        if let v = stored { return v }
        let v = make()
        stored = v
        return v
    }

    func valueOrThrow(_ make: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        if let v = stored { return v }
        let v = try make()
        stored = v
        return v
    }
}
