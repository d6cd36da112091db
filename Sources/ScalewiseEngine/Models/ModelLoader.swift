import Foundation
import ScalewiseKernels

/// Finds and loads generators: our `.safetensors` files (family + config in the metadata) and the official
/// `.pth` checkpoints (family and config inferred from the keys and shapes).
public enum ModelLoader {
    /// Folders searched for models, in order: `weights/` next to the repository the binary was built in,
    /// `$SCALEWISE_MODELS` (colon-separated), `~/.local/share/scalewise/models`.
    public static var searchPaths: [String] {
        var paths: [String] = []
        if let repo = repositoryRoot() { paths.append(repo + "/weights") }
        if let env = ProcessInfo.processInfo.environment["SCALEWISE_MODELS"] {
            paths += env.split(separator: ":").map(String.init)
        }
        paths.append(NSHomeDirectory() + "/.local/share/scalewise/models")
        return paths
    }

    /// The repository root, found from the executable's location (`.build/<config>/scalewise`).
    public static func repositoryRoot() -> String? {
        var url = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        for _ in 0..<5 {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
        }
        let cwd = FileManager.default.currentDirectoryPath
        return FileManager.default.fileExists(atPath: cwd + "/Package.swift") ? cwd : nil
    }

    public static func openWeights(_ path: String) throws -> WeightSource {
        guard FileManager.default.fileExists(atPath: path) else { throw WeightsError.io(path, "no such file") }
        if path.hasSuffix(".pth") || path.hasSuffix(".pt") || path.hasSuffix(".bin") { return try PthFile(path: path) }
        return try SafeTensorsFile(path: path)
    }

    /// Generator files found in the search paths (tokenizers excluded), sorted by name.
    public static func availableModels() -> [String] {
        var found: [String] = []
        for dir in searchPaths {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for n in names.sorted() where n.hasSuffix(".safetensors") || n.hasSuffix(".pth") {
                let p = dir + "/" + n
                if let w = try? openWeights(p), isGenerator(w) { found.append(p) }
            }
        }
        return found
    }

    /// A name ("glyphs-var"), a file name, or a path → a file path.
    public static func resolve(_ model: String) throws -> String {
        if model.contains("/") || FileManager.default.fileExists(atPath: model) { return model }
        for dir in searchPaths {
            for candidate in [model, model + ".safetensors", model + ".pth"] {
                let p = dir + "/" + candidate
                if FileManager.default.fileExists(atPath: p) { return p }
            }
        }
        throw WeightsError.io(model, "no such model in \(searchPaths.joined(separator: ", "))")
    }

    /// Shipped generators in the order the TUI and `generate` prefer them when no model is named: the 64-px VAR
    /// (the issue's miniature of VAR-256: 16×16 latent, VAR's 10 scales), then the 32-px one.
    public static let preferredDefaults = ["glyphs64-var.safetensors", "glyphs-var.safetensors"]

    /// The model the TUI and `generate` use when none is named.
    public static func defaultModel() throws -> String {
        if let p = preferredDefault(among: availableModels()) { return p }
        throw WeightsError.io("weights/", "no model found in \(searchPaths.joined(separator: ", "))")
    }

    /// The first of `preferredDefaults` found in `paths` (in search-path order), else the first path.
    public static func preferredDefault(among paths: [String]) -> String? {
        for name in preferredDefaults {
            if let p = paths.first(where: { $0.hasSuffix("/" + name) }) { return p }
        }
        return paths.first
    }

    static func isGenerator(_ w: WeightSource) -> Bool {
        if let f = w.metadata["family"] { return !["vqvae", "flexvqvae"].contains(f) }
        return w.has("head.weight") || family(of: w) == "aim"
    }

    public static func family(of w: WeightSource) -> String {
        if let f = w.metadata["family"] { return f }
        if let wrapper = (w as? PthFile)?.statePath, wrapper.contains("mvar_wo_ddp") { return "mvar" }
        if w.has("quantize.embedding.weight") { return w.has("decoder.conv_blocks.0.res.0.conv1.weight") ? "flexvqvae" : "vqvae" }
        if let s = try? w.shape("pos_1LC"), s.count == 4 { return "flexvar" }
        if w.has("blocks.0.mamba.in_proj.weight") { return "mambavar" }
        if AiM.tiedNames.contains(where: w.has) { return "aim" }
        return "var"
    }

    /// Loads a generator and the tokenizer it pairs with (metadata `tokenizer`, else `tokenizer` argument,
    /// else the official tokenizer file name in the same folder). The generator's linear layers are held and
    /// run in `precision`; the tokenizer stays fp32.
    public static func load(_ model: String, tokenizer: String? = nil, precision: Precision = .fp32) throws -> Generator {
        let path = try resolve(model)
        let file = try openWeights(path)
        let fam = family(of: file)
        let w = PrecisionWeights(file, precision: precision)
        guard isGenerator(w) else { throw WeightsError.mismatch(path, "is a tokenizer (\(fam)), not a generator") }
        let folder = (path as NSString).deletingLastPathComponent, dir = folder.isEmpty ? "." : folder
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        switch fam {
        case "var", "mvar", "mambavar":
            let tokPath = try tokenizerPath(for: w, dir: dir, explicit: tokenizer, official: "vae_ch160v4096z32.pth")
            let tw = tokenizerWeights(try openWeights(tokPath), precision)
            let vq = try VQVAE(tw, config: try vqvaeConfig(tw))
            let cfg = try VAR.config(from: w)
            let m = try VAR(w, config: cfg, tokenizer: vq)
            return VARGenerator(model: m, name: name, family: fam, classNames: classNames(w, count: cfg.num_classes),
                                defaults: try defaults(w, family: fam), parameterCount: w.parameterCount, precision: precision)
        case "flexvar":
            let tokPath = try tokenizerPath(for: w, dir: dir, explicit: tokenizer, official: "FlexVAE.pth")
            let tw = tokenizerWeights(try openWeights(tokPath), precision)
            var tc = FlexVQVAE.Config()
            if let s = tw.metadata["config"] { tc = try decodeConfig(FlexVQVAE.Config.self, s, path: tw.path) }
            let cfg = try FlexVAR.config(from: w)
            let m = try FlexVAR(w, config: cfg, tokenizer: try FlexVQVAE(tw, config: tc))
            return FlexVARGenerator(model: m, name: name, classNames: classNames(w, count: cfg.num_classes),
                                    defaults: try defaults(w, family: fam), parameterCount: w.parameterCount, precision: precision)
        case "aim":
            let cfg = try AiM.config(from: w)
            let m = try AiM(w, config: cfg, tokenizer: try aimTokenizer(for: w, dir: dir, explicit: tokenizer, precision: precision))
            return AiMGenerator(model: m, name: name, classNames: classNames(w, count: cfg.num_classes),
                                defaults: try defaults(w, family: fam),
                                parameterCount: w.parameterCount, precision: precision)
        default:
            throw WeightsError.mismatch(path, "model family '\(fam)' is not supported yet")
        }
    }

    /// A tokenizer's weights for a generator loaded in `precision`: its convolutions run in bf16 unless the
    /// generator is fp32 (int8 convolutions are not offered: the decoder makes the pixels).
    static func tokenizerWeights(_ w: WeightSource, _ precision: Precision) -> WeightSource {
        PrecisionWeights(w, precision: precision == .fp32 ? .fp32 : .bf16)
    }

    static func tokenizerPath(for w: WeightSource, dir: String, explicit: String?, official: String) throws -> String {
        if let t = explicit { return t }
        if let t = w.metadata["tokenizer"] { return t.hasPrefix("/") ? t : dir + "/" + t }
        let p = dir + "/" + official
        if FileManager.default.fileExists(atPath: p) { return p }
        throw WeightsError.io(w.path, "no tokenizer: put \(official) next to it or pass --tokenizer")
    }

    /// AiM's LlamaGen VQ-16 tokenizer: inside the checkpoint under `vqvae.` (official files, ours), or the file
    /// named by `--tokenizer` / the `tokenizer` metadata. Its config is our `tokenizer_config` metadata (or a
    /// tokenizer file's own `config`), else VQ-16's with the codebook's shape.
    static func aimTokenizer(for w: WeightSource, dir: String, explicit: String?, precision: Precision = .fp32) throws -> FlexVQVAE {
        var src: WeightSource = tokenizerWeights(w, precision)
        if let t = explicit {
            src = tokenizerWeights(try openWeights(t), precision)
        } else if let t = w.metadata["tokenizer"] {
            src = tokenizerWeights(try openWeights(t.hasPrefix("/") ? t : dir + "/" + t), precision)
        }
        let tw: WeightSource = src.has("vqvae.quantize.embedding.weight") ? PrefixedWeights(src, prefix: "vqvae.") : src
        var c = FlexVQVAE.Config()
        // A separate tokenizer file of ours (family flexvqvae) carries its own `config`.
        let own = src.metadata["family"] == "flexvqvae" ? src.metadata["config"] : nil
        if let s = w.metadata["tokenizer_config"] ?? src.metadata["tokenizer_config"] ?? own {
            c = try decodeConfig(FlexVQVAE.Config.self, s, path: src.path)
        } else {
            c.codebook_size = try tw.dim("quantize.embedding.weight", 0, rank: 2)
            c.codebook_embed_dim = try tw.dim("quantize.embedding.weight", 1, rank: 2)
        }
        return try FlexVQVAE(tw, config: c)
    }

    static func vqvaeConfig(_ w: WeightSource) throws -> VQVAE.Config {
        if let s = w.metadata["config"] { return try decodeConfig(VQVAE.Config.self, s, path: w.path) }
        return VQVAE.Config()  // the official vae_ch160v4096z32
    }

    public static func classNames(_ w: WeightSource, count: Int) -> [String] {
        if let s = w.metadata["classes"], let d = s.data(using: .utf8),
           let names = try? JSONDecoder().decode([String].self, from: d), names.count == count {
            return names
        }
        if count == 1000, let names = imageNetClasses() { return names }
        return (0..<count).map { "class \($0)" }
    }

    /// ImageNet-1k class names from `assets/imagenet_classes.txt`, one per line.
    static func imageNetClasses() -> [String]? {
        guard let root = repositoryRoot(),
              let text = try? String(contentsOfFile: root + "/assets/imagenet_classes.txt", encoding: .utf8) else { return nil }
        let names = text.split(separator: "\n").map(String.init)
        return names.count == 1000 ? names : nil
    }

    /// The file's `defaults` metadata over the family's official demo settings.
    static func defaults(_ w: WeightSource, family: String) throws -> SamplingOptions {
        var o: SamplingOptions
        switch family {
        case "flexvar": o = SamplingOptions(cfg: 4, topK: 900, topP: 0.95, constantCFG: true)  // inference_c2i.py (LlamaGen CFG)
        case "mvar": o = SamplingOptions(cfg: 1.4, topK: 900, topP: 0.96)  // run_mvar_demo.py
        case "aim": o = SamplingOptions(cfg: 5, topK: 600, topP: 0.98)  // AiM's demo
        default: o = SamplingOptions()  // VAR's demo: cfg 4 (ramp), top-k 900, top-p 0.95
        }
        guard let s = w.metadata["defaults"] else { return o }
        return try SamplingRules.applyingDefaults(s, to: o, path: w.path)
    }
}

/// A view of the tensors under `prefix` with the prefix removed (AiM's tokenizer lives under `vqvae.`).
struct PrefixedWeights: WeightSource {
    let base: WeightSource
    let prefix: String

    init(_ base: WeightSource, prefix: String) {
        self.base = base
        self.prefix = prefix
    }

    var path: String { base.path }
    var keys: [String] { base.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) } }
    var metadata: [String: String] { base.metadata }
    func has(_ key: String) -> Bool { base.has(prefix + key) }
    func shape(_ key: String) throws -> [Int] { try base.shape(prefix + key) }
    func dtype(_ key: String) throws -> DType { try base.dtype(prefix + key) }
    func floats(_ key: String) throws -> [Float] { try base.floats(prefix + key) }
    func ints(_ key: String) throws -> [Int] { try base.ints(prefix + key) }
    var linearPrecision: Precision { base.linearPrecision }
}

extension WeightSource {
    /// How many consecutive indices i have keys `prefix` + "i." (layers, blocks).
    func indexCount(_ prefix: String) -> Int {
        let found = Set(keys.compactMap { k -> Int? in
            k.hasPrefix(prefix) ? Int(k.dropFirst(prefix.count).prefix { $0 != "." }) : nil
        })
        var n = 0
        while found.contains(n) { n += 1 }
        return n
    }
}
