import Foundation
import ScalewiseKernels

/// Finds and loads generators: our `.safetensors` files (family + config in the metadata) and the official
/// `.pth` checkpoints (family and config inferred from the keys and shapes).
public enum ModelLoader {
    /// The folders searched for models, in order (`searchFolders`).
    public static var searchPaths: [String] { searchFolders.map(\.path) }

    /// The running executable, symbolic links resolved (`/proc/self/exe`; else the first argument).
    static func executablePath() -> String {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        return URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().path
    }

    /// The repository root, found from the executable's location (`.build/<config>/scalewise`), else the
    /// current folder when it holds `Package.swift`.
    public static func repositoryRoot() -> String? {
        var url = URL(fileURLWithPath: executablePath())
        for _ in 0..<5 {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
        }
        let cwd = FileManager.default.currentDirectoryPath
        return FileManager.default.fileExists(atPath: cwd + "/Package.swift") ? cwd : nil
    }

    /// A weight file read by what it holds, whatever its name: a `torch.save` zip (or legacy pickle) as a PyTorch
    /// checkpoint (`.pth`, `.pt`, `.bin`), anything else as safetensors.
    public static func openWeights(_ path: String) throws -> WeightSource {
        guard FileManager.default.fileExists(atPath: path) else { throw WeightsError.io(path, "no such file") }
        return try ScalewiseEngine.openWeights(path)
    }

    /// Generator files found in the search paths (tokenizers excluded), sorted by name.
    public static func availableModels() -> [String] {
        var found: [String] = []
        for dir in searchPaths {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for n in names.sorted() where modelExtensions.contains((n as NSString).pathExtension) {
                let p = dir + "/" + n
                if let w = try? openWeights(p), isGenerator(w) { found.append(p) }
            }
        }
        var seen = Set<String>()
        return found.filter { seen.insert(URL(fileURLWithPath: $0).resolvingSymlinksInPath().path).inserted }
    }

    /// A name ("glyphs-var"), a file name, or a path → a file path.
    public static func resolve(_ model: String) throws -> String {
        if model.contains("/") || FileManager.default.fileExists(atPath: model) { return model }
        for dir in searchPaths {
            for candidate in [model] + modelExtensions.map({ model + "." + $0 }) {
                let p = dir + "/" + candidate
                if FileManager.default.fileExists(atPath: p) { return p }
            }
        }
        throw WeightsError.io(model, "no such model in \(searchPaths.joined(separator: ", "))")
    }

    /// Shipped generators in the order the TUI and `generate` prefer them when no model is named: the 64-px VAR
    /// (a miniature of VAR-256: 16×16 latent, VAR's 10 scales), then the 32-px one.
    public static let preferredDefaults = ["glyphs64-var.safetensors", "glyphs-var.safetensors"]

    /// The model the TUI and `generate` use when none is named.
    public static func defaultModel() throws -> String {
        if let p = preferredDefault(among: availableModels()) { return p }
        throw EngineError.badArgument(noModelMessage(wanted: stems(preferredDefaults)))
    }

    /// Shipped generators `edit` and `tui --image` prefer when no model is named: the ones that can edit (FlexVAR).
    public static let preferredEditDefaults = ["glyphs64-flexvar.safetensors", "glyphs-flexvar.safetensors"]

    /// The model `edit` and `tui --image` use when none is named: a preferred one, else the first that can edit.
    public static func defaultEditModel() throws -> String {
        let editable = availableModels().filter { p in
            (try? openWeights(p)).flatMap { ModelFamily.of($0)?.capabilities.canEdit } ?? false
        }
        for name in preferredEditDefaults {
            if let p = editable.first(where: { $0.hasSuffix("/" + name) }) { return p }
        }
        if let p = editable.first { return p }
        throw EngineError.badArgument(noModelMessage(wanted: stems(preferredEditDefaults) + " (or another model that can edit: FlexVAR)",
                                                     example: stems(preferredEditDefaults.prefix(1))))
    }

    /// Why no model was found: which one was wanted, every place looked in (the Hugging Face cache included) and
    /// how to point at one.
    public static func noModelMessage(wanted: String, example: String = "FILE") -> String {
        "no model found: looked for \(wanted) in \(searchPaths.joined(separator: ", ")) and the Hugging Face cache "
            + "\(huggingFaceCache); set SCALEWISE_MODELS or pass -m \(example)"
    }

    /// "glyphs64-var (or glyphs-var)".
    static func stems<S: Sequence<String>>(_ files: S) -> String {
        let names = files.map { ($0 as NSString).deletingPathExtension }
        return names.first.map { $0 + (names.count > 1 ? " (or \(names.dropFirst().joined(separator: ", or ")))" : "") } ?? ""
    }

    /// The first of `preferredDefaults` found in `paths` (in search-path order), else the first path.
    public static func preferredDefault(among paths: [String]) -> String? {
        for name in preferredDefaults {
            if let p = paths.first(where: { $0.hasSuffix("/" + name) }) { return p }
        }
        return paths.first
    }

    static func isGenerator(_ w: WeightSource) -> Bool {
        if let f = w.metadata["family"] { return ModelFamily.named(f)?.isGenerator ?? true }
        return ModelFamily.of(w)?.isGenerator ?? false
    }

    /// The family's name: the `family` metadata, else the first family of `ModelFamily.all` whose keys and
    /// shapes the file has, else "var".
    public static func family(of w: WeightSource) -> String {
        w.metadata["family"] ?? ModelFamily.of(w)?.name ?? ModelFamily.var.name
    }

    /// Loads a generator and the tokenizer it pairs with (`tokenizer` argument, else metadata `tokenizer`, else
    /// the official tokenizer file name in the same folder) through its family's entry in `ModelFamily.all`. The
    /// generator's linear layers are held and run in `precision`; the tokenizer's convolutions in bf16 unless
    /// `precision` is fp32 (`LoadContext.tokenizerWeights`).
    /// `config` and `tokenizerConfig` (`--config`, `--tokenizer-config`: JSON objects or files) go over the configs
    /// the files give or their shapes imply.
    /// `foundByName`: `model` is a path the model folders gave (the default model, the TUI's model picker); it is
    /// recorded by its name, as `-m NAME` is, when that name finds the same file again.
    public static func load(_ model: String, tokenizer: String? = nil, precision: Precision = .fp32,
                            config: String? = nil, tokenizerConfig: String? = nil, foundByName: Bool = false) throws -> Generator {
        let path = try resolve(model)
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let byPath = (model.contains("/") || FileManager.default.fileExists(atPath: model))
            && !(foundByName && (try? resolve(stem)) == path)
        let file = try openWeights(path)
        _ = try MetadataRules.family(file)
        let name = family(of: file)
        guard isGenerator(file) else { throw WeightsError.mismatch(path, "is a tokenizer (\(name)), not a generator") }
        guard let load = ModelFamily.of(file)?.load else {
            throw WeightsError.mismatch(path, "model family '\(name)' is not supported yet")
        }
        let folder = (path as NSString).deletingLastPathComponent
        let context = LoadContext(path: path, dir: folder.isEmpty ? "." : folder,
                                  name: ((path as NSString).lastPathComponent as NSString).deletingPathExtension,
                                  tokenizer: tokenizer, precision: precision, config: config,
                                  tokenizerConfig: tokenizerConfig, byPath: byPath)
        return try load(PrecisionWeights(file, precision: precision), context)
    }

    /// The metadata `scalewise convert` writes for a checkpoint whose first file is `first`: format, family,
    /// source files, the family's config and, for 1000 classes, the ImageNet class names.
    public static func convertMetadata(first: WeightSource, sources: [String]) throws -> [String: String] {
        var meta = ["format": "scalewise-1", "family": family(of: first),
                    "source": sources.map { ($0 as NSString).lastPathComponent }.joined(separator: ",")]
        if let f = ModelFamily.of(first), let config = try f.convertConfig(first) {
            meta["config"] = config.json
            if config.classes == 1000 {
                meta["classes"] = String(decoding: try JSONEncoder().encode(try classNames(first, count: 1000)), as: UTF8.self)
            }
        }
        return meta
    }

    /// The `classes` metadata (checked: `MetadataRules.classes`), else ImageNet's names for 1000 classes, else
    /// "class N".
    public static func classNames(_ w: WeightSource, count: Int) throws -> [String] {
        if let names = try MetadataRules.classes(w, count: count) { return names }
        if count == imageNetClassNames.count { return imageNetClassNames }
        return (0..<count).map { "class \($0)" }
    }

    /// The file's `defaults` metadata over `base`, the family's official demo settings, checked by the rules
    /// flags and records follow (`SamplingRules`).
    static func defaults(_ w: WeightSource, over base: SamplingOptions) throws -> SamplingOptions {
        guard let s = w.metadata["defaults"] else { return base }
        return try SamplingRules.applyingDefaults(s, to: base, path: w.path)
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
