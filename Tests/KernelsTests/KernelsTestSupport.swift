// Shared test helpers: deterministic inputs (the same LCG as tools/reference/make_kernel_fixtures.py)
// and a whole-tensor comparison that names the worst element.
import ScalewiseKernels
import XCTest

/// `count` values k/1000, k ∈ [−1000, 1000], from a 64-bit LCG; identical to the fixture generator's `lcg`.
func lcg(seed: UInt64, count: Int) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int((state >> 33) % 2001) - 1000) / 1000
    }
}

func lcgTensor(seed: UInt64, _ shape: [Int]) -> Tensor {
    Tensor(shape: shape, lcg(seed: seed, count: shape.reduce(1, *)))
}

/// The worst element where |actual − expected| > atol + rtol·|expected| (NaN counts as a violation), with
/// the largest error over all elements; nil when every element passes.
func worstViolation(_ actual: [Float], _ expected: [Float], atol: Float, rtol: Float = 0)
    -> (index: Int, actual: Float, expected: Float, maxError: Float)? {
    precondition(actual.count == expected.count)
    var worst: (index: Int, actual: Float, expected: Float, maxError: Float)?
    var maxError: Float = 0
    for i in 0..<actual.count {
        let err = abs(actual[i] - expected[i])
        let bad = !(err <= atol + rtol * abs(expected[i]))
        if bad && (worst == nil || !(err <= worst!.maxError)) { worst = (i, actual[i], expected[i], err) }
        maxError = max(maxError, err.isNaN ? .infinity : err)
    }
    return worst.map { ($0.index, $0.actual, $0.expected, maxError) }
}

/// Fails unless `actual` and `expected` agree elementwise within atol + rtol·|expected|.
func assertClose(_ actual: [Float], _ expected: [Float], atol: Float, rtol: Float = 0, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(what): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    if let v = worstViolation(actual, expected, atol: atol, rtol: rtol) {
        XCTFail("\(what): element \(v.index) is \(v.actual), expected \(v.expected) (max |error| \(v.maxError), " +
                "atol \(atol), rtol \(rtol))", file: file, line: line)
    }
}
