import Foundation

// Configs come from files (a model's `config` metadata, or shapes inferred from an official checkpoint), so
// every field is range-checked and compared with the tensors actually present before anything is sized by
// it: a `depth` of 2^31 must not reserve 2^31 blocks, a `num_heads` of 0 must not divide by zero, a huge
// `ch` must not overflow a channel count.

extension WeightSource {
    /// Dimension `i` of `key`, which must have exactly `rank` dims (inferring a config from an official
    /// checkpoint must not index past a hostile shape).
    func dim(_ key: String, _ i: Int, rank: Int) throws -> Int {
        let s = try shape(key)
        guard s.count == rank, i < rank else {
            throw WeightsError(.wrongShape, file: path, key: key, "shape \(s) has \(s.count) dims, expected \(rank)")
        }
        return s[i]
    }

    /// 1 + the largest N over keys `prefix`N`.…` (0 when there are none); odd keys are skipped, not trapped on.
    func maxIndex(_ prefix: String) -> Int {
        keys.reduce(0) { m, k in
            guard k.hasPrefix(prefix), let n = Int(k.dropFirst(prefix.count).prefix { $0 != "." }), n >= 0, n < 1 << 20 else { return m }
            return max(m, n + 1)
        }
    }
}

/// Range checks with one message format: "<file>: config <name> <value> is outside <range>".
struct ConfigCheck {
    let path: String

    func fail(_ detail: String) -> WeightsError { WeightsError(.unsupported, file: path, "config: " + detail) }

    func int(_ v: Int, _ range: ClosedRange<Int>, _ name: String) throws {
        guard range.contains(v) else { throw fail("\(name) \(v) is outside \(range.lowerBound)…\(range.upperBound)") }
    }

    func optionalInt(_ v: Int?, _ range: ClosedRange<Int>, _ name: String) throws {
        if let v { try int(v, range, name) }
    }

    func real(_ v: Double, _ range: ClosedRange<Double>, _ name: String) throws {
        guard v.isFinite, range.contains(v) else { throw fail("\(name) \(v) is outside \(range.lowerBound)…\(range.upperBound)") }
    }

    /// A list of sizes: 1…64 entries in `range`, strictly increasing.
    func sizes(_ v: [Int], _ range: ClosedRange<Int>, _ name: String) throws {
        guard (1...64).contains(v.count) else { throw fail("\(name) has \(v.count) entries (1…64 allowed)") }
        for x in v { try int(x, range, name + " entry") }
        for (a, b) in zip(v, v.dropFirst()) where b <= a { throw fail("\(name) \(v) does not increase") }
    }

    /// `count` blocks named `prefix`0 … in the file, exactly.
    func blocks(_ count: Int, _ name: String, in w: WeightSource, prefix: String) throws {
        let consecutive = w.indexCount(prefix), highest = w.maxIndex(prefix)
        guard count == consecutive, consecutive == highest else {
            throw fail("\(name) \(count), but the file holds \(consecutive == highest ? "\(consecutive)" : "\(consecutive) consecutive of \(highest)") `\(prefix)N` blocks")
        }
    }
}

/// Bounds shared by the families. Generous for real models (VAR-d36 has C = 2304, 30 heads, 4096 codes),
/// tight enough that no product of two of them overflows.
enum ConfigBounds {
    static let width = 1...65536
    static let depth = 1...1024
    static let classes = 1...(1 << 24)
    static let vocab = 1...(1 << 24)
    static let codeDim = 1...4096
    static let side = 1...1024
}

extension ConfigCheck {
    /// The AdaLN transformer that VAR, MVAR, M-VAR and FlexVAR share: its sizes, and a depth that matches the file.
    func trunk(depth: Int, width: Int, heads: Int, mlpRatio: Double, eps: Float, in w: WeightSource) throws {
        try int(depth, ConfigBounds.depth, "depth")
        try blocks(depth, "depth", in: w, prefix: "blocks.")
        try int(width, ConfigBounds.width, "embed_dim")
        try int(heads, 1...width, "num_heads")
        guard width % heads == 0 else { throw fail("embed_dim \(width) is not a multiple of num_heads \(heads)") }
        try real(mlpRatio, 0.01...64, "mlp_ratio")
        try real(Double(eps), 1e-12...1, "norm_eps")
    }
}

extension VAR.Config {
    func validate(_ w: WeightSource) throws {
        let c = ConfigCheck(path: w.path)
        try c.trunk(depth: depth, width: embed_dim, heads: num_heads, mlpRatio: mlp_ratio, eps: norm_eps, in: w)
        try c.sizes(patch_nums, ConfigBounds.side, "patch_nums")
        try c.int(num_classes, ConfigBounds.classes, "num_classes")
        try c.int(vocab_size, ConfigBounds.vocab, "vocab_size")
        try c.int(Cvae, ConfigBounds.codeDim, "Cvae")
        if let k = kernel_size {
            try c.int(k, 1...(patch_nums.last ?? 1) * 2 + 1, "kernel_size")
            guard k % 2 == 1 else { throw c.fail("kernel_size \(k) is not odd") }
        }
        try c.optionalInt(refine_step, 0...patch_nums.count, "refine_step")
        // Tokens over all scales: each side ≤ 1024 and ≤ 64 scales, so this cannot overflow.
        try c.int(patch_nums.reduce(0) { $0 + $1 * $1 }, 1...(1 << 22), "total tokens of patch_nums")
    }
}

extension FlexVAR.Config {
    func validate(_ w: WeightSource) throws {
        let c = ConfigCheck(path: w.path)
        try c.trunk(depth: depth, width: embed_dim, heads: num_heads, mlpRatio: mlp_ratio, eps: norm_eps, in: w)
        try c.int(num_classes, ConfigBounds.classes, "num_classes")
        try c.int(vocab_size, ConfigBounds.vocab, "vocab_size")
        try c.int(Cvae, ConfigBounds.codeDim, "Cvae")
        try c.int(pos_side, ConfigBounds.side, "pos_side")
        try c.int(max_pn, 0...ScheduleRules.maxSide, "max_pn")
        try c.sizes(patch_nums, 1...ScheduleRules.maxSide, "patch_nums")
        guard patch_nums.first == 1 else { throw c.fail("patch_nums \(patch_nums) does not start at 1") }
    }
}

extension AiM.Config {
    func validate(_ w: WeightSource) throws {
        let c = ConfigCheck(path: w.path)
        try c.int(d_model, ConfigBounds.width, "d_model")
        try c.int(n_layer, ConfigBounds.depth, "n_layer")
        try c.blocks(n_layer, "n_layer", in: w, prefix: AiM.prefix + "layers.")
        try c.int(vocab_size, ConfigBounds.vocab, "vocab_size")
        try c.int(num_classes, ConfigBounds.classes, "num_classes")
        try c.int(num_tokens, 1...(ScheduleRules.maxSide * ScheduleRules.maxSide), "num_tokens")
        if adaln_group { try c.optionalInt(num_groups, 1...64, "num_groups") }
        if let e = norm_epsilon { try c.real(Double(e), 1e-12...1, "norm_epsilon") }
        try c.optionalInt(sample_pos_shift, 0...1, "sample_pos_shift")
    }
}

/// The convolutional tokenizers' shared fields.
private func validateConvNet(_ c: ConfigCheck, ch: Int, chMult: [Int], numResBlocks: Int, zChannels: Int) throws {
    try c.int(ch, 1...4096, "ch")
    guard (1...8).contains(chMult.count) else { throw c.fail("ch_mult has \(chMult.count) entries (1…8 allowed)") }
    for m in chMult { try c.int(m, 1...64, "ch_mult entry") }
    try c.int(numResBlocks, 0...16, "num_res_blocks")
    try c.int(zChannels, ConfigBounds.codeDim, "z_channels")
}

extension VQVAE.Config {
    func validate(_ w: WeightSource) throws {
        let c = ConfigCheck(path: w.path)
        try c.int(vocab_size, ConfigBounds.vocab, "vocab_size")
        try validateConvNet(c, ch: ch, chMult: ch_mult, numResBlocks: num_res_blocks, zChannels: z_channels)
        try c.sizes(v_patch_nums, ConfigBounds.side, "v_patch_nums")
        try c.real(Double(quant_resi), -1...1, "quant_resi")
        try c.int(share_quant_resi, 0...64, "share_quant_resi")
        try c.optionalInt(default_qresi_counts, 1...64, "default_qresi_counts")
        // The φ convs the config names must be the ones the file holds (official `models/quant.py`:
        // `PhiShared`, `PhiPartiallyShared`, `PhiNonShared`).
        guard abs(quant_resi) > 1e-6 else { return }
        let q = "quantize.quant_resi."
        switch share_quant_resi {
        case 0: try c.blocks(default_qresi_counts ?? v_patch_nums.count, "share_quant_resi 0: φ count", in: w, prefix: q)
        case 1:
            guard w.has(q + "qresi.weight") else { throw c.fail("share_quant_resi 1, but the file holds no `\(q)qresi`") }
        default: try c.blocks(share_quant_resi, "share_quant_resi", in: w, prefix: q + "qresi_ls.")
        }
    }
}

extension FlexVQVAE.Config {
    func validate(_ w: WeightSource) throws {
        let c = ConfigCheck(path: w.path)
        try c.int(codebook_size, ConfigBounds.vocab, "codebook_size")
        try c.int(codebook_embed_dim, ConfigBounds.codeDim, "codebook_embed_dim")
        try validateConvNet(c, ch: ch, chMult: ch_mult, numResBlocks: num_res_blocks, zChannels: z_channels)
        for (mult, name) in [(encoder_ch_mult, "encoder_ch_mult"), (decoder_ch_mult, "decoder_ch_mult")] {
            guard let mult else { continue }
            guard (1...8).contains(mult.count) else { throw c.fail("\(name) has \(mult.count) entries (1…8 allowed)") }
            for m in mult { try c.int(m, 1...64, name + " entry") }
        }
    }
}
