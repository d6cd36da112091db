// Micro-benchmark, not a test: skipped unless SCALEWISE_BENCH=1, so `swift test` times nothing.
// Run it optimised:  SCALEWISE_BENCH=1 swift test -c release --filter KernelBenchmarks
import Foundation
import ScalewiseKernels
import XCTest

final class KernelBenchmarks: XCTestCase {
    let scratch = Scratch()

    /// Best wall time of `runs` calls after one warm-up call, in seconds.
    private func best(runs: Int, _ body: () -> Void) -> Double {
        body()
        var fastest = Double.infinity
        for _ in 0..<runs {
            let d = ContinuousClock().measure(body)
            fastest = min(fastest, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        return fastest
    }

    private func report(_ name: String, flops: Double, seconds: Double) {
        let line = "\(name): \(String(format: "%.2f", seconds * 1e3)) ms, \(String(format: "%.1f", flops / seconds / 1e9)) GFLOP/s"
        print("BENCH \(line)")
    }

    func testBenchmarkKernels() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["SCALEWISE_BENCH"] == "1", "set SCALEWISE_BENCH=1")
        print("BENCH OpenBLAS threads: \(Threads.count)")
        // GFLOP/s of 3×3 convs count the direct algorithm's 2·O·C·9·H·W, whichever algorithm runs.
        for (c, side, runs) in [(160, 256, 5), (640, 16, 50), (320, 64, 10), (640, 32, 10)] {
            let x = lcgTensor(seed: 1, [c, side, side]), w = lcgTensor(seed: 2, [c, c, 3, 3]), b = lcgTensor(seed: 3, [c])
            let out = Tensor(zeros: [c, side, side])
            for algorithm in [ConvAlgorithm.auto, .im2col, .winograd] {
                let t = best(runs: runs) {
                    conv2d(x, weight: w, bias: b, padding: .uniform(1), out: out, scratch: scratch, algorithm: algorithm)
                }
                report("conv3x3 \(c)ch \(side)x\(side) \(algorithm)", flops: 2.0 * Double(c * c * 9 * side * side), seconds: t)
            }
        }
        do {
            // Counted as the plain upsample + 3×3 conv it replaces (the fused kernel does 4/9 of that work).
            let (c, side) = (160, 128)
            let x = lcgTensor(seed: 1, [c, side, side]), w = lcgTensor(seed: 2, [c, c, 3, 3]), b = lcgTensor(seed: 3, [c])
            let out = Tensor(zeros: [c, 2 * side, 2 * side])
            let t = best(runs: 5) { upsampleNearest2xConv3x3(x, weight: w, bias: b, out: out, scratch: scratch) }
            report("upsample2x+conv3x3 \(c)ch \(side)->\(2 * side) (equivalent)", flops: 2.0 * Double(c * c * 9 * 4 * side * side), seconds: t)
            let up = Tensor(zeros: [c, 2 * side, 2 * side])
            for algorithm in [ConvAlgorithm.im2col, .winograd] {
                let t2 = best(runs: 5) {
                    upsampleNearest2x(x, out: up)
                    conv2d(up, weight: w, bias: b, padding: .uniform(1), out: out, scratch: scratch, algorithm: algorithm)
                }
                report("upsample2x then conv3x3 \(c)ch \(side)->\(2 * side) (unfused, \(algorithm))",
                       flops: 2.0 * Double(c * c * 9 * 4 * side * side), seconds: t2)
            }
        }
        for m in [680, 1, 2, 4] {
            let (k, n) = (1024, 3072)
            let x = lcgTensor(seed: 4, [m, k]), w = lcgTensor(seed: 5, [n, k]), b = lcgTensor(seed: 6, [n])
            let out = Tensor(zeros: [m, n])
            let t = best(runs: m == 680 ? 10 : 50) { linear(x, weight: w, bias: b, out: out) }
            report("linear M=\(m) K=\(k) N=\(n)", flops: 2.0 * Double(m * k * n), seconds: t)
        }
        do {
            let x = lcgTensor(seed: 7, [160, 256 * 256]), g = lcgTensor(seed: 8, [160]), b = lcgTensor(seed: 9, [160])
            let out = Tensor(zeros: [160, 256 * 256])
            let t = best(runs: 5) { groupNorm(x, groups: 32, eps: 1e-6, gamma: g, beta: b, fusedSiLU: true, out: out) }
            print("BENCH groupNorm+SiLU 160x256x256: \(String(format: "%.2f", t * 1e3)) ms")
        }
        do {
            let (heads, d, lq, lk) = (16, 64, 256, 680)
            let q = lcgTensor(seed: 10, [lq, heads * d]), k = lcgTensor(seed: 11, [lk, heads * d])
            let v = lcgTensor(seed: 12, [lk, heads * d]), out = Tensor(zeros: [lq, heads * d])
            let t = best(runs: 10) {
                attention(q: q, k: k, v: v, heads: heads, headDim: d, scale: 0.125, out: out, scratch: scratch)
            }
            report("attention 16 heads x 64, Lq=\(lq) Lk=\(lk)", flops: 4.0 * Double(heads * lq * lk * d), seconds: t)
            let x = lcgTensor(seed: 13, [lq * heads, lk])
            let ts = best(runs: 10) { softmaxRows(x.ptr, rows: lq * heads, cols: lk) }
            print("BENCH softmaxRows \(lq * heads)x\(lk): \(String(format: "%.2f", ts * 1e3)) ms")
            let gx = lcgTensor(seed: 14, [680, 4096])
            let tg = best(runs: 10) { geluTanh(gx) }
            print("BENCH geluTanh 680x4096: \(String(format: "%.2f", tg * 1e3)) ms")
        }
    }
}
