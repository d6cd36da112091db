import Foundation
import ScalewiseKernels
import XCTest

/// The bf16 KV cache and its attention kernel (online softmax over 64-key groups) against softmax(α·q·kᵀ)·v in
/// Double on the bf16-rounded q, k and v: what remains is the rounding of the probabilities to bf16 and f32
/// accumulation, a few 1e-3 for values of magnitude ≤ 1.
final class PackedKVTests: XCTestCase {
    static let bound: Float = 6e-3

    private func rounded(_ x: [Float]) -> [Float] {
        var half = [UInt16](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { src in
            half.withUnsafeMutableBufferPointer { roundToBF16(src.baseAddress!, rows: 1, cols: x.count, ld: x.count, into: $0.baseAddress!) }
        }
        return half.map { Float(bitPattern: UInt32($0) << 16) }
    }

    /// Reference of row r: per head softmax(scale·q·kᵀ)·v over the first `lk` keys, in Double.
    private func reference(qkv: [Float], keys kv: [Float], C: Int, heads: Int, lq: Int, lk: Int, scale: Float) -> [Float] {
        let d = C / heads
        var out = [Float](repeating: 0, count: lq * C)
        for h in 0..<heads {
            for i in 0..<lq {
                var s = (0..<lk).map { j -> Double in
                    var dot = 0.0
                    for t in 0..<d { dot += Double(qkv[i * 3 * C + h * d + t]) * Double(kv[j * 3 * C + C + h * d + t]) }
                    return Double(scale) * dot
                }
                let m = s.max()!
                s = s.map { exp($0 - m) }
                let z = s.reduce(0, +)
                for t in 0..<d {
                    var acc = 0.0
                    for j in 0..<lk { acc += s[j] / z * Double(kv[j * 3 * C + 2 * C + h * d + t]) }
                    out[i * C + h * d + t] = Float(acc)
                }
            }
        }
        return out
    }

    /// Two sequences; keys written in two steps over stale NaN entries, as a cache reused after stepping back.
    /// Returns the largest error against the reference.
    func measure(heads: Int, d: Int, lq: Int, lk: Int, scale: Float, keysSeen: Int? = nil) -> Float {
        let C = heads * d, rows = 2, scratch = Scratch()
        let cache = PackedKV(rows: rows, capacity: lk + 7, heads: heads, headDim: d, scratch: scratch)
        let stale = [Float](repeating: .nan, count: (lk + 7) * 3 * C)
        var worst: Float = 0
        var kvs: [[Float]] = [], qkvs: [[Float]] = []
        for r in 0..<rows {
            stale.withUnsafeBufferPointer { cache.write(row: r, keys: $0.baseAddress! + C, values: $0.baseAddress! + 2 * C, ld: 3 * C, tokens: lk + 7, at: 0) }
            let kv = rounded(lcg(seed: UInt64(90 + r), count: lk * 3 * C))
            let first = lk - lq
            kv.withUnsafeBufferPointer { p in
                cache.write(row: r, keys: p.baseAddress! + C, values: p.baseAddress! + 2 * C, ld: 3 * C, tokens: first, at: 0)
                cache.write(row: r, keys: p.baseAddress! + first * 3 * C + C, values: p.baseAddress! + first * 3 * C + 2 * C,
                            ld: 3 * C, tokens: lq, at: first)
            }
            kvs.append(kv)
            qkvs.append(rounded(lcg(seed: UInt64(80 + r), count: lq * 3 * C)))
        }
        var qkv = [Float](), out = [Float](repeating: .nan, count: rows * lq * C)
        for r in 0..<rows { qkv += qkvs[r] }
        qkv.withUnsafeBufferPointer { q in
            out.withUnsafeMutableBufferPointer { o in
                cache.attend(q: q.baseAddress!, ldq: 3 * C, qRowStride: lq * 3 * C, queries: lq, keys: keysSeen ?? lk,
                             scale: scale, out: o.baseAddress!, ldo: C, outRowStride: lq * C)
            }
        }
        for r in 0..<rows {
            let expected = reference(qkv: qkvs[r], keys: kvs[r], C: C, heads: heads, lq: lq, lk: lk, scale: scale)
            for (a, e) in zip(out[(r * lq * C)..<((r + 1) * lq * C)], expected) {
                worst = max(worst, a.isFinite ? abs(a - e) : .infinity)
            }
        }
        return worst
    }

    func testVectorKernelShapes() {
        // d = 64 and 32 take the AVX512_BF16 kernel where the CPU has it: partial key groups, query tails.
        for (heads, d, lq, lk) in [(2, 64, 5, 70), (4, 32, 64, 64), (3, 16, 1, 1), (2, 64, 256, 300)] {
            let err = measure(heads: heads, d: d, lq: lq, lk: lk, scale: 3)
            XCTAssertLessThan(err, Self.bound, "heads \(heads) × \(d), \(lq) queries over \(lk) keys")
        }
    }

    func testPortableKernelShapes() {
        // d = 40 is not a multiple of 16: the portable kernel on every CPU.
        for (heads, d, lq, lk) in [(2, 40, 6, 130), (1, 2, 3, 65)] {
            let err = measure(heads: heads, d: d, lq: lq, lk: lk, scale: 3)
            XCTAssertLessThan(err, Self.bound, "heads \(heads) × \(d), \(lq) queries over \(lk) keys")
        }
    }

    func testComparisonBitesWithoutTheNewestKeys() {
        // Attending without the current scale's keys (the newest 5) must break the bound.
        XCTAssertGreaterThan(measure(heads: 2, d: 64, lq: 5, lk: 70, scale: 3, keysSeen: 65), Self.bound)
        XCTAssertGreaterThan(measure(heads: 2, d: 40, lq: 5, lk: 70, scale: 3, keysSeen: 65), Self.bound)
    }
}
