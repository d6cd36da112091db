import ScalewiseKernels
import XCTest

final class HalfTests: XCTestCase {
    func testF16ToF32IsExactForAllBitPatterns() {
        let all = (0...UInt16.max).map { $0 }
        let out = f16ToF32(all)
        for (h, f) in zip(all, out) {
            let ref = Float(Float16(bitPattern: h))
            if ref.isNaN {
                XCTAssertTrue(f.isNaN, "f16 \(h) should be NaN")
            } else {
                XCTAssertEqual(f.bitPattern, ref.bitPattern, "f16 bits \(h)")
            }
        }
    }

    func testF32ToF16RoundsToNearestEven() {
        var inputs: [Float] = [0, -0.0, 1, -1, 65504, 65519.99, 65520, -65520, 1e10, .infinity, -.infinity, .nan,
                               6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 8.940697e-08, 1e-10,
                               1.0009766, 1.00048828125, 1.00146484375, 0.33333334, .leastNonzeroMagnitude]
        // Halfway points between neighbouring halves (ties go to even) and random bit patterns.
        for h in stride(from: UInt16(0), to: 0x7c00, by: 97) {
            let lo = Float(Float16(bitPattern: h)), hi = Float(Float16(bitPattern: h + 1))
            inputs += [(lo + hi) / 2, -(lo + hi) / 2, lo.nextUp, hi.nextDown]
        }
        var state: UInt32 = 12345
        for _ in 0..<20000 {
            state = state &* 1664525 &+ 1013904223
            inputs.append(Float(bitPattern: state))
        }
        let out = f32ToF16(inputs)
        for (x, h) in zip(inputs, out) {
            let ref = Float16(x)
            if ref.isNaN {
                XCTAssertTrue(Float16(bitPattern: h).isNaN, "\(x) should give NaN")
            } else {
                XCTAssertEqual(h, ref.bitPattern, "f32 \(x) (bits \(x.bitPattern))")
            }
        }
    }

    func testBF16ToF32() {
        let bits: [UInt16] = [0x0000, 0x8000, 0x3f80, 0xbf80, 0x4049, 0x7f80, 0xff80, 0x0001, 0x7f7f]
        let expected: [Float] = [0, -0.0, 1, -1, 3.140625, .infinity, -.infinity, Float(bitPattern: 0x0001_0000),
                                 Float(bitPattern: 0x7f7f_0000)]
        XCTAssertEqual(bf16ToF32(bits).map(\.bitPattern), expected.map(\.bitPattern))
        XCTAssertTrue(bf16ToF32([0x7fc0])[0].isNaN)
    }
}
