import Foundation
import ScalewiseKernels

/// AiM: raster-order next-token image generation with Mamba-2 only (arXiv 2408.12245).
/// The sequence is [c, tok_0, …, tok_254]: the class embedding c first (no position; it is also the adaLN
/// condition), then image token k as word_embeddings[k] + position_embeddings[k + shift]. Layer i (prenorm,
/// residual r): r ← r + h_{i−1};  h_i = gate ⊙ Mamba2(RMSNorm(r)·(1 + scale) + shift). Output:
/// logits = E·(RMSNorm(RMSNorm_f(r + h_last))·(1 + scale_f) + shift_f) with E the word embeddings (tied head).
/// No attention, no MLP: the state per layer is Mamba's conv window and SSM state, whatever the length.
public final class AiM: Sendable {
    public struct Config: Codable, Sendable, Equatable {
        public var d_model = 768
        public var n_layer = 24
        public var vocab_size = 16384
        public var num_classes = 1000
        public var num_tokens = 256
        /// adaLN-group (AiM-L/XL): one shared Linear gives `num_groups` (shift, scale, gate) triples; layer i
        /// adds group i mod num_groups to its own `scale_shift_table`.
        public var adaln_group = false
        public var num_groups: Int?
        public var norm_epsilon: Float?
        /// Image token k is fed at position k + shift: 1 in the released sampler (official checkpoints; training
        /// used k), 0 for ours, trained and sampled alike.
        public var sample_pos_shift: Int?
        public init() {}

        public var groups: Int { adaln_group ? num_groups ?? 4 : 1 }
        public var eps: Float { norm_epsilon ?? 1e-5 }
        public var posShift: Int { sample_pos_shift ?? 1 }
        /// Side of the square token map (16 for 256 tokens).
        public var side: Int { Int(Double(num_tokens).squareRoot().rounded()) }
    }

    struct Layer {
        let norm: Tensor  // norm.weight [D]
        let adaLN: Linear?  // adaLN_modulation.1 [3D, D] → shift, scale, gate (AiM-B)
        let scaleShiftTable: Tensor?  // scale_shift_table [1, 3, D] (adaLN-group)
        let mixer: Mamba2  // mixer.* (d_state 128, headdim 64 in the released models)
    }

    static let prefix = "mamba.backbone."
    /// The tied head is stored once; safetensors keeps whichever name it keeps.
    static let tiedNames = [prefix + "embeddings.word_embeddings.weight", "mamba.lm_head.weight"]

    public let config: Config
    public let tokenizer: FlexVQVAE?
    let wordEmbeddings: Tensor  // [V, D], also the LM head
    /// The LM head on the same weights, in the model's precision (bf16 for int8, like every vocabulary head):
    /// each token streams all V·D weights, so the head is most of a step's memory traffic.
    let head: Linear
    let positionEmbeddings: Tensor  // embeddings.position_embeddings.weight [num_tokens + 1, D]
    let classEmbeddings: Tensor  // cls_embed.embedding_table.weight [classes + 1, D]; last row = null class
    let adalnGroup: Linear?  // adaln_group.1 [groups·3D, D]
    let layers: [Layer]
    let normF: Tensor  // norm_f.weight [D]
    let finalNorm: Tensor  // final_layer.norm_final.weight [D]
    let finalAdaLN: Linear  // final_layer.adaLN_modulation.1 [2D, D] → shift, scale

    public var D: Int { config.d_model }
    public var nullClass: Int { config.num_classes }

    public init(_ w: WeightSource, config c: Config, tokenizer: FlexVQVAE?) throws {
        try c.validate(w)
        if let t = tokenizer, t.vocabSize != c.vocab_size {
            throw WeightsError.mismatch(w.path, "generator has \(c.vocab_size) codes, tokenizer \(t.vocabSize)")
        }
        guard c.side * c.side == c.num_tokens else {
            throw WeightsError.mismatch(w.path, "\(c.num_tokens) tokens are not a square map")
        }
        config = c
        self.tokenizer = tokenizer
        let D = c.d_model, p = Self.prefix
        let tied = Self.tiedNames.first(where: w.has) ?? Self.tiedNames[0]
        wordEmbeddings = try param(w, tied, [c.vocab_size, D])
        head = Linear(weight: wordEmbeddings, bias: nil, precision: Linear.precision(w, int8: false))
        positionEmbeddings = try param(w, p + "embeddings.position_embeddings.weight", [c.num_tokens + 1, D])
        classEmbeddings = try param(w, p + "cls_embed.embedding_table.weight", [c.num_classes + 1, D])
        adalnGroup = c.adaln_group ? try Linear(w, p + "adaln_group.1", cin: D, cout: c.groups * 3 * D) : nil
        layers = try (0..<c.n_layer).map { i in
            let lp = p + "layers.\(i)."
            return Layer(norm: try param(w, lp + "norm.weight", [D]),
                         adaLN: c.adaln_group ? nil : try Linear(w, lp + "adaLN_modulation.1", cin: D, cout: 3 * D),
                         scaleShiftTable: c.adaln_group ? try param(w, lp + "scale_shift_table", [1, 3, D]) : nil,
                         mixer: try Mamba2(w, lp + "mixer", dModel: D))
        }
        normF = try param(w, p + "norm_f.weight", [D])
        finalNorm = try param(w, p + "final_layer.norm_final.weight", [D])
        finalAdaLN = try Linear(w, p + "final_layer.adaLN_modulation.1", cin: D, cout: 2 * D)
    }

    /// The config from our metadata, or inferred from an official checkpoint's shapes (which sample with shift 1).
    public static func config(from w: WeightSource, override: String? = nil) throws -> Config {
        try ConfigSource.resolve(w, override: override, infer: inferConfig)
    }

    static func inferConfig(_ w: WeightSource, _ override: [String: Any]) throws -> Config {
        var c = Config()
        guard let tied = tiedNames.first(where: w.has) else {
            throw WeightsError.mismatch(w.path, "no `\(tiedNames[0])`: not an AiM checkpoint")
        }
        (c.vocab_size, c.d_model) = (try w.dim(tied, 0, rank: 2), try w.dim(tied, 1, rank: 2))
        c.n_layer = w.indexCount(prefix + "layers.")
        c.num_tokens = try w.dim(prefix + "embeddings.position_embeddings.weight", 0, rank: 2) - 1
        c.num_classes = try w.dim(prefix + "cls_embed.embedding_table.weight", 0, rank: 2) - 1
        c.adaln_group = w.has(prefix + "adaln_group.1.weight")
        if c.adaln_group { c.num_groups = try w.dim(prefix + "adaln_group.1.weight", 0, rank: 2) / max(1, 3 * c.d_model) }
        c.sample_pos_shift = 1
        return c
    }

    /// Sequence elements `range` of [c, tok_0, tok_1, …] for each conditioning row: [rows·|range|, D].
    func elements(_ range: Range<Int>, labels: [Int], tokens: [Int32], posShift: Int) -> Tensor {
        let n = range.count, x = Tensor(shape: [labels.count * n, D])
        for (r, label) in labels.enumerated() {
            for (i, j) in range.enumerated() {
                let dst = x.ptr + (r * n + i) * D
                guard j > 0 else {
                    dst.update(from: classEmbeddings.ptr + label * D, count: D)
                    continue
                }
                let e = wordEmbeddings.ptr + Int(tokens[j - 1]) * D, p = positionEmbeddings.ptr + (j - 1 + posShift) * D
                for c in 0..<D { dst[c] = e[c] + p[c] }
            }
        }
        return x
    }

    /// Teacher forcing from zero state in one chunked pass: logits [T, V] for `tokens` (T of them) of class
    /// `label`, logits[k] predicting tokens[k].
    public func teacherForcedLogits(tokens: [Int32], label: Int, posShift: Int) -> [Float] {
        let run = AiMRun(model: self, labels: [label])
        let x = elements(0..<tokens.count, labels: [label], tokens: tokens, posShift: posShift)
        run.forward(x, tokens: tokens.count, scan: .chunked(Mamba2.defaultChunk))
        return run.logits.array
    }
}

/// One image's pass through AiM: the conditioning rows ([class; null] with guidance), their adaLN modulations
/// (computed once), every layer's Mamba state and the last logits.
final class AiMRun {
    let model: AiM
    let labels: [Int]
    var rows: Int { labels.count }
    let layerMods: [Tensor]  // per layer [rows, 3D]: shift, scale, gate
    let finalMod: Tensor  // [rows, 2D]: shift, scale
    private(set) var states: [Mamba2State]
    private(set) var logits = Tensor(shape: [0])  // [rows·l, V]
    private let work = Mamba2Workspace()

    init(model: AiM, labels: [Int]) {
        self.model = model
        self.labels = labels
        let D = model.D, rows = labels.count
        let cond = Tensor(shape: [rows, D])
        for (r, label) in labels.enumerated() {
            (cond.ptr + r * D).update(from: model.classEmbeddings.ptr + label * D, count: D)
        }
        let condSiLU = siluCopy(cond)
        var group: Tensor?
        if let g = model.adalnGroup {
            group = Tensor(shape: [rows, g.cout])
            g(condSiLU.ptr, rows: rows, into: group!.ptr)
        }
        layerMods = model.layers.enumerated().map { i, layer in
            let m = Tensor(shape: [rows, 3 * D])
            if let lin = layer.adaLN {
                lin(condSiLU.ptr, rows: rows, into: m.ptr)
            } else if let table = layer.scaleShiftTable, let g = group {
                let k = i % model.config.groups
                for r in 0..<rows {
                    let src = g.ptr + r * g.shape[1] + k * 3 * D, dst = m.ptr + r * 3 * D
                    for c in 0..<(3 * D) { dst[c] = table.ptr[c] + src[c] }
                }
            }
            return m
        }
        finalMod = Tensor(shape: [rows, 2 * D])
        model.finalAdaLN(condSiLU.ptr, rows: rows, into: finalMod.ptr)
        states = model.layers.map { Mamba2State($0.mixer.config, rows: rows) }
    }

    /// Back to the start of the sequence.
    func reset() { states = model.layers.map { Mamba2State($0.mixer.config, rows: rows) } }

    /// Runs `l` elements per row (x [rows·l, D]) through the backbone, advancing the states; with `head`,
    /// fills `logits` [rows·l, V].
    func forward(_ x: Tensor, tokens l: Int, scan: Mamba2.Scan, head: Bool = true) {
        let pool: LoopPool = model.finalAdaLN.weight.precision == .fp32 ? .dispatch : .openmp
        Threads.$pool.withValue(pool) { forwardOnPool(x, tokens: l, scan: scan, head: head) }
    }

    private func forwardOnPool(_ x: Tensor, tokens l: Int, scan: Mamba2.Scan, head: Bool) {
        let D = model.D, n = rows * l, eps = model.config.eps
        let residual = x.copy(), h = Tensor(shape: [n, D]), normed = Tensor(shape: [n, D])
        for (i, layer) in model.layers.enumerated() {
            if i > 0 { add(h, into: residual) }
            rmsNorm(residual.ptr, rows: n, dim: D, weight: layer.norm.ptr, eps: eps, out: normed.ptr)
            modulate(normed, tokens: l, mod: layerMods[i], stride: 3 * D)
            layer.mixer(normed.ptr, rows: rows, tokens: l, state: states[i], scan: scan, work: work, into: h.ptr)
            for r in 0..<rows {
                let gate = layerMods[i].ptr + r * 3 * D + 2 * D
                for t in 0..<l {
                    let hp = h.ptr + (r * l + t) * D
                    for c in 0..<D { hp[c] *= gate[c] }
                }
            }
        }
        guard head else { return }
        add(h, into: residual)
        rmsNorm(residual.ptr, rows: n, dim: D, weight: model.normF.ptr, eps: eps, out: normed.ptr)
        rmsNorm(normed.ptr, rows: n, dim: D, weight: model.finalNorm.ptr, eps: eps, out: normed.ptr)
        modulate(normed, tokens: l, mod: finalMod, stride: 2 * D)
        if logits.count != n * model.config.vocab_size { logits = Tensor(shape: [n, model.config.vocab_size]) }
        model.head(normed.ptr, rows: n, into: logits.ptr)
    }

    /// x ← x·(1 + scale) + shift per conditioning row, with (shift, scale) the first two chunks of its `mod` row.
    private func modulate(_ x: Tensor, tokens l: Int, mod: Tensor, stride: Int) {
        let D = model.D
        for r in 0..<rows {
            let shift = mod.ptr + r * stride, scale = shift + D
            for t in 0..<l {
                let p = x.ptr + (r * l + t) * D
                for c in 0..<D { p[c] = p[c] * (1 + scale[c]) + shift[c] }
            }
        }
    }
}

/// An AiM generator: one step per row of the token map.
public final class AiMGenerator: Generator {
    public let info: GeneratorInfo
    public let model: AiM

    init(info: GeneratorInfo, model: AiM) { (self.info, self.model) = (info, model) }

    public var schedules: [[ScaleShape]] {
        [[ScaleShape](repeating: ScaleShape(1, model.config.side), count: model.config.side)]
    }

    public func makeSession(classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]?) throws -> GenerationSession {
        if let s = schedule, s != schedules[0] {
            throw EngineError.badArgument("AiM generates its \(model.config.num_tokens) tokens row by row; no other schedule")
        }
        return try AiMSession(model: model, classIndex: classIndex, options: options)
    }

    /// Per token and row: every layer's Mamba-2 and the tied head; then one decode of the full map.
    public func flops(cfg: Float) -> (transformer: Double, decoder: Double) {
        let c = model.config, perToken = model.layers.reduce(0) { $0 + $1.mixer.flops(tokens: 1) } + 2 * Double(c.d_model * c.vocab_size)
        return (perToken * Double(c.num_tokens) * (cfg == 1 ? 1 : 2), model.tokenizer?.decoder.flops(h: c.side, w: c.side) ?? 0)
    }

    /// Every layer's Mamba state: all a session keeps besides the tokens.
    public func stateBytes(cfg: Float) -> Int {
        model.layers.reduce(0) { $0 + Mamba2State.bytes($1.mixer.config, rows: cfg == 1 ? 1 : 2) }
    }

    static func load(_ w: WeightSource, _ ctx: LoadContext) throws -> Generator {
        let cfg = try AiM.config(from: w, override: ctx.config)
        let model = try AiM(w, config: cfg, tokenizer: try tokenizer(for: w, ctx))
        return AiMGenerator(info: try ctx.info(w, family: .aim, classes: cfg.num_classes), model: model)
    }

    /// AiM's LlamaGen VQ-16 tokenizer: inside the checkpoint under `vqvae.` (official files, ours), or the file
    /// named by `--tokenizer` / the `tokenizer` metadata. Its config is our `tokenizer_config` metadata (or a
    /// tokenizer file's own `config`), else read from its shapes.
    static func tokenizer(for w: WeightSource, _ ctx: LoadContext) throws -> FlexVQVAE {
        let (tw, c) = try tokenizerConfig(for: w, ctx)
        return try FlexVQVAE(tw, config: c)
    }

    /// The latent's side times the tokenizer's downsampling, from the two configs.
    static func imageSide(_ w: WeightSource, _ ctx: LoadContext) throws -> Int {
        let cfg = try AiM.config(from: w, override: ctx.config)
        return cfg.side << max(0, try tokenizerConfig(for: w, ctx).1.decoderMult.count - 1)
    }

    /// The tokenizer's weights and config, without loading it.
    static func tokenizerConfig(for w: WeightSource, _ ctx: LoadContext) throws -> (WeightSource, FlexVQVAE.Config) {
        var src: WeightSource = ctx.tokenizerWeights(w)
        if ctx.tokenizer != nil || w.metadata["tokenizer"] != nil {
            src = try ctx.openTokenizer(for: w, official: "")
        }
        let tw: WeightSource = src.has("vqvae.quantize.embedding.weight") ? PrefixedWeights(src, prefix: "vqvae.") : src
        // A generator file keeps its tokenizer's config under `tokenizer_config`; a tokenizer file of ours under `config`.
        let meta = ["tokenizer_config": w.metadata["tokenizer_config"] ?? src.metadata["tokenizer_config"]
                    ?? (src.metadata["family"] == "flexvqvae" ? src.metadata["config"] : nil)].compactMapValues { $0 }
        let c = try ConfigSource.resolve(MetadataOverlay(tw, meta), key: "tokenizer_config", override: ctx.tokenizerConfig,
                                         flag: "--tokenizer-config", infer: FlexVQVAE.inferConfig)
        return (tw, c)
    }
}

extension ModelFamily {
    /// AiM (Li et al. 2024, "Scalable Autoregressive Image Generation with Mamba"), detected by its tied word-embedding head.
    static let aim: ModelFamily = ModelFamily(
        name: "aim", title: "AiM",
        capabilities: FamilyCapabilities(stepUnit: "row"),
        defaults: SamplingOptions(cfg: 5, topK: 600, topP: 0.98, constantCFG: true),  // AiM's demo
        detect: { w in AiM.tiedNames.contains(where: w.has) },
        load: AiMGenerator.load,
        convertConfig: { w in
            let c = try AiM.config(from: w)  // the official safetensors; its tokenizer stays inside under `vqvae.`
            return (try configJSON(c), c.num_classes)
        },
        cfgModes: [.constant], imageSide: AiMGenerator.imageSide)
}
