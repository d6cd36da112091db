// Convolutions in bf16 on oneDNN, for the tokenizer's convolutional nets when a model runs in bf16 or int8.
// Maps are channels-last (NHWC, batch 1: `[H, W, C]`), the layout oneDNN's brgconv kernels read and write
// without reordering: sources bf16, outputs, bias and accumulation f32. The fp32 reference path keeps PyTorch's
// NCHW (Conv.swift); only the tokenizer's first and last convolutions convert between the two.
import CDNNL
import Synchronization

/// A `Conv2d` weight `[O, C, kh, kw]` in bf16, with the convolutions planned for each input size it meets.
///
/// `@unchecked Sendable`: the mutable state (plans and weight copies) lives behind one lock; plans and weight
/// copies are immutable once created.
public final class PackedConv: @unchecked Sendable {
    public let outChannels: Int, inChannels: Int, kh: Int, kw: Int
    private let state: Mutex<State>

    struct Key: Hashable { let h: Int, w: Int, stride: Int, pad: [Int], bias: Bool, accumulate: Bool }

    /// The weights in each layout a plan asked for. Until the first plan exists they are plain bf16 OIHW; that
    /// copy is then dropped, so a decoder holds one bf16 copy of its weights, not two.
    struct State {
        var plans: [Key: ConvPlan] = [:]
        var copies: [WeightCopy] = []
    }

    public init(_ weight: Tensor) {
        precondition(weight.shape.count == 4, "conv weight must be [O, C, kh, kw], got \(weight.shape)")
        (outChannels, inChannels, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let plain = WeightCopy(bytes: max(2, weight.count * 2),
                               layout: memoryDesc([outChannels, inChannels, kh, kw], dnnl_bf16, dnnl_oihw), seed: true)
        roundToBF16(weight.ptr, rows: 1, cols: weight.count, ld: weight.count,
                    into: plain.data.assumingMemoryBound(to: UInt16.self))
        state = Mutex(State(copies: [plain]))
    }

    /// Bytes of weights held (every layout in use).
    public var bytes: Int { state.withLock { $0.copies.reduce(0) { $0 + $1.bytes } } }

    public func outputSize(height h: Int, width w: Int, stride: Int, padding: Padding) -> (h: Int, w: Int) {
        ((h + padding.top + padding.bottom - kh) / stride + 1, (w + padding.left + padding.right - kw) / stride + 1)
    }

    /// out `[Ho, Wo, O]` (f32) = conv(src `[H, W, C]` bf16) + bias, plus out's previous contents when
    /// `accumulate` (a residual added in the same pass). Groups 1, dilation 1, as PyTorch's `Conv2d`.
    public func apply(channelsLast src: UnsafePointer<UInt16>, height h: Int, width w: Int, bias: UnsafePointer<Float>?,
                      stride: Int = 1, padding: Padding, accumulate: Bool = false, out: UnsafeMutablePointer<Float>) {
        let key = Key(h: h, w: w, stride: stride, pad: [padding.top, padding.left, padding.bottom, padding.right],
                      bias: bias != nil, accumulate: accumulate)
        let plan = state.withLock { s in
            if let p = s.plans[key] { return p }
            let p = ConvPlan(self, h: h, w: w, stride: stride, padding: padding, bias: bias != nil,
                             accumulate: accumulate, copies: &s.copies)
            s.plans[key] = p
            return p
        }
        plan.run(src, bias: bias, out: out)
    }
}

/// Weights in one oneDNN layout.
final class WeightCopy: @unchecked Sendable {  // immutable after creation; freed with its last plan
    let data: UnsafeMutableRawPointer
    let layout: dnnl_memory_desc_t
    let bytes: Int
    /// The plain copy made at load time, dropped once a plan has its own layout.
    let seed: Bool

    init(bytes: Int, layout: dnnl_memory_desc_t, seed: Bool = false) {
        self.bytes = bytes
        self.seed = seed
        self.layout = layout
        data = .allocate(byteCount: max(64, bytes), alignment: 64)
    }

    deinit { data.deallocate() }

    func matches(_ md: dnnl_memory_desc_t) -> Bool {
        var a = layout, b = md
        return dnnl_memory_desc_equal(&a, &b) != 0
    }
}

/// One convolution shape: the primitive and the weights in the layout it reads.
final class ConvPlan: @unchecked Sendable {  // immutable after init; oneDNN primitives run from any thread
    private let conv: OpaquePointer
    private let src: dnnl_memory_desc_t, dst: dnnl_memory_desc_t, bias: dnnl_memory_desc_t
    private let weights: WeightCopy

    init(_ c: PackedConv, h: Int, w: Int, stride: Int, padding: Padding, bias hasBias: Bool, accumulate: Bool,
         copies: inout [WeightCopy]) {
        let (ho, wo) = c.outputSize(height: h, width: w, stride: stride, padding: padding)
        // Channels-last in and out; with NCHW oneDNN 2.6 falls back to im2col + gemm, 2.6× slower on the
        // decoder's 256² layers, and the reorders to and from its preferred layout cost another 15 %.
        var s = memoryDesc([1, c.inChannels, h, w], dnnl_bf16, dnnl_nhwc)
        var weiAny = memoryDesc([c.outChannels, c.inChannels, c.kh, c.kw], dnnl_bf16, dnnl_format_tag_any)
        var b = memoryDesc([c.outChannels], dnnl_f32, dnnl_a)
        var d = memoryDesc([1, c.outChannels, ho, wo], dnnl_f32, dnnl_nhwc)
        var desc = dnnl_convolution_desc_t()
        let strides: [Int64] = [Int64(stride), Int64(stride)]
        let padL: [Int64] = [Int64(padding.top), Int64(padding.left)]
        let padR: [Int64] = [Int64(padding.bottom), Int64(padding.right)]
        withUnsafePointer(to: &b) { bp in
            dnnlCheck(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &s,
                                                         &weiAny, hasBias ? bp : nil, &d, strides, padL, padR),
                      "convolution_forward_desc_init")
        }
        var attr: dnnl_primitive_attr_t? = nil
        var ops: dnnl_post_ops_t? = nil
        if accumulate {
            dnnlCheck(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
            dnnlCheck(dnnl_post_ops_create(&ops), "post_ops_create")
            dnnlCheck(dnnl_post_ops_append_sum(ops, 1), "post_ops_append_sum")
            dnnlCheck(dnnl_primitive_attr_set_post_ops(attr, ops), "primitive_attr_set_post_ops")
        }
        var pd: dnnl_primitive_desc_t? = nil
        dnnlCheck(dnnl_primitive_desc_create(&pd, &desc, attr, DNNL.engine, nil), "convolution primitive_desc_create")
        if let ops { dnnl_post_ops_destroy(ops) }
        if let attr { dnnl_primitive_attr_destroy(attr) }
        let wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!.pointee
        var p: dnnl_primitive_t? = nil
        dnnlCheck(dnnl_primitive_create(&p, pd), "convolution primitive_create")
        dnnl_primitive_desc_destroy(pd)
        conv = p!
        (src, dst, bias) = (s, d, b)
        if let existing = copies.first(where: { $0.matches(wmd) }) {
            weights = existing
        } else {
            var size = wmd
            let copy = WeightCopy(bytes: dnnl_memory_desc_get_size(&size), layout: wmd)
            let from = copies[0]
            if from.seed {
                DNNL.reorder(from.data, from.layout, into: copy.data, wmd)
            } else {
                // Between two blocked layouts oneDNN 2.6 has only its generic reorder (70 ms for a 640→1920 1×1
                // weight); through plain OIHW both steps run jitted kernels.
                let plainMD = memoryDesc([c.outChannels, c.inChannels, c.kh, c.kw], dnnl_bf16, dnnl_oihw)
                let plain = WeightCopy(bytes: c.outChannels * c.inChannels * c.kh * c.kw * 2, layout: plainMD)
                DNNL.reorder(from.data, from.layout, into: plain.data, plainMD)
                DNNL.reorder(plain.data, plainMD, into: copy.data, wmd)
            }
            // The plain OIHW copy only seeds the first layout.
            copies = copies.filter { !$0.seed } + [copy]
            weights = copy
        }
    }

    deinit { dnnl_primitive_destroy(conv) }

    func run(_ input: UnsafePointer<UInt16>, bias b: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        let c = DNNLArgs()
        c.add(SW_DNNL_ARG_SRC, src, input)
        c.add(SW_DNNL_ARG_WEIGHTS, weights.layout, weights.data)
        if let b { c.add(SW_DNNL_ARG_BIAS, bias, b) }
        c.add(SW_DNNL_ARG_DST, dst, out)
        DNNL.run(conv, c.args)
    }
}

/// Memory objects for one execution, destroyed with it.
final class DNNLArgs {
    private(set) var args: [dnnl_exec_arg_t] = []

    func add(_ arg: Int32, _ md: dnnl_memory_desc_t, _ ptr: UnsafeRawPointer) {
        var m: dnnl_memory_t? = nil
        var desc = md
        dnnlCheck(dnnl_memory_create(&m, &desc, DNNL.engine, UnsafeMutableRawPointer(mutating: ptr)), "memory_create")
        args.append(dnnl_exec_arg_t(arg: arg, memory: m))
    }

    deinit { for a in args { dnnl_memory_destroy(a.memory) } }
}

extension DNNL {
    /// Copies `src` (laid out as `from`) into `dst` laid out as `to`.
    static func reorder(_ src: UnsafeRawPointer, _ from: dnnl_memory_desc_t, into dst: UnsafeMutableRawPointer,
                        _ to: dnnl_memory_desc_t) {
        var f = from, t = to
        var pd: dnnl_primitive_desc_t? = nil
        dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &f, engine, &t, engine, nil), "reorder_primitive_desc_create")
        var p: dnnl_primitive_t? = nil
        dnnlCheck(dnnl_primitive_create(&p, pd), "reorder primitive_create")
        dnnl_primitive_desc_destroy(pd)
        let a = DNNLArgs()
        a.add(SW_DNNL_ARG_FROM, from, src)
        a.add(SW_DNNL_ARG_TO, to, dst)
        run(p!, a.args)
        dnnl_primitive_destroy(p)
    }
}
