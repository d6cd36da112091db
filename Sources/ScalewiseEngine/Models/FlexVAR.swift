import Foundation
import ScalewiseKernels

/// FlexVAR: ground-truth prediction (Jiao et al. 2025). Each step predicts the tokens of the
/// whole image at that step's size, so the schedule is free: any number of steps, any sizes, non-square too.
/// Positions come from one learned map area-resized to each step; the next input is the current step's
/// codes resized bicubically — no residual, no f̂.
public final class FlexVAR: Sendable {
    public struct Config: Codable, Sendable, Equatable {
        /// The trunk's shape, under VAR's names (`VARTrunk`); FlexVAR's tokenizer has 8912 codes.
        public var depth = 16, embed_dim = 1024, num_heads = 16, mlp_ratio = 4.0
        public var norm_eps: Float = 1e-6, attn_l2_norm = true
        public var num_classes = 1000, vocab_size = 8912, Cvae = 32
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
            pos_side = try ref.decodeIfPresent(Int.self, forKey: .pos_hw)
                ?? c.decodeIfPresent(Int.self, forKey: .pos_side) ?? z.pos_side
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

    /// The config from the file's metadata, else inferred from an official checkpoint's shapes; `override`
    /// (`--config`) on top.
    public static func config(from w: WeightSource, override: String? = nil) throws -> Config {
        try ConfigSource.resolve(w, override: override, infer: inferConfig)
    }

    /// `models/flexvar.py` from the state dict's shapes. The training schedule is not in the shapes: the one of
    /// the latent the position map implies (half its side; paper Table 7's 10 steps at 16).
    static func inferConfig(_ w: WeightSource, _ override: [String: Any]) throws -> Config {
        var c = Config()
        c.depth = w.indexCount("blocks.")
        guard c.depth > 0 else { throw WeightsError.mismatch(w.path, "no `blocks.*` keys: not a FlexVAR checkpoint") }
        c.embed_dim = try w.dim("pos_1LC", 1, rank: 4)
        c.pos_side = try w.dim("pos_1LC", 2, rank: 4)
        c.num_heads = w.has("blocks.0.attn.scale_mul_1H11") ? try w.dim("blocks.0.attn.scale_mul_1H11", 1, rank: 4) : c.depth
        c.attn_l2_norm = w.has("blocks.0.attn.scale_mul_1H11")
        c.vocab_size = try w.dim("head.weight", 0, rank: 2)
        c.num_classes = try w.dim("class_emb.weight", 0, rank: 2) - 1
        c.Cvae = try w.dim("word_embed.weight", 1, rank: 2)
        c.mlp_ratio = Double(try w.dim("blocks.0.ffn.fc1.weight", 0, rank: 2)) / Double(max(c.embed_dim, 1))
        let side = max(1, c.pos_side / 2)
        if side != 16 {
            let presets = presets(side: side)
            c.patch_nums = presets.first { $0.count == 10 } ?? presets.last ?? [side]
            c.max_pn = side
        }
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

/// A FlexVAR generator: any schedule, and zero-shot editing (`FlexVAREditor`).
public final class FlexVARGenerator: Generator {
    public let info: GeneratorInfo
    public let model: FlexVAR

    init(info: GeneratorInfo, model: FlexVAR) { (self.info, self.model) = (info, model) }

    /// Named step presets for the model's latent side: paper Table 7 (6…13 steps) for a 16×16 latent; for
    /// other sides our analogues (see `FlexVAR.presets(side:)`); always including the training schedule.
    public var schedules: [[ScaleShape]] {
        let side = model.config.patch_nums.last ?? 16
        var all = FlexVAR.presets(side: side)
        if !all.contains(model.config.patch_nums) { all.append(model.config.patch_nums) }
        return all.sorted { $0.count < $1.count }.map { $0.map { ScaleShape($0, $0) } }
    }

    public var defaultSchedule: [ScaleShape] { model.config.patch_nums.map { ScaleShape($0, $0) } }

    public func makeSession(classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]?) throws -> GenerationSession {
        try FlexVARSession(model: model, classIndex: classIndex, options: options, schedule: schedule ?? defaultSchedule)
    }

    public func makeEditSession(image: RGBImage, plan: EditPlan, classIndex: Int, options: SamplingOptions,
                                schedule: [ScaleShape]) throws -> (GenerationSession, [[Bool]]) {
        try FlexVAREditor(generator: self).prepare(image: image, plan: plan, classIndex: classIndex, options: options,
                                                   schedule: schedule)
    }

    public func editSteps(plan: EditPlan, schedule: [ScaleShape], width: Int, height: Int,
                          allowLarge: Bool) throws -> [ScaleShape] {
        try FlexVAREditor(generator: self).checkedSteps(plan: plan, schedule: schedule, width: width, height: height,
                                                        allowLarge: allowLarge)
    }

    /// The default schedule, KV-cached like VAR; the decoder runs once, on the last step's codes.
    public func flops(cfg: Float) -> (transformer: Double, decoder: Double) {
        let s = defaultSchedule, last = s.last!
        let rows = Double(cfg == 0 ? 1 : 2)
        return (model.trunk.flops(lengths: s.map(\.count), cached: true) * rows,
                model.tokenizer.decoder.flops(h: last.h, w: last.w))
    }

    /// The KV cache over the default schedule.
    public func stateBytes(cfg: Float) -> Int {
        let tokens = defaultSchedule.reduce(0) { $0 + $1.count }
        return 2 * 4 * (cfg == 0 ? 1 : 2) * tokens * model.C * model.trunk.blocks.count
    }

    /// Loads a FlexVAR checkpoint with its scalable tokenizer (`FlexVAE.pth` in the official release).
    static func load(_ w: WeightSource, _ ctx: LoadContext) throws -> Generator {
        let cfg = try FlexVAR.config(from: w, override: ctx.config)
        let tw = try ctx.openTokenizer(for: w, official: "FlexVAE.pth")
        let tc = try flexVQConfig(tw, override: ctx.tokenizerConfig)
        let model = try FlexVAR(w, config: cfg, tokenizer: try FlexVQVAE(tw, config: tc))
        return FlexVARGenerator(info: try ctx.info(w, family: .flexvar, classes: cfg.num_classes), model: model)
    }
}

extension FlexVARGenerator {
    /// The default schedule's last side times the tokenizer's downsampling, from the two configs.
    static func imageSide(_ w: WeightSource, _ ctx: LoadContext) throws -> Int {
        let cfg = try FlexVAR.config(from: w, override: ctx.config)
        let tc = try flexVQConfig(try ctx.openTokenizer(for: w, official: "FlexVAE.pth"), override: ctx.tokenizerConfig)
        return (cfg.patch_nums.last ?? 0) << max(0, tc.decoderMult.count - 1)
    }
}

/// A LlamaGen VQ's config: its `config` metadata (a tokenizer file of ours) or `tokenizer_config` (stored inside
/// a generator file), else read from its shapes; `--tokenizer-config` on top.
func flexVQConfig(_ w: WeightSource, override: String?) throws -> FlexVQVAE.Config {
    let key = w.metadata["family"] == "flexvqvae" ? "config" : "tokenizer_config"
    return try ConfigSource.resolve(w, key: key, override: override, flag: "--tokenizer-config", infer: FlexVQVAE.inferConfig)
}

extension ModelFamily {
    /// FlexVAR (Jiao et al. 2025; official `inference_c2i.py`), detected by its 2-D position map `pos_1LC`
    /// [1, C, P, P].
    static let flexvar: ModelFamily = ModelFamily(
        name: "flexvar", title: "FlexVAR",
        capabilities: FamilyCapabilities(canEdit: true, freeSchedule: true, stepUnit: "step"),
        defaults: SamplingOptions(cfg: 4, topK: 900, topP: 0.95, constantCFG: true),  // inference_c2i.py (LlamaGen CFG)
        detect: { (try? $0.shape("pos_1LC"))?.count == 4 },
        load: FlexVARGenerator.load,
        convertConfig: { w in let c = try FlexVAR.config(from: w); return (try configJSON(c), c.num_classes) },
        officialTokenizer: "FlexVAE.pth", imageSide: FlexVARGenerator.imageSide)
}
