import Foundation
import ScalewiseKernels
import XCTest

/// Probe points from −100 to 100, dense near 0, plus the extremes where exp over/underflows.
private let probes: [Float] = (-2000...2000).map { Float($0) / 20 } + [-1e4, -200, -88.5, 88.5, 200, 1e4, 0]

final class ElementwiseTests: XCTestCase {
    func testSiLUMatchesDoubleReference() {
        var x = probes
        silu(&x, count: x.count)
        let expected = probes.map { v -> Float in let d = Double(v); return Float(d / (1 + exp(-d))) }
        assertClose(x, expected, atol: 1e-7, rtol: 5e-7, "silu")
    }

    func testGeluTanhMatchesDoubleReference() {
        var x = probes
        geluTanh(&x, count: x.count)
        let expected = probes.map { v -> Float in
            let d = Double(v)
            return Float(0.5 * d * (1 + tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d))))
        }
        assertClose(x, expected, atol: 1e-7, rtol: 5e-7, "geluTanh")
    }

    func testSoftmaxRowsMatchesDoubleReference() {
        let (rows, cols, ld) = (6, 45, 50)
        var x = lcg(seed: 40, count: rows * ld).map { 30 * $0 }
        for j in 0..<cols { x[ld + j] += 1000 }        // large logits: needs the max subtraction
        x[2 * ld + 3] = -.infinity                       // a masked key gets probability 0
        let original = x
        softmaxRows(&x, rows: rows, cols: cols, ld: ld)
        var expected = original
        for r in 0..<rows {
            let row = (0..<cols).map { Double(original[r * ld + $0]) }
            let m = row.max()!
            let e = row.map { exp($0 - m) }
            let s = e.reduce(0, +)
            for j in 0..<cols { expected[r * ld + j] = Float(e[j] / s) }
        }
        assertClose(x, expected, atol: 1e-7, rtol: 1e-5, "softmaxRows (padding columns untouched)")
        XCTAssertEqual(x[2 * ld + 3], 0)
    }

    func testBlas1Helpers() {
        let n = 37
        let a = lcg(seed: 50, count: n), b = lcg(seed: 51, count: n)
        var out = [Float](repeating: 0, count: n)
        add(a, b, out: &out, count: n)
        XCTAssertEqual(out, zip(a, b).map { $0 + $1 })
        var y = b
        axpy(0.25, a, &y, count: n)
        XCTAssertEqual(y, zip(a, b).map { 0.25 * $0 + $1 })
        scale(&y, count: n, by: 3)
        XCTAssertEqual(y, zip(a, b).map { (0.25 * $0 + $1) * 3 })
        blend(0.5, a, 0.5, b, out: &out, count: n)
        XCTAssertEqual(out, zip(a, b).map { 0.5 * $0 + 0.5 * $1 })
        let t = Tensor(shape: [n], b)
        add(Tensor(shape: [n], a), into: t)
        XCTAssertEqual(t.array, zip(a, b).map { $1 + $0 })
        var c = a
        clamp(&c, count: n, to: -0.5, 0.5)
        XCTAssertEqual(c, a.map { min(max($0, -0.5), 0.5) })
    }

    func testBiasHelpers() {
        let (rows, cols) = (4, 9)
        let x = lcg(seed: 52, count: rows * cols), bias = lcg(seed: 53, count: cols), chBias = lcg(seed: 54, count: rows)
        var y = x
        addBias(&y, rows: rows, cols: cols, bias: bias)
        XCTAssertEqual(y, x.enumerated().map { $1 + bias[$0 % cols] })
        var z = x
        addChannelBias(&z, channels: rows, spatial: cols, bias: chBias)
        XCTAssertEqual(z, x.enumerated().map { $1 + chBias[$0 / cols] })
    }
}
