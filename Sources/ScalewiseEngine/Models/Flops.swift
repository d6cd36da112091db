import ScalewiseKernels

// Analytic FLOP counts (a multiply-add = 2 FLOPs) for the bench's GFLOP/s figures.

extension Conv2d {
    func flops(outH: Int, outW: Int) -> Double {
        2 * Double(cout * cin * k * k) * Double(outH * outW)
    }
}

extension ConvNet {
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
        total += res(mid.first) + (mid.attn.map(attn) ?? 0) + res(mid.second)
        for level in levels {
            for b in level.blocks { total += res(b) }
            for a in level.attns { total += attn(a) }
            if case .up(let up)? = level.resample {
                H *= 2
                W *= 2
                total += up.flops(outH: H, outW: W)
            }
        }
        return total + convOut.flops(outH: H, outW: W)
    }
}

extension VARTrunk {
    /// FLOPs of one conditioning row over steps of `lengths` tokens. `cached`: every step attends to all tokens
    /// so far (the KV cache); otherwise only to its own (M-VAR, MVAR's dense scales). Mamba sublayers included.
    func flops(lengths: [Int], cached: Bool) -> Double {
        let C = Double(self.C), V = Double(vocab)
        let hidden = Double(blocks.first?.fc1.cout ?? 4 * self.C)
        var total = 0.0, seen = 0
        for n in lengths {
            seen += n
            let l = Double(n), lk = cached ? Double(seen) : l
            let mamba = blocks.first?.mamba?.flops(tokens: n) ?? 0
            let block = 2 * l * C * 3 * C + 4 * l * lk * C + 2 * l * C * C + 4 * l * C * hidden + mamba
            total += Double(blocks.count) * block + 2 * l * C * V
        }
        return total
    }
}
