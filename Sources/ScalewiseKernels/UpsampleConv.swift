// Nearest-2× upsample followed by a 3×3, pad-1 conv, computed on the low-resolution input.
//
// Every output pixel of parity (py, px) sees the upsampled image through three rows that are only two
// distinct source rows (and likewise columns), so the 3×3 kernel collapses to a 2×2 kernel per parity:
//   py = 0: source rows (i−1, i, i) → taps {w0}, {w1 + w2};   py = 1: (i, i, i+1) → {w0 + w1}, {w2}.
// Four 2×2 convs on the h×w input cost 16·O·C·h·w multiply-adds instead of 36, never materialise the 4×
// larger upsampled map, and the zero padding of the upsampled image is exactly zero padding of the input.

/// `conv3x3(pad 1)(upsampleNearest2x(input))`: input `[C, h, w]`, weight `[O, C, 3, 3]`, bias `[O]`,
/// out `[O, 2h, 2w]`. Equal to the two-step version up to float rounding (taps are pre-summed).
public func upsampleNearest2xConv3x3(_ input: Tensor, weight: Tensor, bias: Tensor?, out: Tensor, scratch: Scratch) {
    let (c, h, w) = (input.shape[0], input.shape[1], input.shape[2])
    let o = weight.shape[0]
    precondition(weight.shape == [o, c, 3, 3], "upsampleNearest2xConv3x3: weight \(weight.shape), expected [\(o), \(c), 3, 3]")
    precondition(out.shape == [o, 2 * h, 2 * w], "upsampleNearest2xConv3x3: out \(out.shape), expected \([o, 2 * h, 2 * w])")
    precondition(bias == nil || bias!.count == o, "upsampleNearest2xConv3x3: bias \(bias!.shape) vs \(o)")
    let k = c * 4, hw = h * w
    let weights = scratch.floats(4 * o * k, .convWeights)  // [py][px][O, C, 2, 2]
    collapseWeights(weight.ptr, outChannels: o, inChannels: c, into: weights)
    let halves = scratch.floats(2 * o * hw, .convOut)       // [px][O, h·w] for one py
    for py in 0..<2 {
        for px in 0..<2 {
            let pad = Padding(top: 1 - py, left: 1 - px, bottom: py, right: px)
            convGemm(input.ptr, channels: c, height: h, width: w, weight: weights + (2 * py + px) * o * k,
                     outChannels: o, kh: 2, kw: 2, stride: 1, padding: pad, bias: nil,
                     out: halves + px * o * hw, scratch: scratch)
        }
        interleaveColumns(halves, halves + o * hw, channels: o, height: h, width: w, rowParity: py,
                          bias: bias?.ptr, out: out.ptr)
    }
}

/// The four collapsed kernels as one weight `[4·O, C, 2, 2]`, output channel (2py + px)·O + o holding parity
/// (py, px) of filter o: a single 2×2 convolution with padding 1 on every side of the `[h, w]` input then yields
/// parity (py, px) of output pixel (2i + py, 2j + px) at position (i + py, j + px) of its `[h + 1, w + 1]` output
/// (the window of rows i − 1, i for py = 0 and i, i + 1 for py = 1; likewise columns).
public func collapsedUpsampleWeights(_ weight: Tensor) -> Tensor {
    let (o, c) = (weight.shape[0], weight.shape[1])
    precondition(weight.shape == [o, c, 3, 3], "collapsedUpsampleWeights: weight \(weight.shape), expected [O, C, 3, 3]")
    let out = Tensor(shape: [4 * o, c, 2, 2])
    collapseWeights(weight.ptr, outChannels: o, inChannels: c, into: out.ptr)
    return out
}

/// 3×3 weight `[O, C, 3, 3]` → four 2×2 weights `[2][2][O, C, 2, 2]`, one per output parity (py, px).
func collapseWeights(_ w: UnsafePointer<Float>, outChannels o: Int, inChannels c: Int,
                     into dst: UnsafeMutablePointer<Float>) {
    scatterPlanes(filters: o * c, planes: 4, width: 4, into: dst) { f, d, ld in
        let g = w + f * 9
        let r0 = (g[0], g[1], g[2]), r1 = (g[3], g[4], g[5]), r2 = (g[6], g[7], g[8])
        // Collapsed row `a` of parity row py, split by column parity: px = 0 → (c0, c1 + c2),
        // px = 1 → (c0 + c1, c2). Plane 2py + px, tap 2a + b.
        @inline(__always) func put(_ py: Int, _ a: Int, _ row: (Float, Float, Float)) {
            d[(2 * py) * ld + 2 * a] = row.0
            d[(2 * py) * ld + 2 * a + 1] = row.1 + row.2
            d[(2 * py + 1) * ld + 2 * a] = row.0 + row.1
            d[(2 * py + 1) * ld + 2 * a + 1] = row.2
        }
        put(0, 0, r0)
        put(0, 1, (r1.0 + r2.0, r1.1 + r2.1, r1.2 + r2.2))
        put(1, 0, (r0.0 + r1.0, r0.1 + r1.1, r0.2 + r1.2))
        put(1, 1, r2)
    }
}

/// Writes output rows of parity `rowParity`: out[o, 2i+py, 2j] = even[o, i, j] (+ bias),
/// out[o, 2i+py, 2j+1] = odd[o, i, j] (+ bias).
private func interleaveColumns(_ even: UnsafePointer<Float>, _ odd: UnsafePointer<Float>, channels o: Int,
                               height h: Int, width w: Int, rowParity py: Int, bias: UnsafePointer<Float>?,
                               out: UnsafeMutablePointer<Float>) {
    parallelRanges(o, grain: 8) { outChannels in
        for oc in outChannels {
            let b = bias?[oc] ?? 0
            for i in 0..<h {
                let e = even + (oc * h + i) * w, od = odd + (oc * h + i) * w
                let d = out + (oc * 2 * h + 2 * i + py) * 2 * w
                for j in 0..<w {
                    d[2 * j] = e[j] + b
                    d[2 * j + 1] = od[j] + b
                }
            }
        }
    }
}
