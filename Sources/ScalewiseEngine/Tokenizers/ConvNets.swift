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

/// One resolution level: resnet blocks, each followed by attention at the lowest resolution.
struct ConvLevel {
    var blocks: [ResnetBlock] = []
    var attns: [AttnBlock] = []
    var resample: Conv2d?

    /// Consumes `x`: every map but the result goes back to `scratch`.
    func run(_ x: Tensor, _ scratch: Scratch) -> Tensor {
        var h = x
        for (j, b) in blocks.enumerated() {
            h = replacing(h, with: b(h, scratch), scratch)
            if !attns.isEmpty { h = replacing(h, with: attns[j](h, scratch), scratch) }
        }
        return h
    }

    /// The same on a channels-last map (bf16 convolutions), consuming x.
    func runChannelsLast(_ x: Tensor, _ scratch: Scratch) -> Tensor {
        var h = x
        for (j, b) in blocks.enumerated() {
            h = b.channelsLast(h, scratch)
            if !attns.isEmpty { h = attns[j].channelsLast(h, scratch) }
        }
        return h
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

struct ConvDecoder {
    let convIn: Conv2d
    let mid: (ResnetBlock, AttnBlock?, ResnetBlock)
    let levels: [ConvLevel]  // in execution order: lowest resolution first
    let normOut: GroupNorm
    let convOut: Conv2d
    let scratches = ScratchPool()

    init(_ w: WeightSource, prefix: String, naming: ConvNetNaming, ch: Int, chMult: [Int], numResBlocks: Int,
         zChannels: Int, usingSA: Bool, usingMidSA: Bool, outChannels: Int = 3) throws {
        let n = chMult.count
        var cin = ch * chMult[n - 1]
        convIn = try Conv2d(w, prefix + ".conv_in", cin: zChannels, cout: cin, k: 3)
        let m = naming.mid(prefix)
        mid = (try ResnetBlock(w, m.0, cin: cin, cout: cin),
               usingMidSA ? try AttnBlock(w, m.1, channels: cin, fusedQKV: naming == .var) : nil,
               try ResnetBlock(w, m.2, cin: cin, cout: cin))
        var levels: [ConvLevel] = []
        for (pos, lvl) in (0..<n).reversed().enumerated() {
            let (p, res) = naming.level(prefix, decoder: true, index: naming == .var ? lvl : pos)
            var level = ConvLevel()
            let cout = ch * chMult[lvl]
            for j in 0...numResBlocks {
                level.blocks.append(try ResnetBlock(w, "\(p).\(res).\(j)", cin: cin, cout: cout))
                cin = cout
                if lvl == n - 1 && usingSA {
                    level.attns.append(try AttnBlock(w, "\(p).attn.\(j)", channels: cin, fusedQKV: naming == .var))
                }
            }
            if lvl != 0 { level.resample = try Conv2d(w, "\(p).upsample.conv", cin: cin, cout: cin, k: 3, upsampling: true) }
            levels.append(level)
        }
        self.levels = levels
        normOut = try GroupNorm(w, prefix + ".norm_out", channels: cin)
        convOut = try Conv2d(w, prefix + ".conv_out", cin: cin, cout: outChannels, k: 3)
    }

    func callAsFunction(_ z: Tensor) -> Tensor {
        runNet(lowPrecision: convIn.packed != nil, z, scratches: scratches, fp32: run, channelsLast: runChannelsLast)
    }

    private func runChannelsLast(_ z: Tensor, _ s: Scratch) -> Tensor {
        var h = convIn.channelsLast(rounding: z, s)
        h = mid.0.channelsLast(h, s)
        if let a = mid.1 { h = a.channelsLast(h, s) }
        h = mid.2.channelsLast(h, s)
        for level in levels {
            h = level.runChannelsLast(h, s)
            if let up = level.resample { h = up.upsampledChannelsLast(h, s) }
        }
        let n = normOut.channelsLast(h, silu: true, s)
        s.recycle(h)
        return convOut.channelsLast(n, s)
    }

    private func run(_ z: Tensor, _ s: Scratch) -> Tensor {
        var h = convIn(z, s)
        h = replacing(h, with: mid.0(h, s), s)
        if let a = mid.1 { h = replacing(h, with: a(h, s), s) }
        h = replacing(h, with: mid.2(h, s), s)
        for level in levels {
            h = level.run(h, s)
            if let up = level.resample { h = replacing(h, with: up.upsampled(h, s), s) }
        }
        return convOut(normOut.inPlace(h, silu: true), s)
    }
}

struct ConvEncoder {
    let convIn: Conv2d
    let levels: [ConvLevel]  // full resolution first
    let mid: (ResnetBlock, AttnBlock?, ResnetBlock)
    let normOut: GroupNorm
    let convOut: Conv2d
    let scratches = ScratchPool()

    init(_ w: WeightSource, prefix: String, naming: ConvNetNaming, ch: Int, chMult: [Int], numResBlocks: Int,
         zChannels: Int, usingSA: Bool, usingMidSA: Bool, inChannels: Int = 3) throws {
        let n = chMult.count
        convIn = try Conv2d(w, prefix + ".conv_in", cin: inChannels, cout: ch, k: 3)
        var cin = ch
        var levels: [ConvLevel] = []
        for lvl in 0..<n {
            let (p, res) = naming.level(prefix, decoder: false, index: lvl)
            var level = ConvLevel()
            let cout = ch * chMult[lvl]
            for j in 0..<numResBlocks {
                level.blocks.append(try ResnetBlock(w, "\(p).\(res).\(j)", cin: cin, cout: cout))
                cin = cout
                if lvl == n - 1 && usingSA {
                    level.attns.append(try AttnBlock(w, "\(p).attn.\(j)", channels: cin, fusedQKV: naming == .var))
                }
            }
            // Zero-pad right and bottom by one, then a stride-2 3×3 conv (official Downsample2x).
            if lvl != n - 1 {
                level.resample = try Conv2d(w, "\(p).downsample.conv", cin: cin, cout: cin, k: 3, stride: 2,
                                            pad: (0, 0, 1, 1))
            }
            levels.append(level)
        }
        self.levels = levels
        let m = naming.mid(prefix)
        mid = (try ResnetBlock(w, m.0, cin: cin, cout: cin),
               usingMidSA ? try AttnBlock(w, m.1, channels: cin, fusedQKV: naming == .var) : nil,
               try ResnetBlock(w, m.2, cin: cin, cout: cin))
        normOut = try GroupNorm(w, prefix + ".norm_out", channels: cin)
        convOut = try Conv2d(w, prefix + ".conv_out", cin: cin, cout: zChannels, k: 3)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        runNet(lowPrecision: convIn.packed != nil, x, scratches: scratches, fp32: run, channelsLast: runChannelsLast)
    }

    private func runChannelsLast(_ x: Tensor, _ s: Scratch) -> Tensor {
        var h = convIn.channelsLast(rounding: x, s)
        for level in levels {
            h = level.runChannelsLast(h, s)
            if let down = level.resample { h = down.channelsLast(rounding: h, s) }
        }
        h = mid.0.channelsLast(h, s)
        if let a = mid.1 { h = a.channelsLast(h, s) }
        h = mid.2.channelsLast(h, s)
        let n = normOut.channelsLast(h, silu: true, s)
        s.recycle(h)
        return convOut.channelsLast(n, s)
    }

    private func run(_ x: Tensor, _ s: Scratch) -> Tensor {
        var h = convIn(x, s)
        for level in levels {
            h = level.run(h, s)
            if let down = level.resample { h = replacing(h, with: down(h, s), s) }
        }
        h = replacing(h, with: mid.0(h, s), s)
        if let a = mid.1 { h = replacing(h, with: a(h, s), s) }
        h = replacing(h, with: mid.2(h, s), s)
        return convOut(normOut.inPlace(h, silu: true), s)
    }
}
