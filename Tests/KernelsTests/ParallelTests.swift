@testable import ScalewiseKernels
import XCTest

/// The kernels split their own loops over the BLAS thread count; every element must come out bit-identical
/// whatever that count is (same seed ⇒ same image on every thread count).
final class ParallelTests: XCTestCase {
    func testParallelRangesCoverEveryIndexOnce() {
        for threads in [1, 2, 3] {
            Threads.set(threads)
            for (count, grain) in [(0, 1), (1, 1), (7, 1), (1000, 1), (1000, 600), (65537, 4096)] {
                let hits = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
                hits.initialize(repeating: 0, count: max(count, 1))
                parallelRanges(count, grain: grain) { r in for i in r { hits[i] += 1 } }
                XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 }, "count \(count) grain \(grain) threads \(threads)")
                hits.deallocate()
            }
        }
        Threads.set(2)
    }

    func testKernelsGiveTheSameBitsOnOneAndTwoThreads() {
        let before = Threads.count
        defer { Threads.set(before) }
        func run() -> [[Float]] {
            let x = lcgTensor(seed: 1, [64, 40, 40]), s = Scratch()
            let w3 = lcgTensor(seed: 2, [48, 64, 3, 3]), b = lcgTensor(seed: 3, [48])
            let wino = Tensor(shape: [48, 40, 40]), direct = Tensor(shape: [48, 40, 40]), up = Tensor(shape: [48, 80, 80])
            conv2d(x, weight: w3, bias: b, padding: .uniform(1), out: wino, scratch: s, algorithm: .winograd)
            conv2d(x, weight: w3, bias: b, padding: .uniform(1), out: direct, scratch: s, algorithm: .im2col)
            upsampleNearest2xConv3x3(x, weight: w3, bias: b, out: up, scratch: s)
            let g = x.copy()
            groupNorm(g, groups: 32, eps: 1e-6, gamma: lcgTensor(seed: 4, [64]), beta: lcgTensor(seed: 5, [64]), fusedSiLU: true)
            let rows = lcgTensor(seed: 6, [300, 256]), ln = Tensor(shape: [300, 256])
            layerNormModulate(rows, eps: 1e-6, scale: lcgTensor(seed: 7, [256]), shift: lcgTensor(seed: 8, [256]), out: ln)
            let sm = lcgTensor(seed: 9, [300, 256])
            softmaxRows(sm.ptr, rows: 300, cols: 256)
            let act = lcgTensor(seed: 10, [1 << 17])
            geluTanh(act)
            return [wino, direct, up, g, ln, sm, act].map { Array(UnsafeBufferPointer(start: $0.ptr, count: $0.count)) }
        }
        Threads.set(1)
        let one = run()
        Threads.set(2)
        let two = run()
        for (i, (a, b)) in zip(one, two).enumerated() {
            XCTAssertEqual(a.count, b.count)
            XCTAssertTrue(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern }, "output \(i) differs between 1 and 2 threads")
        }
    }
}
