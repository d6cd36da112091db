import XCTest

@testable import ScalewiseKernels

/// The bf16 and int8 linear layers against a float64 reference of the fp32 product, with the error bounds
/// the formats allow; and their determinism across thread counts.
final class PackedLinearTests: XCTestCase {
    /// Deterministic values in [-1, 1) (a 64-bit LCG), so failures reproduce.
    func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s) >> 40) / Float(1 << 23)
        }
    }

    /// out = x·Wᵀ + b in float64.
    func reference(_ x: [Float], _ w: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for r in 0..<m {
            for c in 0..<n {
                var acc = Double(b[c])
                for i in 0..<k { acc += Double(x[r * k + i]) * Double(w[c * k + i]) }
                out[r * n + c] = acc
            }
        }
        return out
    }

    func run(_ p: Precision, x: [Float], w: [Float], b: [Float], m: Int, n: Int, k: Int) -> [Float] {
        let weight = PackedWeight(Tensor(shape: [n, k], w), precision: p)
        var out = [Float](repeating: .nan, count: m * n)
        x.withUnsafeBufferPointer { xp in
            b.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { weight.apply(xp.baseAddress!, rows: m, bias: bp.baseAddress!, out: $0.baseAddress!) }
            }
        }
        return out
    }

    /// Largest |got − want| over the largest |want|.
    func relativeError(_ got: [Float], _ want: [Double]) -> Double {
        let num = zip(got, want).map { abs(Double($0) - $1) }.max() ?? 0
        return num / max(want.map(abs).max() ?? 0, 1e-30)
    }

    /// Bounds: bf16 rounds x and W to 8 significant bits (relative 2^-9 each), int8 to 1/254 of each row's range.
    static let bounds: [Precision: Double] = [.fp32: 1e-5, .bf16: 1e-2, .int8: 3e-2]

    func testProductsWithinBounds() {
        for (m, n, k) in [(1, 48, 64), (3, 96, 200), (17, 130, 256), (64, 256, 96), (300, 64, 512)] {
            let x = values(m * k, seed: 1), w = values(n * k, seed: 2), b = values(n, seed: 3)
            let want = reference(x, w, b, m: m, n: n, k: k)
            for p in Precision.allCases {
                let err = relativeError(run(p, x: x, w: w, b: b, m: m, n: n, k: k), want)
                print("packed linear \(p) M=\(m) N=\(n) K=\(k): rel err \(err)")
                XCTAssertLessThan(err, Self.bounds[p]!, "\(p) M=\(m) N=\(n) K=\(k)")
                if p != .fp32 { XCTAssertGreaterThan(err, 1e-6, "\(p) cannot be exact: is it computing in fp32?") }
            }
        }
    }

    /// A wrong kernel (here: a weight row scaled by 1.05 before packing) must break the bound.
    func testPerturbedWeightBreaksBound() {
        let (m, n, k) = (8, 64, 128)
        let x = values(m * k, seed: 4), w = values(n * k, seed: 5), b = [Float](repeating: 0, count: n)
        var bad = w
        for i in 0..<k { bad[7 * k + i] *= 1.05 }
        let want = reference(x, w, b, m: m, n: n, k: k)
        for p in [Precision.bf16, .int8] {
            XCTAssertGreaterThan(relativeError(run(p, x: x, w: bad, b: b, m: m, n: n, k: k), want), Self.bounds[p]! / 2)
        }
    }

    /// Rows of the output do not depend on how many rows are multiplied together, nor on the thread count.
    func testDeterministicAcrossThreadsAndBatch() {
        let (m, n, k) = (40, 192, 320)
        let x = values(m * k, seed: 6), w = values(n * k, seed: 7), b = values(n, seed: 8)
        let saved = Threads.count
        defer { Threads.set(saved) }
        for p in [Precision.bf16, .int8] {
            Threads.set(1)
            let one = run(p, x: x, w: w, b: b, m: m, n: n, k: k)
            Threads.set(2)
            let two = run(p, x: x, w: w, b: b, m: m, n: n, k: k)
            XCTAssertEqual(one, two, "\(p): 1 vs 2 threads")
        }
    }

    func testMemoryFootprint() {
        let t = Tensor(shape: [256, 512], values(256 * 512, seed: 9))
        let fp32 = PackedWeight(t, precision: .fp32).bytes, bf16 = PackedWeight(t, precision: .bf16).bytes
        let int8 = PackedWeight(t, precision: .int8).bytes
        XCTAssertEqual(fp32, 256 * 512 * 4)
        XCTAssertLessThanOrEqual(bf16, fp32 / 2 + 4096)
        XCTAssertLessThanOrEqual(int8, fp32 / 4 + 4096)
    }
}
