import Foundation
import ScalewiseKernels

/// FlexVAR: ground-truth prediction (Jiao et al. 2025). Each step predicts the tokens of the
/// whole image at that step's size, so the schedule is free: any number of steps, any sizes, non-square too.
/// Positions come from one learned map area-resized to each step; the next input is the current step's
/// codes resized bicubically — no residual, no f̂.
public final class FlexVAR: @unchecked Sendable {
    public struct Config: Codable, Sendable, Equatable {
        public var depth = 16
        public var embed_dim = 1024
        public var num_heads = 16
        public var mlp_ratio = 4.0
        public var norm_eps: Float = 1e-6
        public var attn_l2_norm = true
        public var num_classes = 1000
        public var vocab_size = 8912
        public var Cvae = 32
        /// Side of the learned position map (2× the training latent); the reference's `pos_hw`.
        public var pos_side = 32
        /// Largest step size sampled stochastically; larger ones are greedy (official `max_pn`).
        public var max_pn = 16
        public var patch_nums = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]
        public init() {}

        public init(from d: Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self)
            let z = Config()
            depth = try c.decodeIfPresent(Int.self, forKey: .depth) ?? z.depth
            embed_dim = try c.decodeIfPresent(Int.self, forKey: .embed_dim) ?? z.embed_dim
            num_heads = try c.decodeIfPresent(Int.self, forKey: .num_heads) ?? z.num_heads
            mlp_ratio = try c.decodeIfPresent(Double.self, forKey: .mlp_ratio) ?? z.mlp_ratio
            norm_eps = try c.decodeIfPresent(Float.self, forKey: .norm_eps) ?? z.norm_eps
            attn_l2_norm = try c.decodeIfPresent(Bool.self, forKey: .attn_l2_norm) ?? z.attn_l2_norm
            num_classes = try c.decodeIfPresent(Int.self, forKey: .num_classes) ?? z.num_classes
            vocab_size = try c.decodeIfPresent(Int.self, forKey: .vocab_size) ?? z.vocab_size
            Cvae = try c.decodeIfPresent(Int.self, forKey: .Cvae) ?? z.Cvae
            let ref = try d.container(keyedBy: ReferenceKeys.self)
            pos_side = try c.decodeIfPresent(Int.self, forKey: .pos_side)
                ?? ref.decodeIfPresent(Int.self, forKey: .pos_hw) ?? z.pos_side
            max_pn = try c.decodeIfPresent(Int.self, forKey: .max_pn) ?? z.max_pn
            patch_nums = try c.decodeIfPresent([Int].self, forKey: .patch_nums) ?? z.patch_nums
        }

        /// Constructor arguments of tools/reference/flexvar.py that we name differently.
        private enum ReferenceKeys: String, CodingKey { case pos_hw }
    }

    /// Paper Table 7, 256 px (latent 16): steps → sizes.
    public static let presets: [Int: [Int]] = [
        6: [1, 2, 4, 6, 10, 16], 7: [1, 2, 3, 5, 8, 11, 16], 8: [1, 2, 3, 4, 6, 10, 13, 16],
        9: [1, 2, 3, 4, 5, 7, 10, 13, 16], 10: [1, 2, 3, 4, 5, 6, 8, 10, 13, 16],
        11: [1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 16], 12: [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16],
        13: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16],
    ]
    /// Our presets for an 8×8 latent (32 px glyphs): 4–8 steps end at the training size (the lists of
    /// tools/train/gen_families.py); 10 and 13 steps go beyond it (FlexVAR's resolution extrapolation) to 12×12
    /// (1.5×, 48 px) and 16×16 (2×, 64 px), as tools/eval/samplers.py measures.
    static let presets8: [Int: [Int]] = [
        4: [1, 2, 4, 8], 5: [1, 2, 3, 5, 8], 6: [1, 2, 3, 4, 6, 8], 7: [1, 2, 3, 4, 5, 6, 8], 8: [1, 2, 3, 4, 5, 6, 7, 8],
        10: [1, 2, 3, 4, 5, 6, 7, 8, 10, 12], 13: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16],
    ]

    /// Step presets ending at `side`: Table 7 at 16, ours at 8; other sides get Table 7 rescaled, keeping only
    /// the lists that stay strictly increasing.
    public static func presets(side: Int) -> [[Int]] {
        if side == 16 { return presets.keys.sorted().map { presets[$0]! } }
        if side == 8 { return presets8.keys.sorted().map { presets8[$0]! } }
        let scaled = presets.keys.sorted().map { n in presets[n]!.map { max(1, Int((Double($0) * Double(side) / 16).rounded())) } }
        return scaled.filter { s in zip(s, s.dropFirst()).allSatisfy { $0 < $1 } }
    }

    /// Sizes the official sampler samples stochastically; others are taken greedily.
    static let stochasticSizes: Set<Int> = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 23, 24, 32]

    public let config: Config
    public let tokenizer: FlexVQVAE
    let trunk: VARTrunk
    let posMap: Tensor  // [C, P, P]

    public var C: Int { config.embed_dim }
    public var nullClass: Int { config.num_classes }

    public init(_ w: WeightSource, config: Config, tokenizer: FlexVQVAE) throws {
        guard config.Cvae == tokenizer.codeDim, config.vocab_size == tokenizer.vocabSize else {
            throw WeightsError.mismatch(w.path, "generator expects \(config.vocab_size) codes of \(config.Cvae), "
                                        + "tokenizer has \(tokenizer.vocabSize) of \(tokenizer.codeDim)")
        }
        try config.validate(w)
        self.config = config
        self.tokenizer = tokenizer
        trunk = try VARTrunk(w, depth: config.depth, C: config.embed_dim, heads: config.num_heads,
                             mlpRatio: config.mlp_ratio, eps: config.norm_eps, numClasses: config.num_classes,
                             vocab: config.vocab_size, Cvae: config.Cvae)
        posMap = try param(w, "pos_1LC", [1, config.embed_dim, config.pos_side, config.pos_side])
            .reshaped([config.embed_dim, config.pos_side, config.pos_side])
    }

    /// Infers the config of an official checkpoint from its shapes.
    public static func config(from w: WeightSource) throws -> Config {
        if let json = w.metadata["config"] {
            let c = try decodeConfig(Config.self, json, path: w.path)
            return c
        }
        var c = Config()
        c.depth = w.maxIndex("blocks.")
        guard c.depth > 0 else { throw WeightsError.mismatch(w.path, "no `blocks.*` keys: not a FlexVAR checkpoint") }
        c.embed_dim = try w.dim("pos_1LC", 1, rank: 4)
        c.pos_side = try w.dim("pos_1LC", 2, rank: 4)
        c.num_heads = w.has("blocks.0.attn.scale_mul_1H11") ? try w.dim("blocks.0.attn.scale_mul_1H11", 1, rank: 4) : c.depth
        c.vocab_size = try w.dim("head.weight", 0, rank: 2)
        c.num_classes = try w.dim("class_emb.weight", 0, rank: 2) - 1
        c.Cvae = try w.dim("word_embed.weight", 1, rank: 2)
        c.mlp_ratio = Double(try w.dim("blocks.0.ffn.fc1.weight", 0, rank: 2)) / Double(max(c.embed_dim, 1))
        return c
    }

    /// The position map area-resized to one step: [h·w, C].
    func positions(_ s: ScaleShape) -> Tensor {
        let m = Tensor(shape: [C, s.h, s.w])
        areaResize(posMap, to: m)
        let out = Tensor(shape: [s.count, C])
        transpose(m.ptr, rows: C, cols: s.count, into: out.ptr)
        return out
    }

    /// Whether the official sampler would take this step greedily.
    func isGreedy(_ s: ScaleShape) -> Bool {
        max(s.h, s.w) > config.max_pn || !Self.stochasticSizes.contains(s.h) || !Self.stochasticSizes.contains(s.w)
    }

    /// Guidance at step si of n: the VAR-style ramp over min(n−1, 9) steps (t = cfg beyond max_pn), or the
    /// constant LlamaGen form u + cfg·(c − u), i.e. t = cfg − 1.
    func guidance(cfg: Float, step si: Int, of n: Int, shape: ScaleShape, constant: Bool) -> Float {
        if constant { return cfg - 1 }
        if max(shape.h, shape.w) > config.max_pn { return cfg }
        return cfg * Float(si) / Float(max(min(n - 1, 9), 1))
    }
}
