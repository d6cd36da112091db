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
    let bias: Tensor  // [O]
    let cout: Int, cin: Int
    let k: Int, stride: Int, pad: (top: Int, left: Int, bottom: Int, right: Int)

    init(_ w: WeightSource, _ prefix: String, cin: Int, cout: Int, k: Int, stride: Int = 1,
         pad: (Int, Int, Int, Int)? = nil) throws {
        let wt = try param(w, prefix + ".weight", [cout, cin, k, k])
        (weight, packed) = w.linearPrecision == .fp32 ? (wt, nil) : (nil, PackedConv(wt))
        bias = try param(w, prefix + ".bias", [cout])
        (self.cout, self.cin) = (cout, cin)
        self.k = k
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
        if let packed {
            packed.apply(x, bias: bias, stride: stride, padding: padding, out: out)
        } else {
            conv2d(x, weight: weight!, bias: bias, stride: stride, padding: padding, out: out, scratch: scratch)
        }
        return out
    }

    /// Nearest-neighbour ×2 followed by this 3×3 conv; the fp32 path does it without materialising the 4× map.
    func upsampled(_ x: Tensor, _ scratch: Scratch = Scratch()) -> Tensor {
        let out = scratch.map([cout, x.shape[1] * 2, x.shape[2] * 2])
        if let packed {
            let up = scratch.map([x.shape[0], x.shape[1] * 2, x.shape[2] * 2])
            upsampleNearest2x(x, into: up)
            packed.apply(up, bias: bias, stride: 1, padding: .uniform(1), out: out)
            scratch.recycle(up)
        } else {
            upsampleNearest2xConv3x3(x, weight: weight!, bias: bias, out: out, scratch: scratch)
        }
        return out
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
}

/// Single-head self-attention over all H·W positions, softmax scale C^−½.
/// VAR names a fused `qkv` 1×1 conv; LlamaGen names separate `q`, `k`, `v` convs.
struct AttnBlock {
    let norm: GroupNorm
    let qkv: Tensor, qkvBias: Tensor  // [3C, C], [3C]
    let proj: Conv2d
    let C: Int

    init(_ w: WeightSource, _ prefix: String, channels c: Int, fusedQKV: Bool) throws {
        C = c
        norm = try GroupNorm(w, prefix + ".norm", channels: c)
        if fusedQKV {
            qkv = try param(w, prefix + ".qkv.weight", [3 * c, c, 1, 1])
            qkvBias = try param(w, prefix + ".qkv.bias", [3 * c])
        } else {
            var wts: [Float] = [], bs: [Float] = []
            for n in ["q", "k", "v"] {
                wts += try w.floats("\(prefix).\(n).weight", shape: [c, c, 1, 1])
                bs += try w.floats("\(prefix).\(n).bias", shape: [c])
            }
            qkv = Tensor(shape: [3 * c, c, 1, 1], data: wts)
            qkvBias = Tensor(shape: [3 * c], data: bs)
        }
        proj = try Conv2d(w, prefix + ".proj_out", cin: c, cout: c, k: 1)
    }

    func callAsFunction(_ x: Tensor, _ scratch: Scratch = Scratch()) -> Tensor {
        let (h, wd) = (x.shape[1], x.shape[2])
        let n = h * wd
        let hn = norm(x, silu: false, scratch)
        let qkvMap = scratch.map([3 * C, h, wd])
        conv2d(hn, weight: qkv, bias: qkvBias, padding: .zero, out: qkvMap, scratch: scratch)
        scratch.recycle(hn)
        // Channel-major [3C, N] → token-major [N, 3C] so the shared attention kernel applies.
        let tokens = Tensor(shape: [n, 3 * C])
        transpose(qkvMap.ptr, rows: 3 * C, cols: n, into: tokens.ptr)
        let o = Tensor(shape: [n, C])
        attention(q: tokens.ptr, ldq: 3 * C, queries: n, k: tokens.ptr + C, ldk: 3 * C, v: tokens.ptr + 2 * C,
                  ldv: 3 * C, keys: n, heads: 1, headDim: C, scale: 1 / Float(C).squareRoot(), out: o.ptr, ldo: C,
                  scratch: scratch)
        let oMap = scratch.map([C, h, wd])
        transpose(o.ptr, rows: n, cols: C, into: oMap.ptr)
        scratch.recycle(qkvMap)
        let y = proj(oMap, scratch)
        scratch.recycle(oMap)
        add(x, into: y)
        return y
    }
}
