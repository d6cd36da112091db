import Foundation
import ScalewiseKernels
import XCTest

private func naiveGroupNorm(_ x: [Float], channels c: Int, groups g: Int, eps: Double, gamma: [Float], beta: [Float],
                            silu: Bool) -> [Float] {
    let spatial = x.count / c, n = c / g * spatial
    var out = [Float](repeating: 0, count: x.count)
    for grp in 0..<g {
        let slice = x[(grp * n)..<((grp + 1) * n)].map(Double.init)
        let mean = slice.reduce(0, +) / Double(n)
        let variance = slice.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        for i in (grp * n)..<((grp + 1) * n) {
            let ch = i / spatial
            let y = (Double(x[i]) - mean) / (variance + eps).squareRoot() * Double(gamma[ch]) + Double(beta[ch])
            out[i] = Float(silu ? y / (1 + exp(-y)) : y)
        }
    }
    return out
}

final class NormTests: XCTestCase {
    func testGroupNormMatchesPyTorch() {
        let gamma = lcgTensor(seed: 201, [8]), beta = lcgTensor(seed: 202, [8])
        for silu in [false, true] {
            let x = Tensor(shape: [8, 5, 3], lcg(seed: 200, count: 120).map { $0 + 3 })
            groupNorm(x, groups: 4, eps: 1e-6, gamma: gamma, beta: beta, fusedSiLU: silu)
            let expected = silu ? TorchFixtures.groupNormSiLU_8x5x3_g4 : TorchFixtures.groupNorm_8x5x3_g4
            assertClose(x.array, expected, atol: 1e-5, "groupNorm silu=\(silu) vs PyTorch")
        }
    }

    func testGroupNormLargeGroupsWithOffsetMeanMatchNaive() {
        // 2 groups of 20·1031 elements, mean ≈ 50 and spread ±0.01: float sums of x² (or x·a − μ·a) would lose it.
        let (c, spatial) = (40, 1031)
        let values = lcg(seed: 210, count: c * spatial).map { 50 + 0.01 * $0 }
        let gamma = lcg(seed: 211, count: c), beta = lcg(seed: 212, count: c)
        let x = Tensor(shape: [c, spatial], values), out = Tensor(zeros: [c, spatial])
        groupNorm(x, groups: 2, eps: 1e-6, gamma: Tensor(shape: [c], gamma), beta: Tensor(shape: [c], beta),
                  fusedSiLU: true, out: out)
        XCTAssertEqual(x.array, values, "out-of-place groupNorm must not touch its input")
        let expected = naiveGroupNorm(values, channels: c, groups: 2, eps: 1e-6, gamma: gamma, beta: beta, silu: true)
        assertClose(out.array, expected, atol: 1e-5, rtol: 1e-5, "groupNorm with offset mean")
    }

    func testLayerNormModulateMatchesNaive() {
        let (rows, c) = (5, 100)
        let x = lcg(seed: 220, count: rows * c).map { 3 * $0 + 1 }
        let scale = lcg(seed: 221, count: c), shift = lcg(seed: 222, count: c)
        for (useScale, useShift) in [(true, true), (false, true), (true, false), (false, false)] {
            let out = Tensor(zeros: [rows, c])
            layerNormModulate(Tensor(shape: [rows, c], x), eps: 1e-6, scale: useScale ? Tensor(shape: [c], scale) : nil,
                              shift: useShift ? Tensor(shape: [c], shift) : nil, out: out)
            var expected = [Float]()
            for r in 0..<rows {
                let row = x[(r * c)..<((r + 1) * c)].map(Double.init)
                let mean = row.reduce(0, +) / Double(c)
                let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
                for j in 0..<c {
                    let n = (row[j] - mean) / (variance + 1e-6).squareRoot()
                    expected.append(Float(n * (1 + (useScale ? Double(scale[j]) : 0)) + (useShift ? Double(shift[j]) : 0)))
                }
            }
            assertClose(out.array, expected, atol: 2e-6, rtol: 1e-6, "layerNormModulate scale=\(useScale) shift=\(useShift)")
        }
    }

    func testL2NormalizeRowsIncludingZeroRowAndStride() {
        let (rows, dim, ld) = (4, 37, 40)
        var x = lcg(seed: 230, count: rows * ld)
        for j in 0..<dim { x[2 * ld + j] = 0 }      // a zero row stays zero (norm clamped to eps)
        for j in 0..<dim { x[3 * ld + j] *= 1e-20 }  // a tiny row: ‖x‖ < eps, so x/eps
        let original = x
        l2NormalizeRows(&x, rows: rows, dim: dim, ld: ld)
        var expected = original
        for r in 0..<rows {
            let norm = (0..<dim).map { Double(original[r * ld + $0]) }.map { $0 * $0 }.reduce(0, +).squareRoot()
            for j in 0..<dim { expected[r * ld + j] = Float(Double(original[r * ld + j]) / max(norm, 1e-12)) }
        }
        assertClose(x, expected, atol: 1e-6, "l2NormalizeRows (padding columns untouched)")
    }
}
