import ScalewiseKernels
import XCTest

/// Direct-loop Conv2d in Double: input [C, H, W], weight [O, C, kh, kw].
func naiveConv2d(_ x: [Float], c: Int, h: Int, w: Int, weight: [Float], o: Int, kh: Int, kw: Int,
                 bias: [Float]?, stride s: Int, padding p: Padding) -> [Float] {
    let ho = (h + p.top + p.bottom - kh) / s + 1, wo = (w + p.left + p.right - kw) / s + 1
    var out = [Float](repeating: 0, count: o * ho * wo)
    for oc in 0..<o {
        for y in 0..<ho {
            for xo in 0..<wo {
                var acc = Double(bias?[oc] ?? 0)
                for ic in 0..<c {
                    for ky in 0..<kh {
                        let iy = y * s + ky - p.top
                        guard iy >= 0 && iy < h else { continue }
                        for kx in 0..<kw {
                            let ix = xo * s + kx - p.left
                            guard ix >= 0 && ix < w else { continue }
                            acc += Double(x[(ic * h + iy) * w + ix]) * Double(weight[((oc * c + ic) * kh + ky) * kw + kx])
                        }
                    }
                }
                out[(oc * ho + y) * wo + xo] = Float(acc)
            }
        }
    }
    return out
}

private func naiveUpsample2x(_ x: [Float], c: Int, h: Int, w: Int) -> [Float] {
    var out = [Float](repeating: 0, count: c * 4 * h * w)
    for ch in 0..<c { for y in 0..<(2 * h) { for xx in 0..<(2 * w) {
        out[(ch * 2 * h + y) * 2 * w + xx] = x[(ch * h + y / 2) * w + xx / 2]
    } } }
    return out
}

final class ConvTests: XCTestCase {
    let scratch = Scratch()

    func testConvMatchesPyTorchFixtures() {
        let x = lcgTensor(seed: 300, [3, 7, 6]), w3 = lcgTensor(seed: 301, [4, 3, 3, 3]), b = lcgTensor(seed: 302, [4])
        for algorithm in [ConvAlgorithm.im2col, .winograd] {
            let same = Tensor(zeros: [4, 7, 6])
            conv2d(x, weight: w3, bias: b, padding: .uniform(1), out: same, scratch: scratch, algorithm: algorithm)
            assertClose(same.array, TorchFixtures.conv3x3_pad1, atol: 2e-5, "3×3 pad 1 (\(algorithm)) vs PyTorch")
        }

        let down = Tensor(zeros: [4, 3, 3])
        conv2d(x, weight: w3, bias: b, stride: 2, padding: Padding(top: 0, left: 0, bottom: 1, right: 1),
               out: down, scratch: scratch)
        assertClose(down.array, TorchFixtures.conv3x3_stride2_padRB, atol: 2e-5, "stride-2 right/bottom pad vs PyTorch")

        let pointwise = Tensor(zeros: [4, 7, 6])
        conv2d(x, weight: lcgTensor(seed: 303, [4, 3, 1, 1]), bias: b, padding: .zero, out: pointwise, scratch: scratch)
        assertClose(pointwise.array, TorchFixtures.conv1x1, atol: 1e-5, "1×1 vs PyTorch")

        let up = Tensor(zeros: [4, 8, 10])
        upsampleNearest2xConv3x3(lcgTensor(seed: 304, [3, 4, 5]), weight: w3, bias: b, out: up, scratch: scratch)
        assertClose(up.array, TorchFixtures.upsample2x_conv3x3, atol: 2e-5, "upsample+conv vs PyTorch")
    }

    func testConvMatchesNaiveOverShapesStridesAndPadding() {
        let cases: [(c: Int, h: Int, w: Int, o: Int, k: (Int, Int), s: Int, p: Padding)] = [
            (5, 9, 11, 6, (3, 3), 1, .uniform(1)),
            (5, 9, 11, 6, (3, 3), 2, .uniform(1)),
            (2, 8, 5, 3, (1, 3), 1, Padding(top: 0, left: 2, bottom: 0, right: 1)),
            (4, 6, 7, 2, (2, 2), 1, Padding(top: 1, left: 0, bottom: 0, right: 1)),
            (3, 10, 10, 5, (5, 5), 3, .uniform(2)),
            (3, 5, 6, 4, (1, 1), 2, .zero),                // strided 1×1 goes through im2col
            (3, 5, 6, 4, (1, 1), 1, .uniform(1)),          // padded 1×1 too
        ]
        for (i, t) in cases.enumerated() {
            let x = lcgTensor(seed: 400 + UInt64(i), [t.c, t.h, t.w])
            let w = lcgTensor(seed: 500 + UInt64(i), [t.o, t.c, t.k.0, t.k.1]), b = lcgTensor(seed: 600, [t.o])
            let ho = (t.h + t.p.top + t.p.bottom - t.k.0) / t.s + 1, wo = (t.w + t.p.left + t.p.right - t.k.1) / t.s + 1
            let out = Tensor(zeros: [t.o, ho, wo])
            conv2d(x, weight: w, bias: b, stride: t.s, padding: t.p, out: out, scratch: scratch)
            let expected = naiveConv2d(x.array, c: t.c, h: t.h, w: t.w, weight: w.array, o: t.o, kh: t.k.0, kw: t.k.1,
                                       bias: b.array, stride: t.s, padding: t.p)
            assertClose(out.array, expected, atol: 1e-5, "conv case \(i)")
        }
    }

    func testConvSpanningSeveralIm2colBands() {
        // K = 200·9 = 1800 and Wo = 100: 12 MB holds 17 output rows, the 2048-column minimum asks for 21,
        // so 45 rows take bands of 21, 21 and 3.
        let (c, h, w, o) = (200, 45, 100, 2)
        let x = lcgTensor(seed: 700, [c, h, w]), wt = lcgTensor(seed: 701, [o, c, 3, 3])
        let out = Tensor(zeros: [o, h, w])
        conv2d(x, weight: wt, bias: nil, padding: .uniform(1), out: out, scratch: scratch)
        let expected = naiveConv2d(x.array, c: c, h: h, w: w, weight: wt.array, o: o, kh: 3, kw: 3, bias: nil,
                                   stride: 1, padding: .uniform(1))
        assertClose(out.array, expected, atol: 1e-4, "banded conv")
    }

    func testWinogradMatchesNaiveOnOddSizesAndAcrossBands() {
        // (300 ch, 39 wide): 12 MB of transformed input holds 32 of the 34 tile rows, so two bands.
        for (c, h, w, o) in [(5, 9, 11, 6), (3, 1, 1, 2), (4, 2, 7, 3), (7, 8, 8, 5), (300, 67, 39, 2)] {
            let x = lcgTensor(seed: 850, [c, h, w]), wt = lcgTensor(seed: 851, [o, c, 3, 3]), b = lcgTensor(seed: 852, [o])
            let out = Tensor(shape: [o, h, w], lcg(seed: 853, count: o * h * w))  // garbage must be overwritten
            conv2d(x, weight: wt, bias: b, padding: .uniform(1), out: out, scratch: scratch, algorithm: .winograd)
            let expected = naiveConv2d(x.array, c: c, h: h, w: w, weight: wt.array, o: o, kh: 3, kw: 3, bias: b.array,
                                       stride: 1, padding: .uniform(1))
            assertClose(out.array, expected, atol: 2e-5 * Float(c).squareRoot(), "Winograd \(c)×\(h)×\(w)→\(o)")
        }
    }

    func testUpsampleAndFusedUpsampleConvMatchNaive() {
        for (c, h, w, o) in [(6, 5, 7, 4), (3, 1, 1, 2), (4, 8, 3, 5)] {
            let x = lcgTensor(seed: 800, [c, h, w])
            let up = Tensor(zeros: [c, 2 * h, 2 * w])
            upsampleNearest2x(x, out: up)
            let upRef = naiveUpsample2x(x.array, c: c, h: h, w: w)
            XCTAssertEqual(up.array, upRef, "upsampleNearest2x \(c)×\(h)×\(w)")

            let wt = lcgTensor(seed: 801, [o, c, 3, 3]), b = lcgTensor(seed: 802, [o])
            let fused = Tensor(zeros: [o, 2 * h, 2 * w])
            upsampleNearest2xConv3x3(x, weight: wt, bias: b, out: fused, scratch: scratch)
            let expected = naiveConv2d(upRef, c: c, h: 2 * h, w: 2 * w, weight: wt.array, o: o, kh: 3, kw: 3,
                                       bias: b.array, stride: 1, padding: .uniform(1))
            assertClose(fused.array, expected, atol: 1e-5, "fused upsample+conv \(c)×\(h)×\(w)→\(o)")
        }
    }
}
