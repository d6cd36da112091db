import Foundation
import ScalewiseKernels

/// VAR's multi-scale residual VQ-VAE (`vae_ch160v4096z32` and our glyph tokenizer; official `models/vqvae.py`).
/// Generation needs the decoder, the codebook and the φ convs; the encoder is loaded on demand
/// (image → tokens, for in-painting and tests).
public final class VQVAE: Sendable {
    public struct Config: Codable, Sendable, Equatable {
        public var vocab_size = 4096
        public var z_channels = 32
        public var ch = 160
        public var ch_mult = [1, 1, 2, 2, 4]
        public var num_res_blocks = 2
        public var v_patch_nums = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]
        public var quant_resi: Float = 0.5
        public var share_quant_resi = 4
        public var using_sa = true
        public var using_mid_sa = true
        /// With `share_quant_resi` 0: how many φ (one per scale when nil; official `default_qresi_counts`).
        public var default_qresi_counts: Int?
        public init() {}

        /// How many φ convs the file holds (0 when `quant_resi` is 0: φ is the identity) and their key prefix.
        var phiKeys: [String] {
            guard abs(quant_resi) > 1e-6 else { return [] }
            let q = "quantize.quant_resi."
            switch share_quant_resi {
            case 0: return (0..<(default_qresi_counts ?? v_patch_nums.count)).map { q + "\($0)" }
            case 1: return [q + "qresi"]
            case let k: return (0..<k).map { q + "qresi_ls.\($0)" }
            }
        }
    }

    public let config: Config
    let codec: CodeDecoder
    let encoder: LazyEncoder
    let phis: [Conv2d]  // quant_resi.qresi_ls.{k}: 3×3 Cvae→Cvae

    public var codebook: Tensor { codec.codebook }  // [V, Cvae]
    /// Linear latent → RGB map for instant previews: [3][Cvae] weights + [3] bias.
    public var preview: LatentPreview? { codec.preview }
    var decoder: ConvNet { codec.decoder }
    public var vocabSize: Int { config.vocab_size }
    public var Cvae: Int { config.z_channels }
    /// Side of the final latent map (16 for the 256 px models).
    public var latentSide: Int { config.v_patch_nums.last! }
    public var downsample: Int { 1 << (config.ch_mult.count - 1) }

    public init(_ w: WeightSource, config: Config) throws {
        try config.validate(w)
        self.config = config
        let C = config.z_channels
        let codebook = try param(w, "quantize.embedding.weight", [config.vocab_size, C])
        // φ refines f̂ after every scale and so feeds the next scale's transformer input: it stays fp32 (it is
        // tiny) whatever the decoder's precision, so a bf16 model's tokens see the fp32 residual pyramid.
        let exact = PrecisionWeights(w, precision: .fp32)
        phis = try config.phiKeys.map { try Conv2d(exact, $0, cin: C, cout: C, k: 3) }
        codec = CodeDecoder(
            codebook: codebook,
            postQuantConv: try Conv2d(w, "post_quant_conv", cin: C, cout: C, k: 3),
            decoder: try ConvNet.decoder(w, prefix: "decoder", naming: .var, ch: config.ch, chMult: config.ch_mult,
                                         numResBlocks: config.num_res_blocks, zChannels: C,
                                         usingSA: config.using_sa, usingMidSA: config.using_mid_sa),
            preview: try MetadataRules.preview(w, channels: C))
        encoder = LazyEncoder(w) { w in
            LazyEncoder.Parts(
                try ConvNet.encoder(w, prefix: "encoder", naming: .var, ch: config.ch, chMult: config.ch_mult,
                                    numResBlocks: config.num_res_blocks, zChannels: C,
                                    usingSA: config.using_sa, usingMidSA: config.using_mid_sa),
                try Conv2d(w, "quant_conv", cin: C, cout: C, k: 3))
        }
    }

    /// Which of the K φ convs scale `si` of `count` uses: the official argmin over
    /// numpy.linspace(1/(3K), 1−1/(3K), K) for K = 4, else numpy.linspace(1/(2K), 1−1/(2K), K), against
    /// si/(count−1), in float64 (ties are decided by rounding, giving [0,0,1,1,1,2,2,3,3,3] at 10 scales and
    /// K = 4; `models/quant.py: PhiPartiallyShared`, `PhiNonShared`). One shared φ (K = 1) is always φ 0.
    public static func phiIndex(forScale si: Int, of count: Int, k: Int = 4) -> Int {
        guard k > 1 else { return 0 }
        let margin = k == 4 ? 1.0 / 3.0 / Double(k) : 1.0 / 2.0 / Double(k)
        let start = margin, stop = 1.0 - margin
        let step = (stop - start) / Double(k - 1)
        let at = count > 1 ? Double(si) / Double(count - 1) : 0
        var best = 0, bestDist = Double.infinity
        for i in 0..<k {
            let tick = i == k - 1 ? stop : Double(i) * step + start
            let d = abs(tick - at)
            if d < bestDist { best = i; bestDist = d }
        }
        return best
    }

    /// Code vectors of a token map as a latent [Cvae, h, w].
    public func embed(_ tokens: [Int32], h: Int, w: Int) -> Tensor { codec.embed(tokens, h: h, w: w) }

    /// φ_si(bicubic↑(h → side×side)): what scale si adds to f̂; the last scale is not resampled
    /// (official `models/quant.py`, `Phi`). φ(x) = (1 − r)·x + r·conv(x).
    public func residual(code h: Tensor, scale si: Int) -> Tensor {
        let side = latentSide
        let up: Tensor
        if h.shape[1] == side && h.shape[2] == side {
            up = h.copy()
        } else {
            up = Tensor(shape: [Cvae, side, side])
            bicubicResize(h, to: up)
        }
        guard !phis.isEmpty else { return up }
        let k = VQVAE.phiIndex(forScale: si, of: config.v_patch_nums.count, k: phis.count)
        let r = abs(config.quant_resi)
        let conv = phis[k](up)
        for i in 0..<up.count { up.ptr[i] = (1 - r) * up.ptr[i] + r * conv.ptr[i] }
        return up
    }

    public func accumulate(fHat: Tensor, code h: Tensor, scale si: Int) {
        add(residual(code: h, scale: si), into: fHat)
    }

    /// The decoder image in [−1, 1] (clamped like the official `fhat_to_img`), [3, H, W].
    public func decode(fHat: Tensor) -> Tensor { codec.decode(fHat) }

    /// Encoder + quant_conv: image [3, H, W] in [−1, 1] → f [Cvae, H/d, W/d].
    public func encodeF(_ image: Tensor) throws -> Tensor { try encoder(image) }

    /// Residual multi-scale quantisation (`f_to_idxBl_or_fhat`): image → one token map per scale.
    public func encode(_ image: Tensor) throws -> [[Int32]] {
        let f = try encodeF(image)
        let C = Cvae
        let rest = f.copy()
        var out: [[Int32]] = []
        for (si, pn) in config.v_patch_nums.enumerated() {
            let z: Tensor
            if si == config.v_patch_nums.count - 1 { z = rest } else {
                z = Tensor(shape: [C, pn, pn])
                areaResize(rest, to: z)
            }
            let ids = nearestCodes(z)
            out.append(ids)
            let term = residual(code: embed(ids, h: pn, w: pn), scale: si)
            for i in 0..<rest.count { rest.ptr[i] -= term.ptr[i] }
        }
        return out
    }

    /// argmin_v ‖z − e_v‖² for every cell of z [C, h, w].
    func nearestCodes(_ z: Tensor) -> [Int32] {
        let C = z.shape[0], n = z.shape[1] * z.shape[2], V = vocabSize
        let zt = Tensor(shape: [n, C])
        transpose(z.ptr, rows: C, cols: n, into: zt.ptr)
        let dots = Tensor(shape: [n, V])
        linear(zt, weight: codebook, bias: nil, out: dots)
        var norms = [Float](repeating: 0, count: V)
        for v in 0..<V { for c in 0..<C { norms[v] += codebook.ptr[v * C + c] * codebook.ptr[v * C + c] } }
        return (0..<n).map { p in
            var best = 0, bestD = Float.infinity
            for v in 0..<V {
                let d = norms[v] - 2 * dots.ptr[p * V + v]
                if d < bestD { bestD = d; best = v }
            }
            return Int32(best)
        }
    }
}
