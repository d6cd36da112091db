import XCTest

@testable import ScalewiseKernels

/// Kernels against naive references and against values PyTorch produces (var-spec §1.4).
final class KernelsTests: XCTestCase {
    func random(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2000) / 1000 - 1
        }
    }

    func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    /// torch.nn.functional.interpolate(eye(2)[None,None], size=(16,1)... rows 0..3 of the 2→16 matrix.
    func testBicubicMatchesPyTorchRows() {
        let m = bicubicMatrix(from: 2, to: 16)
        let want: [(Float, Float)] = [(1.103821, -0.103821), (1.110779, -0.110779), (1.092834, -0.092834), (1.041199, -0.041199)]
        for (i, w) in want.enumerated() {
            XCTAssertEqual(m[i * 2], w.0, accuracy: 2e-6)
            XCTAssertEqual(m[i * 2 + 1], w.1, accuracy: 2e-6)
        }
        for n in [1, 3, 5, 10, 13] {
            let mm = bicubicMatrix(from: n, to: 16)
            for i in 0..<16 { XCTAssertEqual(mm[(i * n)..<((i + 1) * n)].reduce(0, +), 1, accuracy: 1e-5) }
        }
    }

    /// Adaptive-average-pool windows, e.g. 16→5: (0,4),(3,7),(6,10),(9,13),(12,16).
    func testAreaWindows() {
        let m = areaMatrix(from: 16, to: 5)
        let windows = [(0, 4), (3, 7), (6, 10), (9, 13), (12, 16)]
        for (i, w) in windows.enumerated() {
            for j in 0..<16 { XCTAssertEqual(m[i * 16 + j], (w.0..<w.1).contains(j) ? 0.25 : 0, "row \(i) col \(j)") }
        }
        let up = areaMatrix(from: 2, to: 3)  // up-sampling replicates: (0,1),(0,2),(1,2)
        XCTAssertEqual(up, [1, 0, 0.5, 0.5, 0, 1])
    }

    func naiveConv(_ x: [Float], C: Int, H: Int, W: Int, w: [Float], O: Int, k: Int, b: [Float], stride: Int,
                   pad: (Int, Int, Int, Int)) -> ([Float], Int, Int) {
        let Ho = (H + pad.0 + pad.2 - k) / stride + 1, Wo = (W + pad.1 + pad.3 - k) / stride + 1
        var out = [Float](repeating: 0, count: O * Ho * Wo)
        for o in 0..<O {
            for y in 0..<Ho {
                for xx in 0..<Wo {
                    var acc = b[o]
                    for c in 0..<C {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let iy = y * stride - pad.0 + ky, ix = xx * stride - pad.1 + kx
                                if iy >= 0 && iy < H && ix >= 0 && ix < W {
                                    acc += x[(c * H + iy) * W + ix] * w[((o * C + c) * k + ky) * k + kx]
                                }
                            }
                        }
                    }
                    out[(o * Ho + y) * Wo + xx] = acc
                }
            }
        }
        return (out, Ho, Wo)
    }

    func testConvMatchesNaive() {
        for (k, stride, pad) in [(3, 1, (1, 1, 1, 1)), (1, 1, (0, 0, 0, 0)), (3, 2, (0, 0, 1, 1))] {
            let (C, H, W, O) = (5, 9, 7, 4)
            let x = random(C * H * W, seed: 1), w = random(O * C * k * k, seed: 2), b = random(O, seed: 3)
            let (want, Ho, Wo) = naiveConv(x, C: C, H: H, W: W, w: w, O: O, k: k, b: b, stride: stride, pad: pad)
            let out = Tensor(shape: [O, Ho, Wo])
            conv2d(input: Tensor(shape: [C, H, W], data: x), weight: Tensor(shape: [O, C, k, k], data: w),
                   bias: Tensor(shape: [O], data: b), stride: stride, padding: pad, out: out)
            XCTAssertLessThan(maxDiff(out.array, want), 1e-5, "k \(k) stride \(stride)")
        }
    }

    func testFusedUpsampleConvMatchesTwoSteps() {
        let (C, H, W, O) = (3, 5, 6, 4)
        let x = Tensor(shape: [C, H, W], data: random(C * H * W, seed: 4))
        let w = Tensor(shape: [O, C, 3, 3], data: random(O * C * 9, seed: 5)), b = Tensor(shape: [O], data: random(O, seed: 6))
        let fused = Tensor(shape: [O, 2 * H, 2 * W]), plain = Tensor(shape: [O, 2 * H, 2 * W])
        upsampleNearest2xConv3x3(input: x, weight: w, bias: b, out: fused)
        conv2d(input: upsampleNearest2x(x), weight: w, bias: b, stride: 1, padding: (1, 1, 1, 1), out: plain)
        XCTAssertLessThan(maxDiff(fused.array, plain.array), 1e-6)
    }

    func testGroupNormMatchesNaive() {
        let (C, n, G) = (64, 10, 32)
        let x = random(C * n, seed: 7), g = random(C, seed: 8), b = random(C, seed: 9)
        let t = Tensor(shape: [C, n], data: x)
        groupNorm(t, groups: G, eps: 1e-6, gamma: Tensor(shape: [C], data: g), beta: Tensor(shape: [C], data: b), fusedSiLU: true)
        var want = [Float](repeating: 0, count: C * n)
        let cpg = C / G
        for grp in 0..<G {
            let vals = x[(grp * cpg * n)..<((grp + 1) * cpg * n)].map(Double.init)
            let mean = vals.reduce(0, +) / Double(vals.count)
            let variance = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(vals.count)
            for c in (grp * cpg)..<((grp + 1) * cpg) {
                for i in 0..<n {
                    let v = Float((Double(x[c * n + i]) - mean) / (variance + 1e-6).squareRoot()) * g[c] + b[c]
                    want[c * n + i] = v / (1 + exp(-v))
                }
            }
        }
        XCTAssertLessThan(maxDiff(t.array, want), 1e-5)
    }

    func testAttentionMatchesNaiveWithStrides() {
        let (lq, lk, heads, d) = (3, 5, 2, 4), C = heads * d
        let q = random(lq * 3 * C, seed: 10), kv = random(lk * 2 * C, seed: 11)
        var out = [Float](repeating: 0, count: lq * C)
        q.withUnsafeBufferPointer { qp in
            kv.withUnsafeBufferPointer { kp in
                out.withUnsafeMutableBufferPointer { op in
                    attention(q: qp.baseAddress!, ldq: 3 * C, k: kp.baseAddress!, ldk: 2 * C, v: kp.baseAddress! + C, ldv: 2 * C,
                              lq: lq, lk: lk, heads: heads, headDim: d, scale: 0.7, out: op.baseAddress!, ldo: C)
                }
            }
        }
        for h in 0..<heads {
            for i in 0..<lq {
                let s = (0..<lk).map { j in 0.7 * (0..<d).map { q[i * 3 * C + h * d + $0] * kv[j * 2 * C + h * d + $0] }.reduce(0, +) }
                let m = s.max()!, e = s.map { exp($0 - m) }, z = e.reduce(0, +)
                for c in 0..<d {
                    let want = (0..<lk).map { e[$0] / z * kv[$0 * 2 * C + C + h * d + c] }.reduce(0, +)
                    XCTAssertEqual(out[i * C + h * d + c], want, accuracy: 1e-5)
                }
            }
        }
    }

    func testLinearSingleRowAndBatchAgree() {
        let w = Tensor(shape: [6, 4], data: random(24, seed: 12)), b = Tensor(shape: [6], data: random(6, seed: 13))
        let x = random(8, seed: 14)
        var batch = [Float](repeating: 0, count: 12), single = [Float](repeating: 0, count: 6)
        x.withUnsafeBufferPointer { xp in
            linear(x: xp.baseAddress!, rows: 2, weight: w, bias: b, out: &batch)
            linear(x: xp.baseAddress! + 4, rows: 1, weight: w, bias: b, out: &single)
        }
        let want = (0..<6).map { o in b[o] + (0..<4).map { w[o * 4 + $0] * x[4 + $0] }.reduce(0, +) }
        XCTAssertLessThan(maxDiff(single, want), 1e-6)
        XCTAssertLessThan(maxDiff(Array(batch[6...]), want), 1e-6)
    }

    func testGeluTanhAccuracy() {
        let xs: [Float] = [-6, -2, -0.5, -1e-4, 0, 1e-4, 0.3, 1, 3, 9]
        var y = xs
        geluTanh(&y, count: y.count)
        for (x, v) in zip(xs, y) {
            let want = Float(0.5 * Double(x) * (1 + tanh(0.7978845608028654 * (Double(x) + 0.044715 * pow(Double(x), 3)))))
            XCTAssertEqual(v, want, accuracy: 1e-6, "gelu(\(x))")
        }
    }
}
