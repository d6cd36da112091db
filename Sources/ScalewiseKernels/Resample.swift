// PyTorch `F.interpolate(size=…, align_corners=False)` for bicubic, area and nearest, as separable
// 1-D weight matrices (cached per (mode, in, out)) applied along W, then along H — the same order as
// PyTorch's CPU kernel. Used for the multi-scale latent pyramid, where sizes are 1…64 and often h ≠ w.
import Synchronization

public enum ResizeMode: Sendable, Hashable {
    /// Cubic convolution, A = −0.75; source x = (i + 0.5)·in/out − 0.5, not clamped; the four taps are
    /// clamped to [0, in − 1] and weights landing on one index add up (so borders replicate).
    case bicubic
    /// `adaptive_avg_pool` windows [⌊i·in/out⌋, ⌈(i+1)·in/out⌉), for shrinking and growing alike.
    case area
    /// PyTorch's legacy 'nearest': ⌊i·(in/out)⌋ with the ratio in Float32, clamped to in − 1.
    case nearest
}

/// A dense `[out, in]` 1-D resampling matrix plus, per output, the range of inputs with nonzero weight.
struct ResizeWeights: Sendable {
    let outSize, inSize: Int
    let matrix: [Float]
    let lo, hi: [Int]

    init(_ mode: ResizeMode, from n: Int, to m: Int) {
        var dense = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            switch mode {
            case .bicubic:
                let src = (Double(i) + 0.5) * Double(n) / Double(m) - 0.5
                let i0 = Int(src.rounded(.down))
                let t = src - Double(i0)
                let w = [cubicOuter(t + 1), cubicInner(t), cubicInner(1 - t), cubicOuter(2 - t)]
                for tap in 0..<4 { dense[i * n + min(max(i0 - 1 + tap, 0), n - 1)] += w[tap] }
            case .area:
                let start = (i * n) / m, end = ((i + 1) * n + m - 1) / m
                for j in start..<end { dense[i * n + j] = 1 / Double(end - start) }
            case .nearest:
                let ratio = Float(n) / Float(m)
                dense[i * n + min(Int((Float(i) * ratio).rounded(.down)), n - 1)] = 1
            }
        }
        outSize = m
        inSize = n
        matrix = dense.map { Float($0) }
        lo = (0..<m).map { i in (0..<n).first { dense[i * n + $0] != 0 } ?? 0 }
        hi = (0..<m).map { i in ((0..<n).last { dense[i * n + $0] != 0 } ?? -1) + 1 }
    }
}

/// Keys's cubic convolution kernel with A = −0.75 (PyTorch's choice), for |x| ≤ 1 …
private func cubicInner(_ x: Double) -> Double {
    let a = -0.75
    return ((a + 2) * x - (a + 3)) * x * x + 1
}

/// … and for 1 < |x| < 2.
private func cubicOuter(_ x: Double) -> Double {
    let a = -0.75
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
}

private struct ResizeKey: Hashable { let mode: ResizeMode, n: Int, m: Int }
private let weightCache = Mutex<[ResizeKey: ResizeWeights]>([:])

func resizeWeights(_ mode: ResizeMode, from n: Int, to m: Int) -> ResizeWeights {
    let key = ResizeKey(mode: mode, n: n, m: m)
    if let w = weightCache.withLock({ $0[key] }) { return w }
    let w = ResizeWeights(mode, from: n, to: m)
    weightCache.withLock { $0[key] = w }
    return w
}

/// The 1-D matrix `[out, in]` (row-major) that `resize` applies along each axis, for inspection and tests.
public func resizeMatrix(_ mode: ResizeMode, from n: Int, to m: Int) -> [Float] {
    resizeWeights(mode, from: n, to: m).matrix
}

/// src `[C, h, w]` → dst `[C, H, W]` with PyTorch `F.interpolate(size: (H, W), mode, align_corners=False)`
/// semantics (no antialiasing).
public func resize(_ src: Tensor, to dst: Tensor, mode: ResizeMode) {
    precondition(src.shape.count == 3 && dst.shape.count == 3 && src.shape[0] == dst.shape[0],
                 "resize: \(src.shape) → \(dst.shape)")
    resize(src.ptr, channels: src.shape[0], height: src.shape[1], width: src.shape[2],
           to: dst.ptr, height: dst.shape[1], width: dst.shape[2], mode: mode)
}

public func bicubicResize(_ src: Tensor, to dst: Tensor) { resize(src, to: dst, mode: .bicubic) }
public func areaResize(_ src: Tensor, to dst: Tensor) { resize(src, to: dst, mode: .area) }
public func nearestResize(_ src: Tensor, to dst: Tensor) { resize(src, to: dst, mode: .nearest) }

/// Pointer form of `resize`: src `[C, h, w]`, dst `[C, outH, outW]`, both packed.
public func resize(_ src: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                   to dst: UnsafeMutablePointer<Float>, height outH: Int, width outW: Int, mode: ResizeMode) {
    let along = resizeWeights(mode, from: w, to: outW), down = resizeWeights(mode, from: h, to: outH)
    along.matrix.withUnsafeBufferPointer { mw in
        down.matrix.withUnsafeBufferPointer { mh in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, h * outW)) { tmpBuffer in
                let tmp = tmpBuffer.baseAddress!
                for ch in 0..<c {
                    let plane = src + ch * h * w, out = dst + ch * outH * outW
                    // Along W: tmp[y, X] = Σ_x Mw[X, x]·src[y, x].
                    for y in 0..<h {
                        let s = plane + y * w, t = tmp + y * outW
                        for x in 0..<outW {
                            let row = mw.baseAddress! + x * w
                            var acc: Float = 0
                            for j in along.lo[x]..<along.hi[x] { acc += row[j] * s[j] }
                            t[x] = acc
                        }
                    }
                    // Along H: out[Y, :] = Σ_y Mh[Y, y]·tmp[y, :].
                    for y in 0..<outH {
                        let o = out + y * outW, row = mh.baseAddress! + y * h
                        o.update(repeating: 0, count: outW)
                        for j in down.lo[y]..<down.hi[y] { axpy(row[j], tmp + j * outW, o, count: outW) }
                    }
                }
            }
        }
    }
}
