import ScalewiseKernels

// Analytic FLOP counts (a multiply-add = 2 FLOPs) for the bench's GFLOP/s figures.

extension Conv2d {
    func flops(outH: Int, outW: Int) -> Double {
        2 * Double(weight.count) * Double(outH * outW)
    }
}

extension ConvDecoder {
    /// FLOPs of one decode of a latent h×w (post_quant_conv excluded).
    func flops(h: Int, w: Int) -> Double {
        var (H, W) = (h, w)
        var total = convIn.flops(outH: H, outW: W)
        func res(_ b: ResnetBlock) -> Double {
            b.conv1.flops(outH: H, outW: W) + b.conv2.flops(outH: H, outW: W) + (b.shortcut?.flops(outH: H, outW: W) ?? 0)
        }
        func attn(_ a: AttnBlock) -> Double {
            let n = Double(H * W), c = Double(a.C)
            return 2 * n * c * 3 * c + 4 * n * n * c + 2 * n * c * c
        }
        total += res(mid.0) + (mid.1.map(attn) ?? 0) + res(mid.2)
        for level in levels {
            for b in level.blocks { total += res(b) }
            for a in level.attns { total += attn(a) }
            if let up = level.resample {
                H *= 2
                W *= 2
                total += up.flops(outH: H, outW: W)
            }
        }
        return total + convOut.flops(outH: H, outW: W)
    }
}

extension VAR {
    /// Transformer FLOPs of one image: `rows` conditioning rows (2 with guidance), every scale, every block.
    func flops(rows: Int) -> Double {
        let C = Double(self.C), V = Double(config.vocab_size), be = beginEnds
        let hidden = Double(trunk.blocks.first?.fc1.cout ?? 4 * self.C)
        var total = 0.0
        for si in 0..<config.patch_nums.count {
            let l = Double(be[si + 1] - be[si])
            // M-VAR attends within the scale and adds its Mamba sublayer (variants-spec §3.7).
            let lk = isMambaVAR ? l : Double(be[si + 1])
            let mamba = trunk.blocks.first?.mamba?.flops(tokens: be[si + 1] - be[si]) ?? 0
            let block = 2 * l * C * 3 * C + 4 * l * lk * C + 2 * l * C * C + 4 * l * C * hidden + mamba
            total += Double(trunk.blocks.count) * block + 2 * l * C * V
        }
        return total * Double(rows)
    }
}

extension VARGenerator {
    public func flops(cfg: Float) -> (transformer: Double, decoder: Double) {
        let side = model.tokenizer.latentSide
        return (model.flops(rows: cfg == 0 ? 1 : 2), model.tokenizer.decoder.flops(h: side, w: side))
    }
}
