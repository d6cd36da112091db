import Foundation

public func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { x[i] = x[i] / (1 + exp(-x[i])) }
}

/// GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
public func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
    let k: Float = 0.7978845608028654
    for i in 0..<count {
        let v = x[i]
        // tanh(u) = 1 − 2/(e^{2u} + 1): one expf instead of libm's much slower tanhf; the absolute error
        // (≤ 1e-7) vanishes in 0.5·x·(1 + tanh).
        let e = exp(2 * k * (v + 0.044715 * v * v * v))
        x[i] = v - v / (e + 1)
    }
}

/// a += b, elementwise.
public func add(_ a: Tensor, _ b: Tensor) {
    precondition(a.count == b.count, "add: \(a.shape) vs \(b.shape)")
    for i in 0..<a.count { a.ptr[i] += b.ptr[i] }
}

/// dst [cols, rows] = srcᵀ for src [rows, cols], in cache-friendly tiles.
public func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
    let tile = 32
    var r0 = 0
    while r0 < rows {
        var c0 = 0
        while c0 < cols {
            for r in r0..<min(r0 + tile, rows) {
                for c in c0..<min(c0 + tile, cols) { dst[c * rows + r] = src[r * cols + c] }
            }
            c0 += tile
        }
        r0 += tile
    }
}

/// Softmax of each row in place, max-subtracted.
public func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    for r in 0..<rows {
        let p = x + r * cols
        var m = -Float.infinity
        for i in 0..<cols where p[i] > m { m = p[i] }
        var s: Float = 0
        for i in 0..<cols {
            p[i] = exp(p[i] - m)
            s += p[i]
        }
        let inv = 1 / s
        for i in 0..<cols { p[i] *= inv }
    }
}
