import Foundation

/// A family's or tokenizer's config: `Codable` under the official constructor's argument names, with the
/// reference constructor's defaults as `init()`, and range and consistency checks against the file's tensors
/// (`Validation/ConfigLimits.swift`).
protocol ModelConfig: Codable {
    init()
    func validate(_ w: WeightSource) throws
}

/// Where a config came from, in order of precedence: `--config` (or `--tokenizer-config`) over the file's
/// `config` metadata, else over what the tensor shapes of an official checkpoint say. Keys missing from a JSON
/// config keep the reference defaults; a malformed one is an error, never ignored, and whatever the source, the
/// result is validated before anything is sized by it.
enum ConfigSource {
    /// A JSON object (`{...}`) or the path of a file holding one → its keys.
    static func object(_ text: String, file: String, what: String) throws -> [String: Any] {
        var json = text
        if !text.trimmingCharacters(in: .whitespaces).hasPrefix("{") {
            guard let data = try? SafeOpen.readRegularFile(text, limit: 1 << 20) else {
                throw WeightsError(.badArgument, file: file, "\(what) is neither a JSON object nor a readable file of at most 1 MiB: \(text)")
            }
            json = String(decoding: data, as: UTF8.self)
        }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw WeightsError(.invalidJSON, file: file, "\(what) is not a JSON object")
        }
        return obj
    }

    /// `obj` over `base`: keys it names replace base's; the rest stay.
    static func decode<C: ModelConfig>(_ obj: [String: Any], over base: C, file: String, what: String) throws -> C {
        guard var merged = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(base)) as? [String: Any] else {
            throw WeightsError(.invalidJSON, file: file, "\(what): cannot encode the defaults")
        }
        merged.merge(obj) { $1 }
        do {
            return try JSONDecoder().decode(C.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            let key = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            throw WeightsError(.invalidJSON, file: file, "\(what): key '\(key)' has the wrong type")
        } catch {
            throw WeightsError(.invalidJSON, file: file, "\(what) does not decode as a config")
        }
    }

    /// The config of `w`: its metadata `key` (over the reference defaults), else `infer` from the shapes (which
    /// may consult `override` where the shapes are ambiguous), then `override` (`--config`) on top; validated.
    static func resolve<C: ModelConfig>(_ w: WeightSource, key: String = "config", override text: String?,
                                        flag: String = "--config",
                                        infer: (WeightSource, [String: Any]) throws -> C) throws -> C {
        let override = try text.map { try object($0, file: w.path, what: flag) } ?? [:]
        var c: C
        if let json = w.metadata[key] {
            c = try decode(try object(json, file: w.path, what: "metadata '\(key)'"), over: C(), file: w.path,
                           what: "metadata '\(key)'")
        } else {
            c = try infer(w, override)
        }
        if !override.isEmpty { c = try decode(override, over: c, file: w.path, what: flag) }
        try c.validate(w)
        return c
    }

    /// The error for a shape that does not determine a config key: names the tensor and the JSON to pass.
    static func ambiguous(_ w: WeightSource, tensor: String, _ why: String, flag: String = "--config",
                          example: String) -> WeightsError {
        WeightsError(.unsupported, file: w.path, key: tensor, "\(why); pass \(flag) '\(example)'")
    }
}

/// Channel widths per level → (ch, ch_mult) with ch·ch_mult[i] = widths[i]: `ch` is `first` (the encoder's
/// `conv_in` width) when every width is a multiple of it, else their greatest common divisor. Only the products
/// reach the layers, so any such factoring loads the same network.
func factorWidths(_ widths: [Int], first: Int?) -> (ch: Int, mult: [Int]) {
    func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
    var ch = first ?? widths[0]
    if ch <= 0 || widths.contains(where: { $0 % ch != 0 }) { ch = widths.reduce(0, gcd) }
    return (max(ch, 1), widths.map { $0 / max(ch, 1) })
}

extension VQVAE.Config: ModelConfig {}
extension FlexVQVAE.Config: ModelConfig {}
extension VAR.Config: ModelConfig {}
extension FlexVAR.Config: ModelConfig {}
extension AiM.Config: ModelConfig {}

extension VQVAE {
    /// VAR's tokenizer config from the shapes of `models/vqvae.py: VQVAE`'s state dict: vocabulary and Cvae from
    /// the codebook, the level widths from `decoder.up.{i}` (ch from `encoder.conv_in` when present), the
    /// residual blocks, the attention blocks present, and the φ sharing from `quantize.quant_resi`'s keys
    /// (`qresi` = one shared φ, `qresi_ls.{k}` = K partially shared, `{k}` = one per scale, none = identity).
    /// `quant_resi` (the φ mixing ratio) is not in the shapes: the reference default 0.5 unless `--tokenizer-config`
    /// says otherwise; `v_patch_nums` comes from the generator.
    static func inferConfig(_ w: WeightSource, _ override: [String: Any]) throws -> Config {
        var c = Config()
        let cb = try w.shape("quantize.embedding.weight")
        guard cb.count == 2 else { throw WeightsError(.badShape, file: w.path, key: "quantize.embedding.weight", "not [V, Cvae]") }
        (c.vocab_size, c.z_channels) = (cb[0], cb[1])
        let n = w.indexCount("decoder.up.")
        guard n > 0 else { throw WeightsError.mismatch(w.path, "no `decoder.up.*` keys: not a VQ-VAE of VAR's layout") }
        let widths = try (0..<n).map { try w.dim("decoder.up.\($0).block.0.conv1.weight", 0, rank: 4) }
        let first = w.has("encoder.conv_in.weight") ? try w.dim("encoder.conv_in.weight", 0, rank: 4) : nil
        (c.ch, c.ch_mult) = factorWidths(widths, first: first)
        c.num_res_blocks = max(1, w.indexCount("decoder.up.0.block.") - 1)
        c.using_sa = w.has("decoder.up.\(n - 1).attn.0.norm.weight")
        c.using_mid_sa = w.has("decoder.mid.attn_1.norm.weight")
        let q = "quantize.quant_resi."
        if w.has(q + "qresi.weight") {
            c.share_quant_resi = 1
        } else if case let k = w.indexCount(q + "qresi_ls."), k > 0 {
            c.share_quant_resi = k
        } else if case let k = w.indexCount(q), k > 0 {
            c.share_quant_resi = 0
            c.default_qresi_counts = k
        } else {
            c.quant_resi = 0
        }
        return c
    }
}

extension FlexVQVAE {
    /// The LlamaGen VQ's config (FlexVAR's and AiM's tokenizer; LlamaGen `tokenizer/tokenizer_image/vq_model.py`
    /// `ModelArgs`) from its shapes: codebook size and dimension, z_channels from `post_quant_conv`, the encoder's
    /// and the decoder's level widths separately (`encoder_ch_mult`, `decoder_ch_mult`), the residual blocks.
    static func inferConfig(_ w: WeightSource, _ override: [String: Any]) throws -> Config {
        var c = Config()
        let cb = try w.shape("quantize.embedding.weight")
        guard cb.count == 2 else { throw WeightsError(.badShape, file: w.path, key: "quantize.embedding.weight", "not [V, D]") }
        (c.codebook_size, c.codebook_embed_dim) = (cb[0], cb[1])
        c.z_channels = try w.dim("post_quant_conv.weight", 0, rank: 4)
        let n = w.indexCount("decoder.conv_blocks.")
        guard n > 0 else { throw WeightsError.mismatch(w.path, "no `decoder.conv_blocks.*` keys: not a LlamaGen VQ") }
        // decoder.conv_blocks.0 is the deepest level (ch·ch_mult[-1]); the list runs the other way.
        let dec = try (0..<n).reversed().map { try w.dim("decoder.conv_blocks.\($0).res.0.conv1.weight", 0, rank: 4) }
        let m = w.indexCount("encoder.conv_blocks.")
        let enc = try (0..<m).map { try w.dim("encoder.conv_blocks.\($0).res.0.conv1.weight", 0, rank: 4) }
        let first = w.has("encoder.conv_in.weight") ? try w.dim("encoder.conv_in.weight", 0, rank: 4) : nil
        let (ch, decMult) = factorWidths(dec + enc, first: first)
        c.ch = ch
        c.ch_mult = Array(decMult.prefix(n))
        let encMult = Array(decMult.dropFirst(n))
        if !encMult.isEmpty && encMult != c.ch_mult {
            c.decoder_ch_mult = c.ch_mult
            c.encoder_ch_mult = encMult
        }
        c.num_res_blocks = max(1, w.indexCount("decoder.conv_blocks.0.res.") - 1)
        return c
    }
}

/// A weight source with other metadata (a tokenizer stored inside a generator file, read with the generator's
/// `tokenizer_config`).
struct MetadataOverlay: WeightSource {
    let base: WeightSource
    let metadata: [String: String]

    init(_ base: WeightSource, _ metadata: [String: String]) {
        self.base = base
        self.metadata = metadata
    }

    var path: String { base.path }
    var keys: [String] { base.keys }
    func has(_ key: String) -> Bool { base.has(key) }
    func shape(_ key: String) throws -> [Int] { try base.shape(key) }
    func dtype(_ key: String) throws -> DType { try base.dtype(key) }
    func floats(_ key: String) throws -> [Float] { try base.floats(key) }
    func ints(_ key: String) throws -> [Int] { try base.ints(key) }
    var linearPrecision: Precision { base.linearPrecision }
}

/// The key prefix under which a weight source reads its file (a tokenizer inside a one-file model: `tokenizer.`).
func keyPrefix(of w: WeightSource) -> String {
    if let p = w as? PrefixedWeights { return keyPrefix(of: p.base) + p.prefix }
    if let p = w as? PrecisionWeights { return keyPrefix(of: p.base) }
    if let m = w as? MetadataOverlay { return keyPrefix(of: m.base) }
    return ""
}

/// A file opened again for the tensors a model loads on demand (a tokenizer's encoder), under the same prefix.
func reopen(_ path: String, prefix: String) throws -> WeightSource {
    let w = try ModelLoader.openWeights(path)
    return prefix.isEmpty ? w : PrefixedWeights(w, prefix: prefix)
}
