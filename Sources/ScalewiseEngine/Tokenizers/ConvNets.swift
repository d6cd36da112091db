import ScalewiseKernels

/// The two key-naming schemes of the same LDM encoder/decoder.
enum ConvNetNaming {
    /// VAR (taming/LDM): `up.{level}.block.{j}`, levels indexed by resolution (0 = full), mid.block_1/attn_1/block_2.
    case `var`
    /// LlamaGen (FlexVAR, AiM): `conv_blocks.{i}.res.{j}` in execution order, mid.0/1/2, separate q/k/v.
    case llamagen

    func mid(_ prefix: String) -> (String, String, String) {
        switch self {
        case .var: return ("\(prefix).mid.block_1", "\(prefix).mid.attn_1", "\(prefix).mid.block_2")
        case .llamagen: return ("\(prefix).mid.0", "\(prefix).mid.1", "\(prefix).mid.2")
        }
    }

    /// Prefix of a level's modules; `index` is the resolution level (VAR) or the execution position (LlamaGen).
    func level(_ prefix: String, decoder: Bool, index: Int) -> (block: String, res: String) {
        switch self {
        case .var: return ("\(prefix).\(decoder ? "up" : "down").\(index)", "block")
        case .llamagen: return ("\(prefix).conv_blocks.\(index)", "res")
        }
    }
}

/// One resolution level: resnet blocks, each followed by attention at the lowest resolution, then the change
/// of resolution into the next level.
struct ConvLevel {
    enum Resample {
        /// Nearest ×2, then a 3×3 conv (official `Upsample2x`).
        case up(Conv2d)
        /// Zero-pad right and bottom by one, then a stride-2 3×3 conv (official `Downsample2x`).
        case down(Conv2d)
    }

    var blocks: [ResnetBlock] = []
    var attns: [AttnBlock] = []
    var resample: Resample?

    /// `count` resnet blocks `{p}.{res}.{j}` from `cin` (updated) to `cout` channels, each followed by
    /// `{p}.attn.{j}` when `attention`.
    init(_ w: WeightSource, _ p: String, res: String, count: Int, cin: inout Int, cout: Int, attention: Bool,
         naming: ConvNetNaming) throws {
        for j in 0..<count {
            blocks.append(try ResnetBlock(w, "\(p).\(res).\(j)", cin: cin, cout: cout))
            cin = cout
            if attention { attns.append(try AttnBlock(w, "\(p).attn.\(j)", channels: cin, fusedQKV: naming == .var)) }
        }
    }

    /// Consumes `x`: every map but the result goes back to `scratch`.
    func run(_ x: Tensor, _ scratch: Scratch) -> Tensor {
        var h = x
        for (j, b) in blocks.enumerated() {
            h = replacing(h, with: b(h, scratch), scratch)
            if !attns.isEmpty { h = replacing(h, with: attns[j](h, scratch), scratch) }
        }
        switch resample {
        case .up(let conv): return replacing(h, with: conv.upsampled(h, scratch), scratch)
        case .down(let conv): return replacing(h, with: conv(h, scratch), scratch)
        case nil: return h
        }
    }

    /// The same on a channels-last map (bf16 convolutions), consuming x.
    func runChannelsLast(_ x: Tensor, _ scratch: Scratch) -> Tensor {
        var h = x
        for (j, b) in blocks.enumerated() {
            h = b.channelsLast(h, scratch)
            if !attns.isEmpty { h = attns[j].channelsLast(h, scratch) }
        }
        switch resample {
        case .up(let conv): return conv.upsampledChannelsLast(h, scratch)
        case .down(let conv): return conv.channelsLast(rounding: h, scratch)
        case nil: return h
        }
    }
}

/// The middle of both nets at the lowest resolution: resnet, attention (optional), resnet.
struct MidBlock {
    let first: ResnetBlock, attn: AttnBlock?, second: ResnetBlock

    init(_ w: WeightSource, prefix: String, naming: ConvNetNaming, channels c: Int, attention: Bool) throws {
        let m = naming.mid(prefix)
        first = try ResnetBlock(w, m.0, cin: c, cout: c)
        attn = attention ? try AttnBlock(w, m.1, channels: c, fusedQKV: naming == .var) : nil
        second = try ResnetBlock(w, m.2, cin: c, cout: c)
    }

    /// Consumes `x`, like `ConvLevel.run`.
    func run(_ x: Tensor, _ s: Scratch) -> Tensor {
        var h = replacing(x, with: first(x, s), s)
        if let a = attn { h = replacing(h, with: a(h, s), s) }
        return replacing(h, with: second(h, s), s)
    }

    func runChannelsLast(_ x: Tensor, _ s: Scratch) -> Tensor {
        var h = first.channelsLast(x, s)
        if let a = attn { h = a.channelsLast(h, s) }
        return second.channelsLast(h, s)
    }
}

/// The LDM encoder and decoder (VAR's `models/basic_vae.py: Encoder, Decoder`; LlamaGen's `vq_model.py`):
/// conv_in, the levels, the middle, GroupNorm + SiLU, conv_out. The encoder runs its levels from full
/// resolution down and then the middle; the decoder runs the middle first and then its levels up.
struct ConvNet {
    let convIn: Conv2d
    let levels: [ConvLevel]  // in execution order
    let mid: MidBlock
    let midFirst: Bool
    let normOut: GroupNorm
    let convOut: Conv2d
    let scratches = ScratchPool()

    /// The decoder: z [zChannels, h, w] → image [outChannels, h·2^(n−1), w·2^(n−1)].
    static func decoder(_ w: WeightSource, prefix: String, naming: ConvNetNaming, ch: Int, chMult: [Int],
                        numResBlocks: Int, zChannels: Int, usingSA: Bool, usingMidSA: Bool,
                        outChannels: Int = 3) throws -> ConvNet {
        let n = chMult.count
        var cin = ch * chMult[n - 1]
        let convIn = try Conv2d(w, prefix + ".conv_in", cin: zChannels, cout: cin, k: 3)
        let mid = try MidBlock(w, prefix: prefix, naming: naming, channels: cin, attention: usingMidSA)
        var levels: [ConvLevel] = []
        for (pos, lvl) in (0..<n).reversed().enumerated() {
            let (p, res) = naming.level(prefix, decoder: true, index: naming == .var ? lvl : pos)
            var level = try ConvLevel(w, p, res: res, count: numResBlocks + 1, cin: &cin, cout: ch * chMult[lvl],
                                      attention: lvl == n - 1 && usingSA, naming: naming)
            if lvl != 0 {
                level.resample = .up(try Conv2d(w, "\(p).upsample.conv", cin: cin, cout: cin, k: 3, upsampling: true))
            }
            levels.append(level)
        }
        return ConvNet(convIn: convIn, levels: levels, mid: mid, midFirst: true,
                       normOut: try GroupNorm(w, prefix + ".norm_out", channels: cin),
                       convOut: try Conv2d(w, prefix + ".conv_out", cin: cin, cout: outChannels, k: 3))
    }

    /// The encoder: image [inChannels, H, W] → f [zChannels, H/2^(n−1), W/2^(n−1)].
    static func encoder(_ w: WeightSource, prefix: String, naming: ConvNetNaming, ch: Int, chMult: [Int],
                        numResBlocks: Int, zChannels: Int, usingSA: Bool, usingMidSA: Bool,
                        inChannels: Int = 3) throws -> ConvNet {
        let n = chMult.count
        let convIn = try Conv2d(w, prefix + ".conv_in", cin: inChannels, cout: ch, k: 3)
        var cin = ch
        var levels: [ConvLevel] = []
        for lvl in 0..<n {
            let (p, res) = naming.level(prefix, decoder: false, index: lvl)
            var level = try ConvLevel(w, p, res: res, count: numResBlocks, cin: &cin, cout: ch * chMult[lvl],
                                      attention: lvl == n - 1 && usingSA, naming: naming)
            if lvl != n - 1 {
                level.resample = .down(try Conv2d(w, "\(p).downsample.conv", cin: cin, cout: cin, k: 3, stride: 2,
                                                  pad: (0, 0, 1, 1)))
            }
            levels.append(level)
        }
        return ConvNet(convIn: convIn, levels: levels,
                       mid: try MidBlock(w, prefix: prefix, naming: naming, channels: cin, attention: usingMidSA),
                       midFirst: false, normOut: try GroupNorm(w, prefix + ".norm_out", channels: cin),
                       convOut: try Conv2d(w, prefix + ".conv_out", cin: cin, cout: zChannels, k: 3))
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        runNet(lowPrecision: convIn.packed != nil, x, scratches: scratches, fp32: run, channelsLast: runChannelsLast)
    }

    private func runChannelsLast(_ x: Tensor, _ s: Scratch) -> Tensor {
        var h = convIn.channelsLast(rounding: x, s)
        if midFirst { h = mid.runChannelsLast(h, s) }
        for level in levels { h = level.runChannelsLast(h, s) }
        if !midFirst { h = mid.runChannelsLast(h, s) }
        let n = normOut.channelsLast(h, silu: true, s)
        s.recycle(h)
        return convOut.channelsLast(n, s)
    }

    private func run(_ x: Tensor, _ s: Scratch) -> Tensor {
        var h = convIn(x, s)
        if midFirst { h = mid.run(h, s) }
        for level in levels { h = level.run(h, s) }
        if !midFirst { h = mid.run(h, s) }
        return convOut(normOut.inPlace(h, silu: true), s)
    }
}

/// Runs a convolutional net: `fp32` on NCHW maps (the reference), `channelsLast` when its convolutions are bf16,
/// converting the input `[C, H, W]` to `[H, W, C]` and the output back. Each pass recycles its maps through one
/// scratch, so pages are touched only while the pass grows; bf16 passes run on oneDNN's OpenMP threads, and so
/// do the loops between their convolutions.
private func runNet(lowPrecision: Bool, _ x: Tensor, scratches: ScratchPool, fp32: (Tensor, Scratch) -> Tensor,
                    channelsLast: (Tensor, Scratch) -> Tensor) -> Tensor {
    guard lowPrecision else { return Threads.$pool.withValue(.dispatch) { scratches.with { fp32(x, $0) } } }
    return Threads.$pool.withValue(.openmp) { scratches.with { s in
        let t = s.map([x.shape[1], x.shape[2], x.shape[0]])
        transpose(x.ptr, rows: x.shape[0], cols: x.shape[1] * x.shape[2], into: t.ptr)
        let y = channelsLast(t, s)
        let out = Tensor(shape: [y.shape[2], y.shape[0], y.shape[1]])
        transpose(y.ptr, rows: y.shape[0] * y.shape[1], cols: y.shape[2], into: out.ptr)
        s.recycle(y)
        return out
    } }
}

/// Recycles `old` (a map of the pass that nothing reads any more) and returns `new`.
@inline(__always) func replacing(_ old: Tensor, with new: Tensor, _ scratch: Scratch) -> Tensor {
    scratch.recycle(old)
    return new
}
