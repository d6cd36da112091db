import Foundation
import ScalewiseKernels

/// The decoding half both tokenizers share (VAR's `models/vqvae.py: VQVAE.fhat_to_img`, LlamaGen's
/// `vq_model.py: VQModel.decode_code`): code vectors looked up in a codebook, `post_quant_conv`, the
/// convolutional decoder, and the linear latent → RGB preview (stored in the file, or fitted on first use).
final class CodeDecoder: Sendable {
    /// [V, D]: row v is code v's vector.
    let codebook: Tensor
    let postQuantConv: Conv2d
    let decoder: ConvNet
    let preview: LatentPreview?
    private let fittedPreview = Lazy<LatentPreview>()

    init(codebook: Tensor, postQuantConv: Conv2d, decoder: ConvNet, preview: LatentPreview?) {
        self.codebook = codebook
        self.postQuantConv = postQuantConv
        self.decoder = decoder
        self.preview = preview
    }

    /// The code vectors of a token map, as a latent [D, h, w].
    func embed(_ tokens: [Int32], h: Int, w: Int) -> Tensor {
        let D = codebook.shape[1], out = Tensor(shape: [D, h, w])
        for (p, t) in tokens.enumerated() {
            let row = codebook.ptr + Int(t) * D
            for c in 0..<D { out.ptr[c * h * w + p] = row[c] }
        }
        return out
    }

    /// The image [3, H, W], clamped to [−1, 1] as the official scripts save it.
    func decode(_ latent: Tensor) -> Tensor {
        let x = decoder(postQuantConv(latent))
        for i in 0..<x.count { x.ptr[i] = min(1, max(-1, x.ptr[i])) }
        return x
    }

    /// The stored preview map, else one fitted to four decoded maps of random codes (side × side latents:
    /// cheap and representative).
    func previewMap(side: Int) -> LatentPreview {
        if let p = preview { return p }
        return fittedPreview.value {
            var rng = Rng(seed: 0x5EED)
            let V = UInt64(codebook.shape[0])
            let latents = (0..<4).map { _ in
                embed((0..<(side * side)).map { _ in Int32(rng.next() % V) }, h: side, w: side)
            }
            return LatentPreview.fit(latents: latents, images: latents.map(decode))
        }
    }
}

/// The encoding half (`encoder` + `quant_conv`), read from the file when first needed, so that a model used
/// only for generation never keeps the mapping of the whole file resident.
final class LazyEncoder: Sendable {
    private let path: String, prefix: String
    private let load: @Sendable (WeightSource) throws -> Parts
    private let parts = Lazy<Parts>()

    final class Parts: Sendable {
        let encoder: ConvNet, quantConv: Conv2d
        init(_ encoder: ConvNet, _ quantConv: Conv2d) {
            self.encoder = encoder
            self.quantConv = quantConv
        }
    }

    init(_ w: WeightSource, load: @escaping @Sendable (WeightSource) throws -> Parts) {
        path = w.path
        prefix = keyPrefix(of: w)
        self.load = load
    }

    /// f = quant_conv(encoder(image)) for an image [3, H, W] in [−1, 1].
    func callAsFunction(_ image: Tensor) throws -> Tensor {
        let p = try parts.valueOrThrow { try load(reopen(path, prefix: prefix)) }
        return p.quantConv(p.encoder(image))
    }
}
