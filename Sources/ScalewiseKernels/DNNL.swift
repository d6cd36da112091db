// oneDNN (Debian's libdnnl 2.6) behind a small cache: one CPU engine, matmul primitives created once per
// shape and reused (creating one costs tens of microseconds, a 1-token scale step runs ~100 linears), and
// weights reordered once, at load time, into the blocked layout the primitive reads fastest.
import CDNNL
import Synchronization

/// A oneDNN status other than success, with the call that returned it.
struct DNNLError: Error, CustomStringConvertible {
    let call: String
    let status: dnnl_status_t
    var description: String { "oneDNN \(call) failed (status \(status.rawValue))" }
}

@inline(__always)
func dnnlCheck(_ status: dnnl_status_t, _ call: @autoclosure () -> String) {
    // Every call here gets shapes and types the engine built itself; a failure is a bug or a broken
    // library, not bad input, so it stops the program with the call named.
    if status != dnnl_success { fatalError("\(DNNLError(call: call(), status: status))") }
}

/// The element types the low-precision paths use.
enum DNNLType {
    static let f32 = dnnl_f32, bf16 = dnnl_bf16, s8 = dnnl_s8, s32 = dnnl_s32
}

func memoryDesc(_ dims: [Int], _ type: dnnl_data_type_t, _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    let d = dims.map { Int64($0) }
    dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, type, tag), "memory_desc_init \(dims)")
    return md
}

/// A matmul primitive with the descriptors its arguments are created from.
/// `@unchecked Sendable`: it wraps a C handle that is never mutated after creation, and oneDNN primitives
/// may be executed from several threads at once.
final class MatmulPrimitive: @unchecked Sendable {
    let primitive: OpaquePointer
    var src: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, dst: dnnl_memory_desc_t, bias: dnnl_memory_desc_t?

    /// `gelu`: GELU (tanh form) applied to the product plus bias as oneDNN writes it.
    init(src: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, dst: dnnl_memory_desc_t, bias: dnnl_memory_desc_t?,
         gelu: Bool = false) {
        (self.src, self.weights, self.dst, self.bias) = (src, weights, dst, bias)
        var desc = dnnl_matmul_desc_t()
        var s = src, w = weights, d = dst
        if var b = bias {
            dnnlCheck(dnnl_matmul_desc_init(&desc, &s, &w, &b, &d), "matmul_desc_init")
        } else {
            dnnlCheck(dnnl_matmul_desc_init(&desc, &s, &w, nil, &d), "matmul_desc_init")
        }
        var attr: dnnl_primitive_attr_t? = nil
        var ops: dnnl_post_ops_t? = nil
        if gelu {
            dnnlCheck(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
            dnnlCheck(dnnl_post_ops_create(&ops), "post_ops_create")
            dnnlCheck(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_gelu_tanh, 0, 0), "post_ops_append_eltwise")
            dnnlCheck(dnnl_primitive_attr_set_post_ops(attr, ops), "primitive_attr_set_post_ops")
        }
        defer {
            if let ops { dnnl_post_ops_destroy(ops) }
            if let attr { dnnl_primitive_attr_destroy(attr) }
        }
        var pd: dnnl_primitive_desc_t? = nil
        dnnlCheck(dnnl_primitive_desc_create(&pd, &desc, attr, DNNL.engine, nil), "matmul primitive_desc_create")
        var p: dnnl_primitive_t? = nil
        dnnlCheck(dnnl_primitive_create(&p, pd), "matmul primitive_create")
        dnnl_primitive_desc_destroy(pd)
        primitive = p!
    }

    deinit { dnnl_primitive_destroy(primitive) }

    /// Runs the product on raw buffers laid out as the descriptors say.
    func execute(src s: UnsafeRawPointer, weights w: UnsafeRawPointer, bias b: UnsafeRawPointer?,
                 dst d: UnsafeMutableRawPointer) {
        var args: [dnnl_exec_arg_t] = []
        func add(_ arg: Int32, _ md: dnnl_memory_desc_t, _ ptr: UnsafeRawPointer) {
            var m: dnnl_memory_t? = nil
            var desc = md
            dnnlCheck(dnnl_memory_create(&m, &desc, DNNL.engine, UnsafeMutableRawPointer(mutating: ptr)), "memory_create")
            args.append(dnnl_exec_arg_t(arg: arg, memory: m))
        }
        add(SW_DNNL_ARG_SRC, src, s)
        add(SW_DNNL_ARG_WEIGHTS, weights, w)
        add(SW_DNNL_ARG_DST, dst, UnsafeRawPointer(d))
        if let bias, let b { add(SW_DNNL_ARG_BIAS, bias, b) }
        DNNL.run(primitive, args)
        for a in args { dnnl_memory_destroy(a.memory) }
    }
}

/// The process-wide engine, stream and caches.
enum DNNL {
    /// oneDNN's CPU engine. `nonisolated(unsafe)`: created once, and engines are thread-safe to use.
    nonisolated(unsafe) static let engine: OpaquePointer = {
        var e: dnnl_engine_t? = nil
        dnnlCheck(dnnl_engine_create(&e, dnnl_cpu, 0), "engine_create")
        return e!
    }()

    private struct Key: Hashable {
        let type: UInt32, m: Int, n: Int, k: Int, bias: Bool
        var gelu = false
    }

    private static let matmuls = Mutex<[Key: MatmulPrimitive]>([:])
    private static let weightLayouts = Mutex<[Key: MatmulPrimitive]>([:])

    /// The blocked weight layout oneDNN's matmul wants for an [N, K] weight of `type` (the same for every M:
    /// checked for the transformer shapes, and a primitive created for another M is given this layout
    /// explicitly, so a mismatch would fail loudly rather than read the wrong layout).
    static func weightLayout(type: dnnl_data_type_t, n: Int, k: Int) -> dnnl_memory_desc_t {
        let key = Key(type: type.rawValue, m: 0, n: n, k: k, bias: false)
        return weightLayouts.withLock { cache in
            if let p = cache[key] { return p.weights }
            var any = memoryDesc([k, n], type, dnnl_format_tag_any)
            let srcType = type == dnnl_s8 ? dnnl_s8 : type
            let dstType = type == dnnl_s8 ? dnnl_s32 : dnnl_f32
            // Query through a primitive descriptor for a mid-sized M.
            var desc = dnnl_matmul_desc_t()
            var s = memoryDesc([32, k], srcType, dnnl_ab), d = memoryDesc([32, n], dstType, dnnl_ab)
            dnnlCheck(dnnl_matmul_desc_init(&desc, &s, &any, nil, &d), "matmul_desc_init (layout)")
            var pd: dnnl_primitive_desc_t? = nil
            dnnlCheck(dnnl_primitive_desc_create(&pd, &desc, nil, engine, nil), "primitive_desc_create (layout)")
            let md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!.pointee
            dnnl_primitive_desc_destroy(pd)
            cache[key] = MatmulPrimitive(src: memoryDesc([32, k], srcType, dnnl_ab), weights: md,
                                         dst: memoryDesc([32, n], dstType, dnnl_ab), bias: nil)
            return md
        }
    }

    /// The cached matmul for src [M, K] of `type` (bf16 or s8) times packed weights [K, N] → f32 (bf16, with an
    /// optional f32 bias) or s32 (s8); with `gelu` (bf16 only), GELU(product + bias) written as bf16.
    static func matmul(type: dnnl_data_type_t, m: Int, n: Int, k: Int, bias: Bool, gelu: Bool = false) -> MatmulPrimitive {
        let key = Key(type: type.rawValue, m: m, n: n, k: k, bias: bias, gelu: gelu)
        if let p = matmuls.withLock({ $0[key] }) { return p }
        let weights = weightLayout(type: type, n: n, k: k)
        let dstType = type == dnnl_s8 ? dnnl_s32 : gelu ? dnnl_bf16 : dnnl_f32
        let p = MatmulPrimitive(src: memoryDesc([m, k], type, dnnl_ab), weights: weights,
                                dst: memoryDesc([m, n], dstType, dnnl_ab),
                                bias: bias ? memoryDesc([1, n], dnnl_f32, dnnl_ab) : nil, gelu: gelu)
        return matmuls.withLock { cache in
            if let existing = cache[key] { return existing }
            cache[key] = p
            return p
        }
    }

    /// Reorders a plain [N, K] row-major weight (`type`) into `layout`, written to `dst` (layout's size).
    static func pack(_ src: UnsafeRawPointer, type: dnnl_data_type_t, n: Int, k: Int, layout: dnnl_memory_desc_t,
                     into dst: UnsafeMutableRawPointer) {
        var plain = memoryDesc([k, n], type, dnnl_ba)  // [K, N] seen column-major = [N, K] row-major
        var target = layout
        var pd: dnnl_primitive_desc_t? = nil
        dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &plain, engine, &target, engine, nil), "reorder_primitive_desc_create")
        var p: dnnl_primitive_t? = nil
        dnnlCheck(dnnl_primitive_create(&p, pd), "reorder primitive_create")
        dnnl_primitive_desc_destroy(pd)
        var from: dnnl_memory_t? = nil, to: dnnl_memory_t? = nil
        dnnlCheck(dnnl_memory_create(&from, &plain, engine, UnsafeMutableRawPointer(mutating: src)), "memory_create")
        dnnlCheck(dnnl_memory_create(&to, &target, engine, dst), "memory_create")
        run(p!, [dnnl_exec_arg_t(arg: SW_DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: SW_DNNL_ARG_TO, memory: to)])
        dnnl_memory_destroy(from)
        dnnl_memory_destroy(to)
        dnnl_primitive_destroy(p)
    }

    /// Executes on a stream of its own (CPU streams are cheap; sharing one across threads is not allowed)
    /// with OpenMP's thread count set to the BLAS count: OpenMP keeps that count per calling thread, and the
    /// TUI computes on a worker thread.
    static func run(_ primitive: OpaquePointer, _ args: [dnnl_exec_arg_t]) {
        omp_set_num_threads(Int32(Threads.count))
        var stream: dnnl_stream_t? = nil
        dnnlCheck(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream_create")
        args.withUnsafeBufferPointer {
            dnnlCheck(dnnl_primitive_execute(primitive, stream, Int32($0.count), $0.baseAddress), "primitive_execute")
        }
        dnnlCheck(dnnl_stream_wait(stream), "stream_wait")
        dnnl_stream_destroy(stream)
    }
}

/// Memory descriptor with explicit strides (elements).
func stridedDesc(_ dims: [Int], _ strides: [Int], _ type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    let d = dims.map { Int64($0) }, s = strides.map { Int64($0) }
    dnnlCheck(dnnl_memory_desc_init_by_strides(&md, Int32(d.count), d, type, s), "memory_desc_init_by_strides \(dims)")
    return md
}

extension DNNL {
    private struct StridedKey: Hashable {
        let dims: [Int]
    }
    private static let strided = Mutex<[StridedKey: MatmulPrimitive]>([:])

    /// A cached batched matmul dst[b] = src[b]·weights[b] on strided views: src [B, M, K], weights [B, K, N],
    /// dst [B, M, N], each with its own strides (so heads can be read in place from a fused qkv buffer), in f32.
    static func stridedMatmul(b: Int, m: Int, n: Int, k: Int, src: [Int], weights: [Int], dst: [Int]) -> MatmulPrimitive {
        let key = StridedKey(dims: [b, m, n, k] + src + weights + dst)
        if let p = strided.withLock({ $0[key] }) { return p }
        let p = MatmulPrimitive(src: stridedDesc([b, m, k], src), weights: stridedDesc([b, k, n], weights),
                                dst: stridedDesc([b, m, n], dst), bias: nil)
        return strided.withLock { cache in
            if let existing = cache[key] { return existing }
            cache[key] = p
            return p
        }
    }
}
