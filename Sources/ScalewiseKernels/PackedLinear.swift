// `nn.Linear` weights held in the compute precision, and the products on them.
//
// fp32 keeps the loaded tensor and runs OpenBLAS (`linear` in Gemm.swift): bit-identical to the reference path.
// bf16 rounds the weights to bfloat16 (round to nearest even, as torch's `.bfloat16()`) and the activations the
// same way at each call; oneDNN multiplies with float32 accumulation, the bias added in float32.
// int8 stores w[n, :] ≈ q[n, :]·sw[n] with q = round(w/sw), sw = max|w[n, :]|/127 (per output row), and
// quantises each activation row (token) the same way, x[m, :] ≈ p[m, :]·sx[m]; the s8·s8 products accumulate
// exactly in int32 and out[m, n] = acc·sx[m]·sw[n] + b[n] — the W8A8 scheme of LLM.int8()/SmoothQuant without
// outlier handling, measured against fp32 in the tests and the README.
import CDNNL
import CKernels
import Synchronization

/// A linear layer's weight `[N, K]` (PyTorch's `[out, in]`) in one precision.
///
/// `@unchecked Sendable`: the packed buffer is written once in `init` and only read afterwards.
public final class PackedWeight: @unchecked Sendable {
    public let precision: Precision
    public let outFeatures: Int, inFeatures: Int
    /// The fp32 weight (fp32 precision only).
    public let fp32: Tensor?
    private let packed: UnsafeMutableRawPointer?
    private let packedBytes: Int
    /// int8: sw[n], one per output row.
    private let rowScales: [Float]

    /// Packs `weight` `[N, K]` (fp32) for `precision`; the fp32 tensor is kept only for fp32.
    public init(_ weight: Tensor, precision: Precision) {
        precondition(weight.shape.count == 2, "linear weight must be [out, in], got \(weight.shape)")
        self.precision = precision
        let n = weight.shape[0], k = weight.shape[1]
        (outFeatures, inFeatures) = (n, k)
        switch precision {
        case .fp32:
            fp32 = weight
            packed = nil
            packedBytes = 0
            rowScales = []
        case .bf16:
            fp32 = nil
            let plain = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, n * k))
            defer { plain.deallocate() }
            roundToBF16(weight.ptr, rows: n, cols: k, ld: k, into: plain)
            (packed, packedBytes) = PackedWeight.pack(plain, type: dnnl_bf16, n: n, k: k)
            rowScales = []
        case .int8:
            fp32 = nil
            let plain = UnsafeMutablePointer<Int8>.allocate(capacity: max(1, n * k))
            defer { plain.deallocate() }
            var scales = [Float](repeating: 0, count: n)
            scales.withUnsafeMutableBufferPointer {
                quantizeRows(weight.ptr, rows: n, cols: k, ld: k, into: plain, scales: $0.baseAddress!)
            }
            rowScales = scales
            (packed, packedBytes) = PackedWeight.pack(plain, type: dnnl_s8, n: n, k: k)
        }
    }

    deinit { packed?.deallocate() }

    /// Bytes the weight occupies in memory.
    public var bytes: Int { fp32.map { $0.count * 4 } ?? packedBytes + rowScales.count * 4 }

    private static func pack<T>(_ plain: UnsafeMutablePointer<T>, type: dnnl_data_type_t, n: Int, k: Int)
        -> (UnsafeMutableRawPointer?, Int) {
        guard n > 0 && k > 0 else { return (nil, 0) }
        let layout = DNNL.weightLayout(type: type, n: n, k: k)
        var md = layout
        let size = dnnl_memory_desc_get_size(&md)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(64, size), alignment: 64)
        DNNL.pack(plain, type: type, n: n, k: k, layout: layout, into: buffer)
        return (buffer, size)
    }

    /// out[m, :] = x[m, :]·Wᵀ + bias for `rows` rows of x (row stride `ldx`, default K) into packed out [M, N].
    public func apply(_ x: UnsafePointer<Float>, rows m: Int, ldx: Int? = nil, bias: UnsafePointer<Float>?,
                      out: UnsafeMutablePointer<Float>) {
        let n = outFeatures, k = inFeatures, ldx = ldx ?? k
        guard m > 0 && n > 0 else { return }
        guard let packed else {
            if let fp32 {
                linear(x, rows: m, inFeatures: k, ldx: ldx, weight: fp32.ptr, outFeatures: n, bias: bias, out: out)
            } else {
                // K = 0: the product is empty, only the bias remains.
                for r in 0..<m {
                    if let bias { (out + r * n).update(from: bias, count: n) } else { (out + r * n).update(repeating: 0, count: n) }
                }
            }
            return
        }
        switch precision {
        case .fp32:
            preconditionFailure("fp32 weights are never packed")
        case .bf16:
            Workspace.with(bytes: m * k * 2) { buffer in
                let src = buffer.assumingMemoryBound(to: UInt16.self)
                roundToBF16(x, rows: m, cols: k, ld: ldx, into: src)
                DNNL.matmul(type: dnnl_bf16, m: m, n: n, k: k, bias: bias != nil)
                    .execute(src: src, weights: packed, bias: bias, dst: out)
            }
        case .int8:
            Workspace.with(bytes: m * k + m * 4) { buffer in
                let src = buffer.assumingMemoryBound(to: Int8.self)
                let sx = (buffer + m * k).alignedUp(for: Float.self).assumingMemoryBound(to: Float.self)
                quantizeRows(x, rows: m, cols: k, ld: ldx, into: src, scales: sx)
                DNNL.matmul(type: dnnl_s8, m: m, n: n, k: k, bias: false)
                    .execute(src: src, weights: packed, bias: nil, dst: out)
                rowScales.withUnsafeBufferPointer { sw in
                    dequantize(out, rows: m, cols: n, rowScales: sx, colScales: sw.baseAddress!, bias: bias)
                }
            }
        }
    }
}

extension PackedWeight {
    /// bf16 only: out (bf16) = GELU(x·Wᵀ + bias), GELU's tanh form, in one oneDNN pass — the first half of a
    /// transformer FFN, written as the bf16 source of the second.
    public func applyGELU(_ x: UnsafePointer<Float>, rows m: Int, bias: UnsafePointer<Float>?,
                          out: UnsafeMutablePointer<UInt16>) {
        Workspace.with(bytes: m * inFeatures * 2) { buffer in
            let src = buffer.assumingMemoryBound(to: UInt16.self)
            roundToBF16(x, rows: m, cols: inFeatures, ld: inFeatures, into: src)
            applyGELU(bf16: src, rows: m, bias: bias, out: out)
        }
    }

    /// `applyGELU` for x already in bf16 (packed rows).
    public func applyGELU(bf16 x: UnsafePointer<UInt16>, rows m: Int, bias: UnsafePointer<Float>?,
                          out: UnsafeMutablePointer<UInt16>) {
        precondition(precision == .bf16, "applyGELU is the bf16 path")
        let n = outFeatures, k = inFeatures
        guard m > 0 && n > 0, let packed else { return }
        DNNL.matmul(type: dnnl_bf16, m: m, n: n, k: k, bias: bias != nil, gelu: true)
            .execute(src: x, weights: packed, bias: bias, dst: out)
    }

    /// bf16 only: out = x·Wᵀ + bias for x already in bf16 (packed rows).
    public func apply(bf16 x: UnsafePointer<UInt16>, rows m: Int, bias: UnsafePointer<Float>?,
                      out: UnsafeMutablePointer<Float>) {
        precondition(precision == .bf16, "a bf16 source is the bf16 path")
        let n = outFeatures, k = inFeatures
        guard m > 0 && n > 0, let packed else { return }
        DNNL.matmul(type: dnnl_bf16, m: m, n: n, k: k, bias: bias != nil).execute(src: x, weights: packed, bias: bias, dst: out)
    }
}

/// The rows of x rounded to bf16 (nearest even; a NaN stays a NaN) into a packed `[rows, cols]`.
public func roundToBF16(_ x: UnsafePointer<Float>, rows m: Int, cols k: Int, ld: Int, into dst: UnsafeMutablePointer<UInt16>) {
    parallelRanges(m, grain: max(1, 65536 / max(k, 1))) { rows in
        for r in rows {
            sw_round_bf16(x + r * ld, dst + r * k, k)
        }
    }
}

/// Symmetric int8 per row: scale[r] = max|x[r, :]|/127, q = round(x/scale) (nearest even); an all-zero row
/// gets scale 0 and q = 0.
func quantizeRows(_ x: UnsafePointer<Float>, rows m: Int, cols k: Int, ld: Int, into q: UnsafeMutablePointer<Int8>,
                  scales: UnsafeMutablePointer<Float>) {
    parallelRanges(m, grain: max(1, 65536 / max(k, 1))) { rows in
        for r in rows { scales[r] = sw_quantize_row(x + r * ld, q + r * k, k) }
    }
}

/// In place: the int32 accumulators in `out` become acc·sx[m]·sw[n] + b[n].
func dequantize(_ out: UnsafeMutablePointer<Float>, rows m: Int, cols n: Int, rowScales sx: UnsafePointer<Float>,
                colScales sw: UnsafePointer<Float>, bias: UnsafePointer<Float>?) {
    parallelRanges(m, grain: max(1, 65536 / max(n, 1))) { rows in
        for r in rows { sw_dequantize_row(out + r * n, n, sx[r], sw, bias) }
    }
}

/// Grow-only byte buffers for converted activations, handed out one per call so that concurrent sessions
/// never share one. `@unchecked Sendable`: each buffer is owned by exactly one caller between take and give.
final class Workspace: @unchecked Sendable {
    private(set) var buffer: UnsafeMutableRawPointer
    private(set) var capacity: Int

    private init(bytes: Int) {
        capacity = max(bytes, 1 << 16)
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit { buffer.deallocate() }

    private func reserve(_ bytes: Int) {
        guard bytes > capacity else { return }
        buffer.deallocate()
        capacity = bytes
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    private static let pool = Mutex<[Workspace]>([])

    static func with<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) -> R) -> R {
        let w = pool.withLock { $0.popLast() } ?? Workspace(bytes: bytes)
        w.reserve(bytes + 64)
        defer { pool.withLock { $0.append(w) } }
        return body(w.buffer)
    }
}
