// Convolutions in bf16 on oneDNN, for the tokenizer's decoder when a model runs in bf16 or int8: weights rounded
// to bfloat16 once, the input map rounded at each call (a oneDNN reorder into the layout the convolution reads),
// float32 accumulation, bias and output. Maps outside the convolutions stay float32 NCHW, so GroupNorm, SiLU,
// the residual adds and the attention block are the fp32 code.
import CDNNL
import Synchronization

/// A `Conv2d` weight `[O, C, kh, kw]` in bf16, with the convolutions planned for each input size it meets.
///
/// `@unchecked Sendable`: the weights are written once in `init`; plans are created under the lock and are
/// immutable afterwards.
public final class PackedConv: @unchecked Sendable {
    public let outChannels: Int, inChannels: Int, kh: Int, kw: Int
    private let plain: UnsafeMutablePointer<UInt16>  // bf16 OIHW
    private let plans = Mutex<[Key: ConvPlan]>([:])

    struct Key: Hashable { let h: Int, w: Int, stride: Int, pad: [Int], bias: Bool }

    public init(_ weight: Tensor) {
        precondition(weight.shape.count == 4, "conv weight must be [O, C, kh, kw], got \(weight.shape)")
        (outChannels, inChannels, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        plain = .allocate(capacity: max(1, weight.count))
        roundToBF16(weight.ptr, rows: 1, cols: weight.count, ld: weight.count, into: plain)
    }

    deinit { plain.deallocate() }

    public var bytes: Int { outChannels * inChannels * kh * kw * 2 }

    /// out `[O, Ho, Wo]` = conv(input `[C, H, W]`) + bias, as `conv2d` (groups 1, dilation 1).
    public func apply(_ input: Tensor, bias: Tensor?, stride: Int, padding: Padding, out: Tensor) {
        let (h, w) = (input.shape[1], input.shape[2])
        let key = Key(h: h, w: w, stride: stride, pad: [padding.top, padding.left, padding.bottom, padding.right],
                      bias: bias != nil)
        let plan = plans.withLock { cache in
            if let p = cache[key] { return p }
            let p = ConvPlan(self, h: h, w: w, stride: stride, padding: padding, bias: bias != nil, plain: plain)
            cache[key] = p
            return p
        }
        precondition(out.shape == [outChannels, plan.ho, plan.wo], "conv: out \(out.shape), expected \([outChannels, plan.ho, plan.wo])")
        plan.run(input.ptr, bias: bias?.ptr, out: out.ptr)
    }
}

/// One convolution shape: the primitive, the reorder of the f32 input into its bf16 layout, and the weights
/// already in the layout it wants.
final class ConvPlan: @unchecked Sendable {
    let ho: Int, wo: Int
    private let conv: OpaquePointer, toSource: OpaquePointer, fromOutput: OpaquePointer
    private let plainSrc: dnnl_memory_desc_t, src: dnnl_memory_desc_t, weights: dnnl_memory_desc_t
    private let dst: dnnl_memory_desc_t, plainDst: dnnl_memory_desc_t, bias: dnnl_memory_desc_t
    private let srcBytes: Int, dstBytes: Int
    private let packedWeights: UnsafeMutableRawPointer

    init(_ c: PackedConv, h: Int, w: Int, stride: Int, padding: Padding, bias hasBias: Bool,
         plain: UnsafeMutablePointer<UInt16>) {
        ho = (h + padding.top + padding.bottom - c.kh) / stride + 1
        wo = (w + padding.left + padding.right - c.kw) / stride + 1
        var srcAny = memoryDesc([1, c.inChannels, h, w], dnnl_bf16, dnnl_format_tag_any)
        var weiAny = memoryDesc([c.outChannels, c.inChannels, c.kh, c.kw], dnnl_bf16, dnnl_format_tag_any)
        var b = memoryDesc([c.outChannels], dnnl_f32, dnnl_a)
        // The output in the layout the convolution writes fastest (blocked by 16 channels); with plain NCHW
        // oneDNN 2.6 falls back to im2col + gemm, 2.6× slower on the decoder's 256² layers.
        var d = memoryDesc([1, c.outChannels, ho, wo], dnnl_f32, dnnl_format_tag_any)
        var desc = dnnl_convolution_desc_t()
        let strides: [Int64] = [Int64(stride), Int64(stride)]
        let padL: [Int64] = [Int64(padding.top), Int64(padding.left)]
        let padR: [Int64] = [Int64(padding.bottom), Int64(padding.right)]
        if hasBias {
            dnnlCheck(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &srcAny,
                                                         &weiAny, &b, &d, strides, padL, padR), "convolution_forward_desc_init")
        } else {
            dnnlCheck(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &srcAny,
                                                         &weiAny, nil, &d, strides, padL, padR), "convolution_forward_desc_init")
        }
        var pd: dnnl_primitive_desc_t? = nil
        dnnlCheck(dnnl_primitive_desc_create(&pd, &desc, nil, DNNL.engine, nil), "convolution primitive_desc_create")
        src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)!.pointee
        weights = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!.pointee
        dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0)!.pointee
        plainDst = memoryDesc([1, c.outChannels, ho, wo], dnnl_f32, dnnl_nchw)
        var queried = dst
        dstBytes = dnnl_memory_desc_get_size(&queried)
        bias = b
        var p: dnnl_primitive_t? = nil
        dnnlCheck(dnnl_primitive_create(&p, pd), "convolution primitive_create")
        dnnl_primitive_desc_destroy(pd)
        conv = p!
        // f32 NCHW → the convolution's bf16 source layout.
        plainSrc = memoryDesc([1, c.inChannels, h, w], dnnl_f32, dnnl_nchw)
        toSource = DNNL.reorderPrimitive(from: plainSrc, to: src)
        fromOutput = DNNL.reorderPrimitive(from: dst, to: plainDst)
        var to = src
        srcBytes = dnnl_memory_desc_get_size(&to)
        // bf16 OIHW → the convolution's weight layout, once per plan.
        var wmd = weights
        packedWeights = .allocate(byteCount: max(64, dnnl_memory_desc_get_size(&wmd)), alignment: 64)
        DNNL.reorder(plain, memoryDesc([c.outChannels, c.inChannels, c.kh, c.kw], dnnl_bf16, dnnl_oihw), into: packedWeights, weights)
    }

    deinit {
        dnnl_primitive_destroy(conv)
        dnnl_primitive_destroy(toSource)
        dnnl_primitive_destroy(fromOutput)
        packedWeights.deallocate()
    }

    func run(_ input: UnsafePointer<Float>, bias b: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        Workspace.with(bytes: srcBytes + 64 + dstBytes) { buffer in
            let blocked = (buffer + srcBytes).alignedUp(toMultipleOf: 64)
            let x = DNNLArgs()
            x.add(SW_DNNL_ARG_FROM, plainSrc, input)
            x.add(SW_DNNL_ARG_TO, src, buffer)
            DNNL.run(toSource, x.args)
            let c = DNNLArgs()
            c.add(SW_DNNL_ARG_SRC, src, buffer)
            c.add(SW_DNNL_ARG_WEIGHTS, weights, packedWeights)
            if let b { c.add(SW_DNNL_ARG_BIAS, bias, b) }
            c.add(SW_DNNL_ARG_DST, dst, blocked)
            DNNL.run(conv, c.args)
            let y = DNNLArgs()
            y.add(SW_DNNL_ARG_FROM, dst, blocked)
            y.add(SW_DNNL_ARG_TO, plainDst, out)
            DNNL.run(fromOutput, y.args)
        }
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
        let p = reorderPrimitive(from: from, to: to)
        let a = DNNLArgs()
        a.add(SW_DNNL_ARG_FROM, from, src)
        a.add(SW_DNNL_ARG_TO, to, dst)
        run(p, a.args)
        dnnl_primitive_destroy(p)
    }

    /// A reorder primitive between two layouts (the caller destroys it).
    static func reorderPrimitive(from: dnnl_memory_desc_t, to: dnnl_memory_desc_t) -> OpaquePointer {
        var f = from, t = to
        var pd: dnnl_primitive_desc_t? = nil
        dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &f, engine, &t, engine, nil), "reorder_primitive_desc_create")
        var p: dnnl_primitive_t? = nil
        dnnlCheck(dnnl_primitive_create(&p, pd), "reorder primitive_create")
        dnnl_primitive_desc_destroy(pd)
        return p!
    }
}
