import ScalewiseKernels
import XCTest

/// Naive C = op(A)·op(B) in Double, row-major with explicit leading dimensions.
private func naiveGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: [Float], lda: Int,
                       b: [Float], ldb: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            c[i * n + j] = Float(s)
        }
    }
    return c
}

final class GemmTests: XCTestCase {
    func testGemmAllTransposesAlphaBeta() {
        let (m, n, k) = (7, 5, 9)
        for transA in [false, true] {
            for transB in [false, true] {
                let lda = (transA ? m : k) + 2, ldb = (transB ? k : n) + 3  // padded strides
                let a = lcg(seed: 1, count: (transA ? k : m) * lda), b = lcg(seed: 2, count: (transB ? n : k) * ldb)
                let c0 = lcg(seed: 3, count: m * n)
                var c = c0
                gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb,
                     beta: 2, c: &c, ldc: n)
                let ab = naiveGemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb)
                let expected = zip(ab, c0).map { 0.5 * $0 + 2 * $1 }
                assertClose(c, expected, atol: 1e-5, "gemm transA \(transA) transB \(transB)")
            }
        }
    }

    func testLinearMatchesNaiveForOneFewAndManyRows() {
        let (k, n) = (33, 21)
        let weight = lcgTensor(seed: 10, [n, k]), bias = lcgTensor(seed: 11, [n])
        for m in [1, 2, 3, 17] {
            let x = lcgTensor(seed: 12, [m, k])
            let ref = naiveGemm(transA: false, transB: true, m: m, n: n, k: k, a: x.array, lda: k, b: weight.array, ldb: k)
            for withBias in [false, true] {
                let out = Tensor(shape: [m, n], lcg(seed: 13, count: m * n))  // garbage must be overwritten
                linear(x, weight: weight, bias: withBias ? bias : nil, out: out)
                let expected = withBias ? ref.enumerated().map { $1 + bias.array[$0 % n] } : ref
                assertClose(out.array, expected, atol: 1e-5, "linear m=\(m) bias=\(withBias)")
            }
        }
    }

    func testLinearWithRowStridesWritesOnlyItsColumns() {
        // x rows live in a [3, 40] buffer, outputs go to columns [0, n) of a [3, 50] buffer (a KV-cache-like layout).
        let (m, k, n, ldx, ldo) = (3, 32, 24, 40, 50)
        let x = lcg(seed: 20, count: m * ldx), w = lcg(seed: 21, count: n * k), b = lcg(seed: 22, count: n)
        for rows in [1, m] {
            var out = [Float](repeating: 7, count: m * ldo)
            linear(x, rows: rows, inFeatures: k, ldx: ldx, weight: w, outFeatures: n, bias: b, out: &out, ldOut: ldo)
            let ref = naiveGemm(transA: false, transB: true, m: rows, n: n, k: k, a: x, lda: ldx, b: w, ldb: k)
            var expected = [Float](repeating: 7, count: m * ldo)
            for r in 0..<rows { for j in 0..<n { expected[r * ldo + j] = ref[r * n + j] + b[j] } }
            assertClose(out, expected, atol: 1e-5, "strided linear, \(rows) rows")
        }
    }

    func testOutputsOverwriteNaNGarbage() {
        // Reused scratch can hold NaN; with beta = 0 the BLAS must overwrite, never scale, what is there.
        let (k, n) = (16, 12)
        let weight = lcgTensor(seed: 40, [n, k])
        for m in [1, 3, 7] {
            let x = lcgTensor(seed: 41, [m, k]), out = Tensor(shape: [m, n], [Float](repeating: .nan, count: m * n))
            linear(x, weight: weight, bias: nil, out: out)
            let ref = naiveGemm(transA: false, transB: true, m: m, n: n, k: k, a: x.array, lda: k, b: weight.array, ldb: k)
            assertClose(out.array, ref, atol: 1e-5, "linear m=\(m) into NaN-filled out")
        }
    }

    func testMatmulAndTranspose() {
        for m in [1, 6] {
            let a = lcgTensor(seed: 30, [m, 11]), b = lcgTensor(seed: 31, [11, 13]), out = Tensor(zeros: [m, 13])
            matmul(a, b, out: out)
            let expected = naiveGemm(transA: false, transB: false, m: m, n: 13, k: 11, a: a.array, lda: 11,
                                     b: b.array, ldb: 13)
            assertClose(out.array, expected, atol: 1e-5, "matmul m=\(m)")
        }
        let src = lcg(seed: 32, count: 37 * 45)
        var dst = [Float](repeating: 0, count: 45 * 37)
        transpose(src, rows: 37, cols: 45, into: &dst)
        var expected = [Float](repeating: 0, count: 45 * 37)
        for r in 0..<37 { for c in 0..<45 { expected[c * 37 + r] = src[r * 45 + c] } }
        XCTAssertEqual(dst, expected)
    }
}
