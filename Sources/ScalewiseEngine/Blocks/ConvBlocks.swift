import ScalewiseKernels

// The LDM convolutional building blocks shared by VAR's VQ-VAE and FlexVAR's (LlamaGen) tokenizer.
// Batch 1, NCHW without the N: a feature map is a Tensor [C, H, W].

/// Loads `prefix.weight` / `prefix.bias` with the expected shapes.
func param(_ w: WeightSource, _ key: String, _ shape: [Int]) throws -> Tensor {
    Tensor(shape: shape, data: try w.floats(key, shape: shape))
}

/// PyTorch `Conv2d`, in fp32 (OpenBLAS/Winograd, the reference) or, when the weights are loaded for a lower
/// precision (`WeightSource.linearPrecision` bf16 or int8), in bf16 on oneDNN (`PackedConv`).
struct Conv2d {
    /// [O, C, k, k], fp32 path only.
    let weight: Tensor?
    /// The bf16 weights, low-precision path only.
    let packed: PackedConv?
    /// An upsampling conv's low-precision weights, collapsed to `[4·O, C, 2, 2]` (`collapsedUpsampleWeights`).
    let collapsed: PackedConv?
    /// The bias repeated for the four parities.
    let collapsedBias: Tensor?
    let bias: Tensor  // [O]
    let cout: Int, cin: Int
    let k: Int, stride: Int, pad: (top: Int, left: Int, bottom: Int, right: Int)

    /// `upsampling`: the conv follows a nearest-×2 upsample (3×3, stride 1), and only `upsampled…` is called.
    init(_ w: WeightSource, _ prefix: String, cin: Int, cout: Int, k: Int, stride: Int = 1,
         pad: (Int, Int, Int, Int)? = nil, upsampling: Bool = false) throws {
        try self.init(weight: param(w, prefix + ".weight", [cout, cin, k, k]), bias: param(w, prefix + ".bias", [cout]),
                      lowPrecision: w.linearPrecision != .fp32, stride: stride, pad: pad, upsampling: upsampling)
    }

    init(weight wt: Tensor, bias: Tensor, lowPrecision: Bool, stride: Int = 1, pad: (Int, Int, Int, Int)? = nil,
         upsampling: Bool = false) {
        if lowPrecision && upsampling {
            precondition(wt.shape[2] == 3 && wt.shape[3] == 3 && stride == 1, "an upsampling conv is 3×3, stride 1")
            (weight, packed) = (nil, nil)
            collapsed = PackedConv(collapsedUpsampleWeights(wt))
            let b4 = Tensor(shape: [4 * bias.count])
            for p in 0..<4 { (b4.ptr + p * bias.count).update(from: bias.ptr, count: bias.count) }
            collapsedBias = b4
        } else {
            (weight, packed) = lowPrecision ? (nil, PackedConv(wt)) : (wt, nil)
            (collapsed, collapsedBias) = (nil, nil)
        }
        self.bias = bias
        (cout, cin, k) = (wt.shape[0], wt.shape[1], wt.shape[2])
        self.stride = stride
        let p = k / 2
        self.pad = pad ?? (p, p, p, p)
    }

    private var padding: Padding { Padding(top: pad.top, left: pad.left, bottom: pad.bottom, right: pad.right) }

    /// `scratch` holds the kernels' temporaries; a whole network shares one, so they are allocated once at
    /// their largest size instead of once per layer (which fragmented the heap: +0.6 GB peak RSS at 256 px).
    func callAsFunction(_ x: Tensor, _ scratch: Scratch = Scratch()) -> Tensor {
        let (h, wd) = (x.shape[1], x.shape[2])
        let ho = (h + pad.top + pad.bottom - k) / stride + 1
        let wo = (wd + pad.left + pad.right - k) / stride + 1
        let out = scratch.map([cout, ho, wo])  // conv2d writes every element
        if packed != nil {
            // A map entering or leaving the channels-last nets (the tokenizer's outer 1×1 and 3×3 convs).
            let src = HalfMap(chw: x, scratch)
            let y = channelsLast(src, scratch)
            scratch.recycle(src.storage)
            transpose(y.ptr, rows: ho * wo, cols: cout, into: out.ptr)
            scratch.recycle(y)
        } else {
            conv2d(x, weight: weight!, bias: bias, stride: stride, padding: padding, out: out, scratch: scratch)
        }
        return out
    }

    /// Nearest-neighbour ×2 followed by this 3×3 conv; the fp32 path does it without materialising the 4× map.
    func upsampled(_ x: Tensor, _ scratch: Scratch = Scratch()) -> Tensor {
        let out = scratch.map([cout, x.shape[1] * 2, x.shape[2] * 2])
        upsampleNearest2xConv3x3(x, weight: weight!, bias: bias, out: out, scratch: scratch)
        return out
    }

    // MARK: channels-last, bf16 (low-precision path)

    /// out `[Ho, Wo, O]` = conv(x) + bias, or, given `sum`, sum + conv(x) + bias written into sum's storage.
    func channelsLast(_ x: HalfMap, _ scratch: Scratch, accumulatingInto sum: Tensor? = nil) -> Tensor {
        let (ho, wo) = packed!.outputSize(height: x.h, width: x.w, stride: stride, padding: padding)
        precondition(x.c == cin && (sum == nil || sum!.shape == [ho, wo, cout]), "conv: input \(x.c) channels")
        let out = sum ?? scratch.map([ho, wo, cout])
        packed!.apply(channelsLast: x.ptr, height: x.h, width: x.w, bias: bias.ptr, stride: stride,
                      padding: padding, accumulate: sum != nil, out: out.ptr)
        return out
    }

    /// Nearest-neighbour ×2 then this conv, consuming x `[H, W, C]`: one 2×2 convolution of the low-resolution
    /// map on the collapsed weights (4/9 of the direct work, and the 4× map is never made), its four parities
    /// then interleaved into `[2H, 2W, O]`.
    func upsampledChannelsLast(_ x: Tensor, _ scratch: Scratch) -> Tensor {
        let (h, w) = (x.shape[0], x.shape[1])
        let src = HalfMap(rounding: x, scratch)
        scratch.recycle(x)
        let r = scratch.map([h + 1, w + 1, 4 * cout])
        collapsed!.apply(channelsLast: src.ptr, height: h, width: w, bias: collapsedBias!.ptr, padding: .uniform(1),
                         out: r.ptr)
        scratch.recycle(src.storage)
        let y = scratch.map([2 * h, 2 * w, cout])
        interleaveParities(r.ptr, height: h, width: w, channels: cout, out: y.ptr)
        scratch.recycle(r)
        return y
    }

    /// This conv on x `[H, W, C]` (f32, consumed): the input rounded to bf16 first (shortcuts, downsampling,
    /// attention's output projection).
    func channelsLast(rounding x: Tensor, _ scratch: Scratch, accumulatingInto sum: Tensor? = nil) -> Tensor {
        let src = HalfMap(rounding: x, scratch)
        scratch.recycle(x)
        let y = channelsLast(src, scratch, accumulatingInto: sum)
        scratch.recycle(src.storage)
        return y
    }
}

/// A channels-last bf16 map `[H, W, C]`, the source of a bf16 convolution, in a scratch buffer of Floats.
struct HalfMap {
    let h: Int, w: Int, c: Int
    let storage: Tensor
    var ptr: UnsafeMutablePointer<UInt16> { UnsafeMutableRawPointer(storage.ptr).assumingMemoryBound(to: UInt16.self) }

    init(h: Int, w: Int, c: Int, _ scratch: Scratch) {
        (self.h, self.w, self.c) = (h, w, c)
        storage = scratch.map([(h * w * c + 1) / 2])
    }

    /// x `[H, W, C]` rounded.
    init(rounding x: Tensor, _ scratch: Scratch) {
        self.init(h: x.shape[0], w: x.shape[1], c: x.shape[2], scratch)
        roundToBF16(x.ptr, count: x.count, into: ptr)
    }

    /// x `[C, H, W]` (NCHW) transposed and rounded.
    init(chw x: Tensor, _ scratch: Scratch) {
        let t = scratch.map([x.shape[1], x.shape[2], x.shape[0]])
        transpose(x.ptr, rows: x.shape[0], cols: x.shape[1] * x.shape[2], into: t.ptr)
        self.init(rounding: t, scratch)
        scratch.recycle(t)
    }
}

/// GroupNorm(32 groups, eps 1e-6) with affine, optionally followed by SiLU (always the case in these nets).
struct GroupNorm {
    let gamma: Tensor, beta: Tensor
    let groups = 32, eps: Float = 1e-6

    init(_ w: WeightSource, _ prefix: String, channels: Int) throws {
        gamma = try param(w, prefix + ".weight", [channels])
        beta = try param(w, prefix + ".bias", [channels])
    }

    func callAsFunction(_ x: Tensor, silu: Bool, _ scratch: Scratch = Scratch()) -> Tensor {
        let y = scratch.map(x.shape)
        groupNorm(x, groups: groups, eps: eps, gamma: gamma, beta: beta, fusedSiLU: silu, out: y)
        return y
    }

    /// x `[H, W, C]` normalised (and SiLU'd) into the bf16 source of the next convolution.
    func channelsLast(_ x: Tensor, silu: Bool, _ scratch: Scratch) -> HalfMap {
        let y = HalfMap(h: x.shape[0], w: x.shape[1], c: x.shape[2], scratch)
        groupNormChannelsLast(x.ptr, pixels: x.shape[0] * x.shape[1], channels: x.shape[2], groups: groups, eps: eps,
                              gamma: gamma.ptr, beta: beta.ptr, silu: silu, out: y.ptr)
        return y
    }

    /// In place, for maps nothing else reads afterwards (one full-resolution map less at the peak).
    func inPlace(_ x: Tensor, silu: Bool) -> Tensor {
        groupNorm(x, groups: groups, eps: eps, gamma: gamma, beta: beta, fusedSiLU: silu)
        return x
    }
}

/// h = conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))); out = shortcut(x) + h, shortcut a 1×1 conv when C changes.
struct ResnetBlock {
    let norm1: GroupNorm, conv1: Conv2d, norm2: GroupNorm, conv2: Conv2d
    let shortcut: Conv2d?

    init(_ w: WeightSource, _ prefix: String, cin: Int, cout: Int) throws {
        norm1 = try GroupNorm(w, prefix + ".norm1", channels: cin)
        conv1 = try Conv2d(w, prefix + ".conv1", cin: cin, cout: cout, k: 3)
        norm2 = try GroupNorm(w, prefix + ".norm2", channels: cout)
        conv2 = try Conv2d(w, prefix + ".conv2", cin: cout, cout: cout, k: 3)
        shortcut = cin == cout ? nil : try Conv2d(w, prefix + ".nin_shortcut", cin: cin, cout: cout, k: 1)
    }

    /// Leaves `x` to the caller; the intermediate maps go back to `scratch`.
    func callAsFunction(_ x: Tensor, _ scratch: Scratch = Scratch()) -> Tensor {
        let n1 = norm1(x, silu: true, scratch)
        let h1 = conv1(n1, scratch)
        scratch.recycle(n1)
        let h = conv2(norm2.inPlace(h1, silu: true), scratch)
        scratch.recycle(h1)
        if let shortcut {
            let s = shortcut(x, scratch)
            add(s, into: h)
            scratch.recycle(s)
        } else {
            add(x, into: h)
        }
        return h
    }

    /// The same block on a channels-last map, consuming x: the residual is added by conv2 as it writes.
    func channelsLast(_ x: Tensor, _ scratch: Scratch) -> Tensor {
        let n1 = norm1.channelsLast(x, silu: true, scratch)
        let h1 = conv1.channelsLast(n1, scratch)
        scratch.recycle(n1.storage)
        let n2 = norm2.channelsLast(h1, silu: true, scratch)
        scratch.recycle(h1)
        let residual = shortcut.map { $0.channelsLast(rounding: x, scratch) } ?? x
        let y = conv2.channelsLast(n2, scratch, accumulatingInto: residual)
        scratch.recycle(n2.storage)
        return y
    }
}

/// Single-head self-attention over all H·W positions, softmax scale C^−½.
/// VAR names a fused `qkv` 1×1 conv; LlamaGen names separate `q`, `k`, `v` convs.
struct AttnBlock {
    let norm: GroupNorm
    let qkv: Conv2d  // 1×1, C → 3C
    let proj: Conv2d
    let C: Int

    init(_ w: WeightSource, _ prefix: String, channels c: Int, fusedQKV: Bool) throws {
        C = c
        norm = try GroupNorm(w, prefix + ".norm", channels: c)
        let weight: Tensor, bias: Tensor
        if fusedQKV {
            weight = try param(w, prefix + ".qkv.weight", [3 * c, c, 1, 1])
            bias = try param(w, prefix + ".qkv.bias", [3 * c])
        } else {
            var wts: [Float] = [], bs: [Float] = []
            for n in ["q", "k", "v"] {
                wts += try w.floats("\(prefix).\(n).weight", shape: [c, c, 1, 1])
                bs += try w.floats("\(prefix).\(n).bias", shape: [c])
            }
            weight = Tensor(shape: [3 * c, c, 1, 1], data: wts)
            bias = Tensor(shape: [3 * c], data: bs)
        }
        qkv = Conv2d(weight: weight, bias: bias, lowPrecision: w.linearPrecision != .fp32)
        proj = try Conv2d(w, prefix + ".proj_out", cin: c, cout: c, k: 1)
    }

    func callAsFunction(_ x: Tensor, _ scratch: Scratch = Scratch()) -> Tensor {
        let (h, wd) = (x.shape[1], x.shape[2])
        let n = h * wd
        let hn = norm(x, silu: false, scratch)
        let qkvMap = qkv(hn, scratch)
        scratch.recycle(hn)
        // Channel-major [3C, N] → token-major [N, 3C] so the shared attention kernel applies.
        let tokens = Tensor(shape: [n, 3 * C])
        transpose(qkvMap.ptr, rows: 3 * C, cols: n, into: tokens.ptr)
        let o = Tensor(shape: [n, C])
        attend(tokens, n, into: o, scratch)
        let oMap = scratch.map([C, h, wd])
        transpose(o.ptr, rows: n, cols: C, into: oMap.ptr)
        scratch.recycle(qkvMap)
        let y = proj(oMap, scratch)
        scratch.recycle(oMap)
        add(x, into: y)
        return y
    }

    /// Softmax attention of token-major qkv `[N, 3C]` into o `[N, C]`.
    private func attend(_ qkv: Tensor, _ n: Int, into o: Tensor, _ scratch: Scratch) {
        attention(q: qkv.ptr, ldq: 3 * C, queries: n, k: qkv.ptr + C, ldk: 3 * C, v: qkv.ptr + 2 * C,
                  ldv: 3 * C, keys: n, heads: 1, headDim: C, scale: 1 / Float(C).squareRoot(), out: o.ptr, ldo: C,
                  scratch: scratch)
    }

    /// The same block on a channels-last map (already token-major), consuming x.
    func channelsLast(_ x: Tensor, _ scratch: Scratch) -> Tensor {
        let (h, wd) = (x.shape[0], x.shape[1])
        let hn = norm.channelsLast(x, silu: false, scratch)
        let tokens = qkv.channelsLast(hn, scratch)
        scratch.recycle(hn.storage)
        let o = scratch.map([h, wd, C])
        attend(tokens, h * wd, into: o, scratch)
        scratch.recycle(tokens)
        return proj.channelsLast(rounding: o, scratch, accumulatingInto: x)
    }
}
