import Foundation
import ScalewiseKernels

/// VAR: next-scale prediction (Tian et al. 2024). The base of the family:
/// class token → scale 1; every later scale reads area↓(f̂) of the scales before it, attends to all
/// earlier scales through the KV cache, and predicts that scale's residual tokens.
public final class VAR: @unchecked Sendable {
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

    /// Reads the config from a file's metadata, or infers it from tensor shapes (official `.pth` files).
    public static func config(from w: WeightSource) throws -> Config {
        if let json = w.metadata["config"] {
            let c = try decodeConfig(Config.self, json, path: w.path)
            try c.validate(w)
            return c
        }
        var c = Config()
        let depth = w.maxIndex("blocks.")
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
        switch try w.dim("pos_1LC", 1, rank: 3) {
        case 680: c.patch_nums = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]
        case 2240: c.patch_nums = [1, 2, 3, 4, 6, 9, 13, 18, 24, 32]
        case let n: throw WeightsError.mismatch(w.path, "unknown schedule for \(n) tokens; add `config` metadata")
        }
        try c.validate(w)
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
}
