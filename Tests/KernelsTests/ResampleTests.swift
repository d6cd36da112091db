import ScalewiseKernels
import XCTest

/// PyTorch's per-pixel definitions, written out directly (no weight matrices, no tap merging), in Double.
private enum Naive {
    static func cubic(_ x: Double) -> Double {
        let a = -0.75, x = abs(x)
        if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return 0
    }

    /// (index, weight) pairs that output i of an n → m resize reads.
    static func taps(_ mode: ResizeMode, _ i: Int, _ n: Int, _ m: Int) -> [(Int, Double)] {
        switch mode {
        case .bicubic:
            let src = (Double(i) + 0.5) * Double(n) / Double(m) - 0.5, i0 = Int(src.rounded(.down))
            return (-1...2).map { off in (min(max(i0 + off, 0), n - 1), cubic(src - Double(i0 + off))) }
        case .area:
            let start = i * n / m, end = ((i + 1) * n + m - 1) / m
            return (start..<end).map { ($0, 1 / Double(end - start)) }
        case .nearest:
            return [(min(Int((Float(i) * (Float(n) / Float(m))).rounded(.down)), n - 1), 1)]
        }
    }

    static func resize(_ x: [Float], c: Int, h: Int, w: Int, to outH: Int, _ outW: Int, _ mode: ResizeMode) -> [Float] {
        var out = [Float](repeating: 0, count: c * outH * outW)
        for ch in 0..<c { for y in 0..<outH { for xo in 0..<outW {
            var acc = 0.0
            for (iy, wy) in taps(mode, y, h, outH) {
                for (ix, wx) in taps(mode, xo, w, outW) { acc += wy * wx * Double(x[(ch * h + iy) * w + ix]) }
            }
            out[(ch * outH + y) * outW + xo] = Float(acc)
        } } }
        return out
    }
}

final class ResampleTests: XCTestCase {
    func testBicubicMatrixMatchesSpecCheckValues() {
        let m = resizeMatrix(.bicubic, from: 2, to: 16)
        let expected: [Float] = [1.103821, -0.103821, 1.110779, -0.110779, 1.092834, -0.092834, 1.041199, -0.041199]
        assertClose(Array(m[0..<8]), expected, atol: 1e-6, "bicubic 2→16 rows 0..3 (torch.nn.functional.interpolate, bicubic)")
        for (n, mm) in [(2, 16), (13, 16), (16, 5), (1, 16), (10, 13), (16, 13)] {
            for mode in [ResizeMode.bicubic, .area, .nearest] {
                let mat = resizeMatrix(mode, from: n, to: mm)
                let sums = (0..<mm).map { i in mat[(i * n)..<((i + 1) * n)].reduce(0, +) }
                assertClose(sums, [Float](repeating: 1, count: mm), atol: 2e-6, "\(mode) \(n)→\(mm) rows sum to 1")
            }
        }
    }

    func testResizeMatchesPyTorchFixtures() {
        let cases: [(ResizeMode, (Int, Int), (Int, Int), [Float])] = [
            (.bicubic, (2, 2), (16, 16), TorchFixtures.bicubic_2x2_to_16x16),
            (.bicubic, (13, 10), (16, 13), TorchFixtures.bicubic_13x10_to_16x13),
            (.bicubic, (16, 16), (5, 13), TorchFixtures.bicubic_16x16_to_5x13),
            (.bicubic, (1, 1), (16, 16), TorchFixtures.bicubic_1x1_to_16x16),
            (.bicubic, (1, 3), (16, 5), TorchFixtures.bicubic_1x3_to_16x5),
            (.bicubic, (16, 5), (13, 16), TorchFixtures.bicubic_16x5_to_13x16),
            (.area, (16, 16), (5, 13), TorchFixtures.area_16x16_to_5x13),
            (.area, (13, 10), (16, 13), TorchFixtures.area_13x10_to_16x13),
            (.area, (16, 16), (1, 1), TorchFixtures.area_16x16_to_1x1),
            (.area, (2, 3), (16, 16), TorchFixtures.area_2x3_to_16x16),
            (.area, (16, 5), (13, 16), TorchFixtures.area_16x5_to_13x16),
            (.area, (16, 16), (10, 6), TorchFixtures.area_16x16_to_10x6),
            (.nearest, (13, 10), (16, 13), TorchFixtures.nearest_13x10_to_16x13),
            (.nearest, (16, 16), (5, 13), TorchFixtures.nearest_16x16_to_5x13),
            (.nearest, (3, 7), (16, 10), TorchFixtures.nearest_3x7_to_16x10),
        ]
        for (i, (mode, (h, w), (outH, outW), expected)) in cases.enumerated() {
            let c = (h, w) == (13, 10) ? 2 : 1  // as in make_kernel_fixtures.py
            let src = lcgTensor(seed: 100 + UInt64(i), [c, h, w]), dst = Tensor(zeros: [c, outH, outW])
            resize(src, to: dst, mode: mode)
            assertClose(dst.array, expected, atol: 2e-6, "\(mode) \(h)×\(w)→\(outH)×\(outW) vs PyTorch")
        }
    }

    func testResizeMatchesNaiveForManySizes() {
        let sizes = [1, 2, 3, 5, 7, 13, 16, 20]
        var seed: UInt64 = 900
        for mode in [ResizeMode.bicubic, .area, .nearest] {
            for (h, outH) in [(1, 16), (16, 13), (13, 16), (16, 5), (10, 13), (7, 3)] {
                for w in sizes.filter({ $0 % 2 == h % 2 }) {
                    let outW = sizes[(w + outH) % sizes.count]
                    seed += 1
                    let src = lcgTensor(seed: seed, [2, h, w]), dst = Tensor(zeros: [2, outH, outW])
                    resize(src, to: dst, mode: mode)
                    let expected = Naive.resize(src.array, c: 2, h: h, w: w, to: outH, outW, mode)
                    assertClose(dst.array, expected, atol: 2e-6, "\(mode) \(h)×\(w)→\(outH)×\(outW) vs naive")
                }
            }
        }
    }

    func testNamedWrappersAndIdentity() {
        let src = lcgTensor(seed: 950, [3, 6, 4])
        for mode in [ResizeMode.bicubic, .area, .nearest] {
            let same = Tensor(zeros: [3, 6, 4])
            resize(src, to: same, mode: mode)
            assertClose(same.array, src.array, atol: 1e-6, "\(mode) to the same size is the identity")
        }
        let a = Tensor(zeros: [3, 9, 2]), b = Tensor(zeros: [3, 9, 2])
        bicubicResize(src, to: a); resize(src, to: b, mode: .bicubic)
        XCTAssertEqual(a.array, b.array)
        areaResize(src, to: a); resize(src, to: b, mode: .area)
        XCTAssertEqual(a.array, b.array)
        nearestResize(src, to: a); resize(src, to: b, mode: .nearest)
        XCTAssertEqual(a.array, b.array)
    }
}
