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
    let codec: CodeDecoder
    let encoder: LazyEncoder

    /// Rows already divided by their L2 norm: [V, D].
    public var codebook: Tensor { codec.codebook }
    public var preview: LatentPreview? { codec.preview }
    var decoder: ConvNet { codec.decoder }
    public var vocabSize: Int { config.codebook_size }
    public var codeDim: Int { config.codebook_embed_dim }
    public var downsample: Int { 1 << (config.decoderMult.count - 1) }

    public init(_ w: WeightSource, config: Config) throws {
        try config.validate(w)
        self.config = config
        let D = config.codebook_embed_dim
        let cb = try param(w, "quantize.embedding.weight", [config.codebook_size, D])
        l2NormalizeRows(cb.ptr, rows: config.codebook_size, dim: D)
        codec = CodeDecoder(
            codebook: cb,
            postQuantConv: try Conv2d(w, "post_quant_conv", cin: D, cout: config.z_channels, k: 1),
            decoder: try ConvNet.decoder(w, prefix: "decoder", naming: .llamagen, ch: config.ch,
                                         chMult: config.decoderMult,
                                         numResBlocks: config.num_res_blocks, zChannels: config.z_channels,
                                         usingSA: true, usingMidSA: true),
            preview: try MetadataRules.preview(w, channels: D))
        encoder = LazyEncoder(w) { w in
            LazyEncoder.Parts(
                try ConvNet.encoder(w, prefix: "encoder", naming: .llamagen, ch: config.ch,
                                    chMult: config.encoderMult,
                                    numResBlocks: config.num_res_blocks, zChannels: config.z_channels,
                                    usingSA: true, usingMidSA: true),
                try Conv2d(w, "quant_conv", cin: config.z_channels, cout: D, k: 1))
        }
    }

    /// Normalised code vectors of a token map: [D, h, w].
    public func embed(_ tokens: [Int32], h: Int, w: Int) -> Tensor { codec.embed(tokens, h: h, w: w) }

    /// Decoder output [3, h·d, w·d], clamped to [−1, 1] as the official scripts save it.
    public func decode(codes: Tensor) -> Tensor { codec.decode(codes) }

    /// f = quant_conv(encoder(image)) for an image [3, H, W] in [−1, 1].
    public func encodeF(_ image: Tensor) throws -> Tensor { try encoder(image) }

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

    public func projectPreview(_ codes: Tensor) -> RGBImage { codec.previewMap(side: 4).apply(codes) }
}
