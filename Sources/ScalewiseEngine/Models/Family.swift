import Foundation
import ScalewiseKernels

/// What a family can do, asked by the CLI and the TUI instead of which class a generator is.
public struct FamilyCapabilities: Sendable, Equatable {
    /// Zero-shot editing (in-painting, out-painting, refining; `Generator.makeEditSession`).
    public var canEdit = false
    /// Runs any schedule (`--steps`, `--scales`), not only the one it was trained on.
    public var freeSchedule = false
    /// What one `step()` generates, singular: "scale", "step", "row".
    public var stepUnit = "scale"
}

/// One model family: how its files are recognised, what it samples with by default, how it loads, what
/// `scalewise convert` writes for it and what it can do. The table `ModelFamily.all` is the only place that
/// lists the families (in the spirit of GGUF's `general.architecture` key and mlx-swift-lm's model-type
/// registry); each family's entry lives in its own file next to its model.
public struct ModelFamily: Sendable {
    /// The `family` metadata key of our files ("var", "flexvar", …).
    public let name: String
    /// Display name ("VAR", "M-VAR").
    public let title: String
    public let capabilities: FamilyCapabilities
    /// The official demo's sampling settings; a file's `defaults` metadata overrides them.
    public let defaults: SamplingOptions
    /// Whether an official checkpoint (no `family` metadata) is this family's, from its keys and shapes.
    let detect: @Sendable (WeightSource) -> Bool
    /// Builds the generator and its tokenizer; nil for tokenizer families.
    let load: (@Sendable (WeightSource, LoadContext) throws -> Generator)?
    /// The `config` metadata `scalewise convert` stores (read from the shapes) and the class count; nil when the
    /// family's files carry no config.
    let convertConfig: @Sendable (WeightSource) throws -> (json: String, classes: Int)?
    /// The official release's tokenizer file, looked for next to a generator and in the search paths
    /// (`vae_ch160v4096z32.pth`, `FlexVAE.pth`); nil when the family's checkpoints hold their tokenizer.
    public let officialTokenizer: String?
    /// The guidance rules the family's sampler offers (`--cfg-mode`); its default is `defaults.cfgMode`.
    public let cfgModes: [CFGMode]
    /// The side in pixels of the image its default schedule makes, from the configs alone (no tensor is loaded):
    /// what the model picker shows. Nil for tokenizer families.
    let imageSide: (@Sendable (WeightSource, LoadContext) throws -> Int)?

    init(name: String, title: String, capabilities: FamilyCapabilities = FamilyCapabilities(),
         defaults: SamplingOptions = SamplingOptions(), detect: @escaping @Sendable (WeightSource) -> Bool,
         load: (@Sendable (WeightSource, LoadContext) throws -> Generator)?,
         convertConfig: @escaping @Sendable (WeightSource) throws -> (json: String, classes: Int)? = { _ in nil },
         officialTokenizer: String? = nil, cfgModes: [CFGMode] = [.ramp, .constant],
         imageSide: (@Sendable (WeightSource, LoadContext) throws -> Int)? = nil) {
        (self.name, self.title, self.capabilities, self.defaults) = (name, title, capabilities, defaults)
        (self.detect, self.load, self.convertConfig) = (detect, load, convertConfig)
        (self.officialTokenizer, self.cfgModes, self.imageSide) = (officialTokenizer, cfgModes, imageSide)
    }

    public var isGenerator: Bool { load != nil }

    /// Every family, in the order official checkpoints are tested against `detect` (the first match wins; VAR,
    /// whose keys the others extend, comes after them).
    public static let all: [ModelFamily] = [.mvar, .flexvqvae, .vqvae, .flexvar, .mambavar, .aim, .var]

    public static func named(_ name: String) -> ModelFamily? { all.first { $0.name == name } }

    /// The family of a weight file: its `family` metadata, else the first whose `detect` accepts it.
    static func of(_ w: WeightSource) -> ModelFamily? {
        if let f = w.metadata["family"] { return named(f) }
        return all.first { $0.detect(w) }
    }

    /// VAR's multi-scale residual VQ-VAE (official `models/vqvae.py`).
    static let vqvae: ModelFamily = ModelFamily(name: "vqvae", title: "VQ-VAE", detect: { $0.has("quantize.embedding.weight") },
                                   load: nil)
    /// FlexVAR's scalable tokenizer, also AiM's (LlamaGen VQ-16 layout).
    static let flexvqvae: ModelFamily = ModelFamily(
        name: "flexvqvae", title: "FlexVAR VQ-VAE",
        detect: { $0.has("quantize.embedding.weight") && $0.has("decoder.conv_blocks.0.res.0.conv1.weight") }, load: nil)
}

/// The common part of every generator: the file it came from and how it was loaded.
public struct GeneratorInfo: Sendable {
    public let name: String
    public let family: ModelFamily
    public let classNames: [String]
    public let defaults: SamplingOptions
    public let parameterCount: Int
    /// The precision the linear layers were loaded in (`ModelLoader.load(precision:)`).
    public let precision: Precision
    /// The generator's file when it was named by path rather than found by name in the search paths, and the
    /// tokenizer's when `--tokenizer` named it: what a PNG's record needs to find them again.
    public var file: ModelFile? = nil
    public var tokenizerFile: ModelFile? = nil
    /// The SHA-256 of the generator's file and of the tokenizer's when it has a file of its own (nil when it is
    /// inside the generator's): what a PNG's record keeps so a replay can tell other weights apart.
    public var sha256: String? = nil
    public var tokenizerSHA256: String? = nil
    /// The files those hashes are of, however they were found (by path or by name).
    public var path: String? = nil
    public var tokenizerPath: String? = nil
}

/// The files a load opened besides the generator's, for its `GeneratorInfo`.
final class OpenedFiles {
    var tokenizer: String?
}

/// What a family's loader is given: the generator's file and where to look for the rest.
struct LoadContext {
    /// The generator file, its folder and its name without extension.
    let path: String, dir: String, name: String
    /// `--tokenizer`, when given.
    let tokenizer: String?
    let precision: Precision
    /// `--config` and `--tokenizer-config` (JSON objects or files), laid over the configs read from the files.
    var config: String? = nil
    var tokenizerConfig: String? = nil
    /// Whether the generator was named by path (not found by name in the search paths).
    var byPath = false
    /// Filled in as the family's loader opens files.
    let opened = OpenedFiles()

    /// Where a one-file model keeps its tokenizer (`scalewise convert GENERATOR TOKENIZER`).
    static let embeddedPrefix = "tokenizer."

    /// The tokenizer file: `--tokenizer`, else the `tokenizer` metadata (next to the generator, else by its file
    /// name in the search paths), else the official release's file name `official` likewise.
    func tokenizerPath(for w: WeightSource, official: String) throws -> String {
        if let t = tokenizer { return t }
        if let t = try MetadataRules.tokenizer(w) {
            if t.hasPrefix("/") { return t }
            let local = dir + "/" + t
            if FileManager.default.fileExists(atPath: local) { return local }
            if let found = ModelLoader.findInSearchPaths((t as NSString).lastPathComponent) { return found }
            throw WeightsError.io(w.path, "its tokenizer \(t) is neither next to it nor in the search paths; pass --tokenizer")
        }
        if !official.isEmpty, let found = ModelLoader.findTokenizer(official, near: dir) { return found }
        throw WeightsError.io(w.path, "no tokenizer: put \(official) next to it or in a model folder, or pass --tokenizer")
    }

    /// A tokenizer's weights for a generator loaded in `precision`: its convolutions run in bf16 unless the
    /// generator is fp32 (int8 convolutions are not offered: the decoder makes the pixels).
    func tokenizerWeights(_ w: WeightSource) -> WeightSource {
        PrecisionWeights(w, precision: precision == .fp32 ? .fp32 : .bf16)
    }

    /// The tokenizer in the tokenizer's precision: `--tokenizer`, else the one stored in the generator's own file
    /// under `tokenizer.`, else the file `tokenizerPath` finds.
    func openTokenizer(for w: WeightSource, official: String) throws -> WeightSource {
        if tokenizer == nil, w.has(Self.embeddedPrefix + "quantize.embedding.weight") {
            return tokenizerWeights(PrefixedWeights(w, prefix: Self.embeddedPrefix))
        }
        let path = try tokenizerPath(for: w, official: official)
        let file = try ModelLoader.openWeights(path)
        opened.tokenizer = path
        _ = try MetadataRules.family(file)
        return tokenizerWeights(file)
    }

    /// The generator's `GeneratorInfo`, with its class names, its sampling defaults over the family's and its
    /// files' hashes (read once per file version: `DigestCache`).
    func info(_ w: WeightSource, family: ModelFamily, classes: Int) throws -> GeneratorInfo {
        let cache = DigestCache.standard
        return GeneratorInfo(name: name, family: family, classNames: try ModelLoader.classNames(w, count: classes),
                             defaults: try ModelLoader.defaults(w, over: family.defaults), parameterCount: w.parameterCount,
                             precision: precision, file: byPath ? ModelFile(at: path) : nil,
                             tokenizerFile: tokenizer.flatMap { ModelFile(at: $0) },
                             sha256: try cache.sha256(of: path).hex,
                             tokenizerSHA256: try opened.tokenizer.map { try cache.sha256(of: $0).hex },
                             path: absolute(path), tokenizerPath: opened.tokenizer.map(absolute))
    }
}

/// `path` from the root, for messages that name a file.
private func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

/// A `Codable` config as the JSON string stored under a file's `config` metadata.
func configJSON<C: Encodable>(_ config: C) throws -> String {
    String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
}

