import Foundation
import ScalewiseKernels

/// VAR: next-scale prediction (Tian et al. 2024). The base of the family:
/// class token → scale 1; every later scale reads area↓(f̂) of the scales before it, attends to all
/// earlier scales through the KV cache, and predicts that scale's residual tokens.
public final class VAR: Sendable {
    public struct Config: Codable, Sendable, Equatable {
        public var depth = 16
        public var embed_dim = 1024
        public var num_heads = 16
        public var mlp_ratio = 4.0
        public var norm_eps: Float = 1e-6
        public var attn_l2_norm = true
        public var patch_nums = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]
        public var num_classes = 1000
        public var vocab_size = 4096
        public var Cvae = 32
        /// MVAR only: neighbourhood window and the first scale index that uses it (official: 7 and 8, i.e.
        /// the 13×13 and 16×16 scales at 256 px); nil = the official values.
        public var kernel_size: Int?
        public var refine_step: Int?
        public init() {}
    }

    public let config: Config
    public let tokenizer: VQVAE
    let trunk: VARTrunk
    /// lvl_embed[scale(t)] + pos_1LC[t] for every token t: [L, C].
    let lvlPos: Tensor

    public var C: Int { config.embed_dim }
    public var scales: [ScaleShape] { config.patch_nums.map { ScaleShape($0, $0) } }
    public var nullClass: Int { config.num_classes }
    /// Token offset of each scale in the full sequence, plus the total at the end.
    public let beginEnds: [Int]

    public init(_ w: WeightSource, config: Config, tokenizer: VQVAE) throws {
        try config.validate(w)
        self.config = config
        self.tokenizer = tokenizer
        guard config.Cvae == tokenizer.Cvae, config.vocab_size == tokenizer.vocabSize else {
            throw WeightsError.mismatch(w.path, "generator expects Cvae \(config.Cvae) and \(config.vocab_size) codes, "
                                        + "tokenizer has \(tokenizer.Cvae) and \(tokenizer.vocabSize)")
        }
        guard config.patch_nums.last == tokenizer.latentSide else {
            throw WeightsError.mismatch(w.path, "generator's last scale \(config.patch_nums.last ?? 0) ≠ tokenizer latent "
                                        + "\(tokenizer.latentSide)")
        }
        let C = config.embed_dim
        beginEnds = config.patch_nums.reduce(into: [0]) { $0.append($0.last! + $1 * $1) }
        let L = beginEnds.last!
        trunk = try VARTrunk(w, depth: config.depth, C: C, heads: config.num_heads, mlpRatio: config.mlp_ratio,
                             eps: config.norm_eps, numClasses: config.num_classes, vocab: config.vocab_size,
                             Cvae: config.Cvae)
        var lvlPos = try w.floats("pos_1LC", shape: [1, L, C])
        let lvl = try w.floats("lvl_embed.weight", shape: [config.patch_nums.count, C])
        for si in 0..<config.patch_nums.count {
            for t in beginEnds[si]..<beginEnds[si + 1] { for c in 0..<C { lvlPos[t * C + c] += lvl[si * C + c] } }
        }
        self.lvlPos = Tensor(shape: [L, C], data: lvlPos)
    }

    /// Reads the config from a file's metadata, or infers it from tensor shapes (official `.pth` files);
    /// `override` (`--config`, a JSON object or file) goes on top.
    public static func config(from w: WeightSource, override: String? = nil) throws -> Config {
        try ConfigSource.resolve(w, override: override, infer: inferConfig)
    }

    /// The schedules of the released checkpoints, by their token count (`pos_1LC`'s second dimension).
    static let knownSchedules: [Int: [Int]] = [680: [1, 2, 3, 4, 5, 6, 8, 10, 13, 16], 2240: [1, 2, 3, 4, 6, 9, 13, 18, 24, 32]]

    /// `models/var.py: VAR.__init__` from the state dict's shapes. The schedule is known only by its token
    /// count: the released ones are recognised, any other must be given (`--config '{"patch_nums": …}'`).
    static func inferConfig(_ w: WeightSource, _ override: [String: Any]) throws -> Config {
        var c = Config()
        let depth = w.indexCount("blocks.")
        guard depth > 0 else { throw WeightsError.mismatch(w.path, "no `blocks.*` keys: not a VAR checkpoint") }
        let l2 = w.has("blocks.0.attn.scale_mul_1H11")
        c.depth = depth
        c.embed_dim = try w.dim("pos_start", 2, rank: 3)
        c.num_heads = l2 ? try w.dim("blocks.0.attn.scale_mul_1H11", 1, rank: 4) : depth
        c.attn_l2_norm = l2
        c.vocab_size = try w.dim("head.weight", 0, rank: 2)
        c.num_classes = try w.dim("class_emb.weight", 0, rank: 2) - 1
        c.Cvae = try w.dim("word_embed.weight", 1, rank: 2)
        c.mlp_ratio = Double(try w.dim("blocks.0.ffn.fc1.weight", 0, rank: 2)) / Double(max(c.embed_dim, 1))
        let L = try w.dim("pos_1LC", 1, rank: 3)
        if let given = override["patch_nums"] as? [Int] {
            c.patch_nums = given
        } else if let known = knownSchedules[L] {
            c.patch_nums = known
        } else {
            throw ConfigSource.ambiguous(w, tensor: "pos_1LC", "\(L) tokens match no released schedule",
                                         example: "{\"patch_nums\": [1, 2, 3, …]}")
        }
        // Bounded before the token count is summed from it (a side of 2^32 would overflow the sum).
        try ConfigCheck(path: w.path).sizes(c.patch_nums, ConfigBounds.side, "patch_nums")
        guard c.patch_nums.reduce(0, { $0 + $1 * $1 }) == L else {
            throw WeightsError(.wrongShape, file: w.path, key: "pos_1LC",
                               "\(L) tokens, but patch_nums \(c.patch_nums) have \(c.patch_nums.reduce(0) { $0 + $1 * $1 })")
        }
        return c
    }

    /// Scale-0 input of one conditioning row: class embedding + pos_start + lvl_pos[0].
    func firstInput(label: Int, into x: UnsafeMutablePointer<Float>) {
        trunk.firstInput(label: label, pos: lvlPos.ptr, into: x)
    }

    /// Input of scale si ≥ 1: word_embed(area↓(f̂ → pn)) + lvl_pos over that scale's tokens
    /// (the whole accumulated f̂ pooled down, not just the previous scale's codes).
    func scaleInput(fHat: Tensor, scale si: Int, into x: UnsafeMutablePointer<Float>) {
        let pn = config.patch_nums[si]
        let down = Tensor(shape: [config.Cvae, pn, pn])
        areaResize(fHat, to: down)
        trunk.embed(map: down, pos: lvlPos.ptr + beginEnds[si] * C, into: x)
    }

    /// The `config` metadata `scalewise convert` writes for VAR, MVAR and M-VAR checkpoints.
    static func convertConfig(_ w: WeightSource) throws -> (json: String, classes: Int)? {
        let c = try config(from: w)
        return (try configJSON(c), c.num_classes)
    }

    /// The conditioning the blocks imply when no family says otherwise: M-VAR's when they carry Mamba.
    var blockConditioning: ScaleConditioning { isMambaVAR ? DecoupledConditioning() : NextScaleConditioning() }

    /// Bytes of a KV cache of `tokens` tokens (K and V, every block, `rows` conditioning rows; f32 entries, bf16
    /// in the bf16 and int8 paths).
    func kvCacheBytes(tokens: Int, rows: Int) -> Int {
        2 * (trunk.pool == .openmp ? 2 : 4) * rows * tokens * C * trunk.blocks.count
    }

    /// Bytes of VAR's KV cache after scale `si` (every token so far): the state VAR carries between scales.
    public func kvCacheBytes(afterScale si: Int, rows: Int) -> Int { kvCacheBytes(tokens: beginEnds[si + 1], rows: rows) }
}

/// What a scale of a model on VAR's checkpoint layout is conditioned on: the one thing VAR, MVAR and M-VAR do
/// differently at inference (they share the trunk, the tokenizer, f̂ and the sampler; `VARSession`).
protocol ScaleConditioning: Sendable {
    /// How the tokens of scale `si` (pn×pn) attend.
    func attention(scale si: Int, side pn: Int) -> AttentionScope
    /// Whether attention reaches the earlier scales (a KV cache over the whole sequence) or stays in the scale.
    var attendsToEarlierScales: Bool { get }
    /// Whether sampling at `cfg` skips the unconditional row.
    func unguided(cfg: Float) -> Bool
    /// MVAR's scale- and spatial-Markov conditioning: nothing but f̂ carries over between scales.
    var markov: Bool { get }
    /// Bytes of the state a session holds at its largest for `rows` conditioning rows.
    func stateBytes(_ model: VAR, rows: Int) -> Int
}

extension ScaleConditioning {
    func unguided(cfg: Float) -> Bool { cfg == 0 }
    var markov: Bool { false }
}

/// VAR's own (paper §3.2, the block-wise causal mask): every scale attends to itself and all earlier scales,
/// the earlier ones through the KV cache.
struct NextScaleConditioning: ScaleConditioning {
    func attention(scale si: Int, side pn: Int) -> AttentionScope { .cached }
    var attendsToEarlierScales: Bool { true }
    func stateBytes(_ model: VAR, rows: Int) -> Int { model.kvCacheBytes(afterScale: model.scales.count - 1, rows: rows) }
}

/// A generator on VAR's checkpoint layout; its `conditioning` makes it VAR, MVAR or M-VAR.
public final class VARGenerator: Generator {
    public let info: GeneratorInfo
    public let model: VAR
    let conditioning: ScaleConditioning
    public var schedules: [[ScaleShape]] { [model.scales] }

    init(info: GeneratorInfo, model: VAR, conditioning: ScaleConditioning) {
        (self.info, self.model, self.conditioning) = (info, model, conditioning)
    }

    public func makeSession(classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]?) throws -> GenerationSession {
        if let s = schedule, s != model.scales {
            throw EngineError.badArgument("\(family) runs its fixed schedule \(model.config.patch_nums); only FlexVAR takes others")
        }
        return try VARSession(model: model, classIndex: classIndex, options: options, conditioning: conditioning)
    }

    /// Every scale, every block; attention dense within the scale when it does not reach earlier ones (MVAR's
    /// windows cost less still), M-VAR's Mamba sublayers included; then one decode of the final f̂.
    public func flops(cfg: Float) -> (transformer: Double, decoder: Double) {
        let side = model.tokenizer.latentSide, rows = Double(conditioning.unguided(cfg: cfg) ? 1 : 2)
        let t = model.trunk.flops(lengths: model.config.patch_nums.map { $0 * $0 }, cached: conditioning.attendsToEarlierScales)
        return (t * rows, model.tokenizer.decoder.flops(h: side, w: side))
    }

    public func stateBytes(cfg: Float) -> Int { conditioning.stateBytes(model, rows: conditioning.unguided(cfg: cfg) ? 1 : 2) }

    /// Loads a checkpoint on VAR's layout with VAR's tokenizer (`vae_ch160v4096z32.pth` in the official release).
    static func load(_ w: WeightSource, _ ctx: LoadContext, family: ModelFamily,
                     conditioning: (VAR.Config) -> ScaleConditioning) throws -> Generator {
        let cfg = try VAR.config(from: w, override: ctx.config)
        let tw = try ctx.openTokenizer(for: w, official: "vae_ch160v4096z32.pth")
        let vq = try VQVAE(tw, config: try vqvaeConfig(tw, generator: cfg, override: ctx.tokenizerConfig))
        let model = try VAR(w, config: cfg, tokenizer: vq)
        return VARGenerator(info: try ctx.info(w, family: family, classes: cfg.num_classes), model: model,
                            conditioning: conditioning(cfg))
    }

    /// The last scale's side times the tokenizer's downsampling, from the two configs.
    static func imageSide(_ w: WeightSource, _ ctx: LoadContext) throws -> Int {
        let cfg = try VAR.config(from: w, override: ctx.config)
        let tw = try ctx.openTokenizer(for: w, official: "vae_ch160v4096z32.pth")
        let vq = try vqvaeConfig(tw, generator: cfg, override: ctx.tokenizerConfig)
        return (cfg.patch_nums.last ?? 0) << max(0, vq.ch_mult.count - 1)
    }

    /// A tokenizer's config: its `config` metadata (ours), else read from the shapes with the generator's
    /// schedule as `v_patch_nums` (official `build_vae_var` gives both the same `patch_nums`); `--tokenizer-config`
    /// on top.
    static func vqvaeConfig(_ w: WeightSource, generator: VAR.Config, override: String? = nil) throws -> VQVAE.Config {
        try ConfigSource.resolve(w, key: w.metadata["family"] == "vqvae" ? "config" : "tokenizer_config", override: override,
                                 flag: "--tokenizer-config") { w, o in
            var c = try VQVAE.inferConfig(w, o)
            c.v_patch_nums = generator.patch_nums
            return c
        }
    }
}

extension ModelFamily {
    /// VAR (Tian et al. 2024; official `models/var.py`). Detected last: the other families extend its keys.
    static let `var`: ModelFamily = ModelFamily(
        name: "var", title: "VAR",
        defaults: SamplingOptions(),  // VAR's demo: cfg 4 (ramp), top-k 900, top-p 0.95
        detect: { $0.has("head.weight") && $0.has("class_emb.weight") },
        load: { w, ctx in try VARGenerator.load(w, ctx, family: .var) { _ in NextScaleConditioning() } },
        convertConfig: VAR.convertConfig, officialTokenizer: "vae_ch160v4096z32.pth", imageSide: VARGenerator.imageSide)
}
