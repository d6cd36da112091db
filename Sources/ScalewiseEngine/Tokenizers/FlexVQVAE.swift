import Foundation
import ScalewiseKernels

/// FlexVAR's scalable tokenizer (`FlexVAE.pth`; LlamaGen VQ-16 architecture): no residual,
/// no φ — any single code map h×w decodes on its own to an image (h·d)×(w·d). Codes are looked up in the
/// L2-normalised codebook. Also AiM's tokenizer (at the full-resolution map).
public final class FlexVQVAE: Sendable {
    public struct Config: Codable, Sendable, Equatable {
        public var codebook_size = 8912
        public var codebook_embed_dim = 32
        public var z_channels = 256
        public var ch = 128
        public var ch_mult = [1, 1, 2, 2, 4]
        public var num_res_blocks = 2
        /// LlamaGen's separate level multipliers (`ModelArgs.encoder_ch_mult`, `decoder_ch_mult`); nil = `ch_mult`.
        public var encoder_ch_mult: [Int]?
        public var decoder_ch_mult: [Int]?
        public init() {}

        var encoderMult: [Int] { encoder_ch_mult ?? ch_mult }
        var decoderMult: [Int] { decoder_ch_mult ?? ch_mult }
    }

    public let config: Config
    /// Rows already divided by their L2 norm: [V, D].
    public let codebook: Tensor
    let postQuantConv: Conv2d  // 1×1 D → z
    let decoder: ConvDecoder
    /// Reopened when the encoder is first needed, so the mapping of the whole file is not kept resident.
    private let sourcePath: String, sourcePrefix: String
    private let encoderCache = Lazy<EncoderBox>()
    public let preview: LatentPreview?
    let fittedPreview = Lazy<LatentPreview>()

    public var vocabSize: Int { config.codebook_size }
    public var codeDim: Int { config.codebook_embed_dim }
    public var downsample: Int { 1 << (config.decoderMult.count - 1) }

    public init(_ w: WeightSource, config: Config) throws {
        try config.validate(w)
        self.config = config
        sourcePath = w.path
        sourcePrefix = keyPrefix(of: w)
        let D = config.codebook_embed_dim
        let cb = try param(w, "quantize.embedding.weight", [config.codebook_size, D])
        l2NormalizeRows(cb.ptr, rows: config.codebook_size, dim: D)
        codebook = cb
        postQuantConv = try Conv2d(w, "post_quant_conv", cin: D, cout: config.z_channels, k: 1)
        decoder = try ConvDecoder(w, prefix: "decoder", naming: .llamagen, ch: config.ch, chMult: config.decoderMult,
                                  numResBlocks: config.num_res_blocks, zChannels: config.z_channels,
                                  usingSA: true, usingMidSA: true)
        preview = try MetadataRules.preview(w, channels: D)
    }

    /// Normalised code vectors of a token map: [D, h, w].
    public func embed(_ tokens: [Int32], h: Int, w: Int) -> Tensor {
        let D = codeDim, out = Tensor(shape: [D, h, w])
        for (p, t) in tokens.enumerated() {
            let row = codebook.ptr + Int(t) * D
            for c in 0..<D { out.ptr[c * h * w + p] = row[c] }
        }
        return out
    }

    /// Decoder output [3, h·d, w·d], clamped to [−1, 1] as the official scripts save it.
    public func decode(codes: Tensor) -> Tensor {
        let x = decoder(postQuantConv(codes))
        for i in 0..<x.count { x.ptr[i] = min(1, max(-1, x.ptr[i])) }
        return x
    }

    /// f = quant_conv(encoder(image)) for an image [3, H, W] in [−1, 1].
    public func encodeF(_ image: Tensor) throws -> Tensor {
        let box = try encoderCache.valueOrThrow { try EncoderBox(reopen(self.sourcePath, prefix: self.sourcePrefix), self.config) }
        return box.quantConv(box.encoder(image))
    }

    /// Tokens of f area-resized to h×w: argmax cosine similarity with the codebook (= argmin distance of the
    /// L2-normalised vectors, the official lookup).
    public func tokens(of f: Tensor, h: Int, w: Int) -> [Int32] {
        let D = codeDim, n = h * w, V = vocabSize
        let z = Tensor(shape: [D, h, w])
        areaResize(f, to: z)
        let zt = Tensor(shape: [n, D])
        transpose(z.ptr, rows: D, cols: n, into: zt.ptr)
        let dots = Tensor(shape: [n, V])
        linear(zt, weight: codebook, bias: nil, out: dots)
        return (0..<n).map { p in
            var best = 0
            for v in 1..<V where dots.ptr[p * V + v] > dots.ptr[p * V + best] { best = v }
            return Int32(best)
        }
    }

    public func projectPreview(_ codes: Tensor) -> RGBImage {
        let map = preview ?? fittedPreview.value {
            var rng = Rng(seed: 0x5EED)
            let latents = (0..<4).map { _ in
                self.embed((0..<16).map { _ in Int32(rng.next() % UInt64(self.vocabSize)) }, h: 4, w: 4)
            }
            return LatentPreview.fit(latents: latents, images: latents.map { self.decode(codes: $0) })
        }
        return map.apply(codes)
    }

    final class EncoderBox: Sendable {
        let encoder: ConvEncoder, quantConv: Conv2d
        init(_ w: WeightSource, _ c: Config) throws {
            encoder = try ConvEncoder(w, prefix: "encoder", naming: .llamagen, ch: c.ch, chMult: c.encoderMult,
                                      numResBlocks: c.num_res_blocks, zChannels: c.z_channels,
                                      usingSA: true, usingMidSA: true)
            quantConv = try Conv2d(w, "quant_conv", cin: c.z_channels, cout: c.codebook_embed_dim, k: 1)
        }
    }
}
