// 3×3, stride-1, pad-1 convolution by Winograd F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016): each 2×2 output tile is A^T [(G g G^T) ⊙ (B^T d B)] A, so the
// channel contraction becomes 16 GEMMs [O, C]·[C, tiles] with 16 multiplies per tile instead of 36 —
// 2.25× fewer FLOPs. sgemm at K = C runs as fast as im2col's K = 9C here (both ≈ 210 GFLOP/s at 160
// channels), so the saving is real; the transforms only add, subtract and halve, so accuracy stays
// within a few ulp of the direct sum.

/// Bytes of transformed input per band of tile rows, sized like im2col's bands (read back from L3).
let winogradBandBytes = 12 << 20

/// out `[O, H, W]` = conv3x3(input `[C, H, W]`, weight `[O, C, 3, 3]`, pad 1) + bias.
func winogradConv3x3(_ input: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                     weight: UnsafePointer<Float>, outChannels o: Int, bias: UnsafePointer<Float>?,
                     out: UnsafeMutablePointer<Float>, scratch: Scratch) {
    let tilesX = (w + 1) / 2, tilesY = (h + 1) / 2
    let u = scratch.floats(16 * o * c, .convWeights)
    transformWeights(weight, outChannels: o, inChannels: c, into: u)
    let bandRows = max(1, min(tilesY, winogradBandBytes / max(1, 16 * c * tilesX * 4)))
    let v = scratch.floats(16 * c * bandRows * tilesX, .im2col)
    let m = scratch.floats(16 * o * bandRows * tilesX, .convOut)
    for ty0 in stride(from: 0, to: tilesY, by: bandRows) {
        let rows = min(bandRows, tilesY - ty0), n = rows * tilesX
        transformInput(input, channels: c, height: h, width: w, firstTileRow: ty0, tileRows: rows, into: v)
        for xi in 0..<16 {
            gemm(m: o, n: n, k: c, a: u + xi * o * c, lda: c, b: v + xi * c * n, ldb: n, c: m + xi * o * n, ldc: n)
        }
        transformOutput(m, outChannels: o, height: h, width: w, firstTileRow: ty0, tileRows: rows, bias: bias, out: out)
    }
}

/// U[ξ][o][c] = (G g G^T)[ξ] for every 3×3 filter g, with G = [[1,0,0], [½,½,½], [½,−½,½], [0,0,1]].
func transformWeights(_ w: UnsafePointer<Float>, outChannels o: Int, inChannels c: Int,
                      into u: UnsafeMutablePointer<Float>) {
    scatterPlanes(filters: o * c, planes: 16, into: u) { f, dst, ld in
        let g = w + f * 9
        let (g00, g01, g02, g10, g11, g12, g20, g21, g22) = (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8])
        let s0 = g00 + g20, s1 = g01 + g21, s2 = g02 + g22
        // Row i of G·g is (a0, a1, a2); times G^T it gives (a0, ½(a0+a1+a2), ½(a0−a1+a2), a2).
        @inline(__always) func row(_ i: Int, _ a0: Float, _ a1: Float, _ a2: Float) {
            dst[(4 * i) * ld] = a0
            dst[(4 * i + 1) * ld] = 0.5 * (a0 + a1 + a2)
            dst[(4 * i + 2) * ld] = 0.5 * (a0 - a1 + a2)
            dst[(4 * i + 3) * ld] = a2
        }
        row(0, g00, g01, g02)
        row(1, 0.5 * (s0 + g10), 0.5 * (s1 + g11), 0.5 * (s2 + g12))
        row(2, 0.5 * (s0 - g10), 0.5 * (s1 - g11), 0.5 * (s2 - g12))
        row(3, g20, g21, g22)
    }
}

/// Runs `body(f, dst, ld)` for every filter f; body writes float e of its plane-p entry to dst[p·ld + e].
/// Plane p of all filters ends up contiguous at out + p·filters·width (entries of `width` floats). Goes
/// through a small block buffer: writing planes directly means `planes` store streams an exact multiple of
/// 4 KiB apart (e.g. 640·640·4 B), which collide in the L1 sets — measured 5× slower.
@inline(__always) func scatterPlanes(filters: Int, planes: Int, width: Int = 1, into out: UnsafeMutablePointer<Float>,
                                     _ body: (Int, UnsafeMutablePointer<Float>, Int) -> Void) {
    let block = 64, ld = block * width
    withUnsafeTemporaryAllocation(of: Float.self, capacity: planes * ld) { buffer in
        let tmp = buffer.baseAddress!
        for f0 in stride(from: 0, to: filters, by: block) {
            let count = min(block, filters - f0)
            for j in 0..<count { body(f0 + j, tmp + j * width, ld) }
            for p in 0..<planes {
                (out + (p * filters + f0) * width).update(from: tmp + p * ld, count: count * width)
            }
        }
    }
}

/// V[ξ][c][t] = (B^T d B)[ξ] for the 4×4 input patch d of every tile t in the band (zero outside the
/// image), with B^T = [[1,0,−1,0], [0,1,1,0], [0,−1,1,0], [0,1,0,−1]]. The row combination is done on whole
/// padded rows first, so both passes are contiguous loops.
private func transformInput(_ input: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                            firstTileRow ty0: Int, tileRows: Int, into v: UnsafeMutablePointer<Float>) {
    let tilesX = (w + 1) / 2, n = tileRows * tilesX, padded = 2 * tilesX + 2
    parallelRanges(c, grain: 8) { channels in
      withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * padded) { buffer in
        let d = buffer.baseAddress!, t = d + 4 * padded  // d: 4 padded input rows; t: B^T·d, 4 rows
        for ch in channels {
            let plane = input + ch * h * w
            for ty in ty0..<(ty0 + tileRows) {
                for k in 0..<4 {
                    let row = d + k * padded, iy = 2 * ty - 1 + k
                    row.update(repeating: 0, count: padded)
                    if iy >= 0 && iy < h { (row + 1).update(from: plane + iy * w, count: w) }
                }
                for j in 0..<padded {
                    let (d0, d1, d2, d3) = (d[j], d[padded + j], d[2 * padded + j], d[3 * padded + j])
                    t[j] = d0 - d2
                    t[padded + j] = d1 + d2
                    t[2 * padded + j] = d2 - d1
                    t[3 * padded + j] = d1 - d3
                }
                let base = ch * n + (ty - ty0) * tilesX
                for i in 0..<4 {
                    let r = t + i * padded
                    let v0 = v + (4 * i) * c * n + base, v1 = v0 + c * n, v2 = v1 + c * n, v3 = v2 + c * n
                    for tx in 0..<tilesX {
                        let (r0, r1, r2, r3) = (r[2 * tx], r[2 * tx + 1], r[2 * tx + 2], r[2 * tx + 3])
                        v0[tx] = r0 - r2
                        v1[tx] = r1 + r2
                        v2[tx] = r2 - r1
                        v3[tx] = r1 - r3
                    }
                }
            }
        }
      }
    }
}

/// out 2×2 tile = A^T M A + bias, with A^T = [[1,1,1,0], [0,1,−1,−1]]; tiles hanging over an odd edge
/// write only their inside pixels.
private func transformOutput(_ m: UnsafePointer<Float>, outChannels o: Int, height h: Int, width w: Int,
                             firstTileRow ty0: Int, tileRows: Int, bias: UnsafePointer<Float>?,
                             out: UnsafeMutablePointer<Float>) {
    let tilesX = (w + 1) / 2, n = tileRows * tilesX, stride = o * n, fullX = w / 2
    parallelRanges(o, grain: 8) { outChannels in
    for oc in outChannels {
        let b = bias?[oc] ?? 0
        for ty in ty0..<(ty0 + tileRows) {
            let p = m + oc * n + (ty - ty0) * tilesX
            let top = out + (oc * h + 2 * ty) * w
            let bottom = 2 * ty + 1 < h ? top + w : nil
            // Row pass A^T·M: s0 = m0 + m1 + m2, s1 = m1 − m2 − m3 (per column k of the 4×4 tile).
            @inline(__always) func tile(_ tx: Int) -> (Float, Float, Float, Float) {
                var s0 = (Float(0), Float(0), Float(0), Float(0)), s1 = s0
                @inline(__always) func col(_ k: Int) -> (Float, Float) {
                    let m0 = p[k * stride + tx], m1 = p[(4 + k) * stride + tx]
                    let m2 = p[(8 + k) * stride + tx], m3 = p[(12 + k) * stride + tx]
                    return (m0 + m1 + m2, m1 - m2 - m3)
                }
                (s0.0, s1.0) = col(0); (s0.1, s1.1) = col(1); (s0.2, s1.2) = col(2); (s0.3, s1.3) = col(3)
                return (s0.0 + s0.1 + s0.2 + b, s0.1 - s0.2 - s0.3 + b, s1.0 + s1.1 + s1.2 + b, s1.1 - s1.2 - s1.3 + b)
            }
            for tx in 0..<fullX {
                let y = tile(tx)
                top[2 * tx] = y.0
                top[2 * tx + 1] = y.1
                if let bottom { bottom[2 * tx] = y.2; bottom[2 * tx + 1] = y.3 }
            }
            if fullX < tilesX {  // odd width: the last tile's left column only
                let y = tile(fullX)
                top[2 * fullX] = y.0
                if let bottom { bottom[2 * fullX] = y.2 }
            }
        }
    }
    }
}
