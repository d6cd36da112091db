import ScalewiseKernels
import XCTest

/// Proves the whole-tensor comparison used everywhere can fail: a fixture with one element moved by
/// a little more than the tolerance, or with a NaN, must be rejected.
final class ComparisonBitesTests: XCTestCase {
    func testPerturbedFixtureIsRejected() {
        let src = lcgTensor(seed: 101, [2, 13, 10]), dst = Tensor(zeros: [2, 16, 13])
        bicubicResize(src, to: dst)
        let expected = TorchFixtures.bicubic_13x10_to_16x13
        XCTAssertNil(worstViolation(dst.array, expected, atol: 2e-6), "the genuine fixture passes")

        var perturbed = expected
        perturbed[217] += 5e-6
        let v = worstViolation(dst.array, perturbed, atol: 2e-6)
        XCTAssertEqual(v?.index, 217, "a 5e-6 change in one of 416 elements is caught and located")

        perturbed = expected
        perturbed[3] = .nan
        XCTAssertEqual(worstViolation(dst.array, perturbed, atol: 2e-6)?.index, 3, "NaN never compares close")
    }
}
