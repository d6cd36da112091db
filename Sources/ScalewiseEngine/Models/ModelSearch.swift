import Foundation

/// One folder models are looked for in, and how `scalewise models` names it.
public struct ModelFolder: Sendable, Equatable {
    public let path: String
    /// "$SCALEWISE_MODELS", "hf:FoundationVision/var", "./", "weights/", …
    public let label: String
}

/// A generator found in the model folders, as `scalewise models` lists it.
public struct ModelEntry: Sendable {
    public let path: String
    public let name: String
    public let family: String
    public let bytes: Int
    public let parameters: Int
    public let folder: String
    /// The tokenizer it pairs with ("built in", a file name and its folder, or what is missing).
    public let tokenizer: String
    public var isDefault = false
    /// The side in pixels of the images it makes by default (nil when its configs cannot tell, e.g. no tokenizer).
    public var imageSide: Int? = nil
}

extension ModelLoader {
    /// File names a model can have: ours, and PyTorch's (`torch.save` files as `.pth`, `.pt` or `.bin`).
    static let modelExtensions = ["safetensors", "pth", "pt", "bin"]

    /// The folders models are looked for in, in order: `$SCALEWISE_MODELS` (colon-separated),
    /// `$XDG_DATA_HOME/scalewise/models` (`~/.local/share/…` by default), every model of the Hugging Face hub cache
    /// (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`; the snapshot `refs/main` names, else
    /// every snapshot), the current folder, `weights/` of the repository the binary was built in (found from the
    /// binary, else the current folder when it holds `Package.swift`), `<prefix>/share/scalewise/models` for a
    /// binary installed as `<prefix>/bin/scalewise`, then
    /// `scalewise/models` under each of `$XDG_DATA_DIRS` (`/usr/local/share:/usr/share` by default).
    public static var searchFolders: [ModelFolder] {
        let env = ProcessInfo.processInfo.environment
        let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        var folders: [ModelFolder] = []
        if let list = env["SCALEWISE_MODELS"] {
            folders += list.split(separator: ":").map { ModelFolder(path: String($0), label: "$SCALEWISE_MODELS") }
        }
        let dataHome = env["XDG_DATA_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.local/share"
        folders.append(ModelFolder(path: dataHome + "/scalewise/models", label: "$XDG_DATA_HOME"))
        folders += huggingFaceSnapshots(hub: huggingFaceHub(env: env, home: home))
        let cwd = FileManager.default.currentDirectoryPath
        folders.append(ModelFolder(path: cwd, label: "./"))
        if let repo = repositoryRoot() { folders.append(ModelFolder(path: repo + "/weights", label: "weights/")) }
        let bin = (executablePath() as NSString).deletingLastPathComponent
        if (bin as NSString).lastPathComponent == "bin" {
            folders.append(ModelFolder(path: (bin as NSString).deletingLastPathComponent + "/share/scalewise/models",
                                       label: "share/"))
        }
        let dataDirs = env["XDG_DATA_DIRS"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/local/share:/usr/share"
        folders += dataDirs.split(separator: ":").filter { $0.hasPrefix("/") }
            .map { ModelFolder(path: $0 + "/scalewise/models", label: "$XDG_DATA_DIRS") }
        var seen = Set<String>()
        return folders.filter { seen.insert(URL(fileURLWithPath: $0.path).standardized.path).inserted }
    }

    /// The Hugging Face hub cache folder this process searches.
    public static var huggingFaceCache: String {
        let env = ProcessInfo.processInfo.environment
        return huggingFaceHub(env: env, home: env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory())
    }

    /// The Hugging Face hub cache folder (huggingface_hub's `constants.HF_HUB_CACHE`).
    static func huggingFaceHub(env: [String: String], home: String) -> String {
        if let h = env["HF_HUB_CACHE"], !h.isEmpty { return h }
        if let h = env["HF_HOME"], !h.isEmpty { return h + "/hub" }
        let cache = env["XDG_CACHE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.cache"
        return cache + "/huggingface/hub"
    }

    /// The snapshot folders of every model repository in a hub cache (`models--OWNER--NAME/snapshots/REV`): the
    /// revision `refs/main` names when it exists, else every snapshot.
    static func huggingFaceSnapshots(hub: String) -> [ModelFolder] {
        let fm = FileManager.default
        guard let repos = try? fm.contentsOfDirectory(atPath: hub) else { return [] }
        var out: [ModelFolder] = []
        for repo in repos.sorted() where repo.hasPrefix("models--") {
            let parts = repo.dropFirst("models--".count).components(separatedBy: "--")
            let label = "hf:" + parts.joined(separator: "/")
            let snapshots = hub + "/" + repo + "/snapshots"
            // refs/main is a file in a cache others may write: a regular file of a few bytes naming one folder
            // (a FIFO must not block the search, `..` must not leave the snapshots).
            if let ref = try? SafeOpen.readRegularFile(hub + "/" + repo + "/refs/main", limit: 4096),
               case let rev = String(decoding: ref, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
               !rev.isEmpty, !rev.contains("/"), rev != ".", rev != "..", fm.fileExists(atPath: snapshots + "/" + rev) {
                out.append(ModelFolder(path: snapshots + "/" + rev, label: label))
            } else {
                for rev in ((try? fm.contentsOfDirectory(atPath: snapshots)) ?? []).sorted() {
                    out.append(ModelFolder(path: snapshots + "/" + rev, label: label))
                }
            }
        }
        return out
    }

    /// The first file called `name` in the model folders.
    public static func findInSearchPaths(_ name: String) -> String? {
        for folder in searchFolders {
            let p = folder.path + "/" + name
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return nil
    }

    /// An official tokenizer file: next to the generator, else in the model folders.
    static func findTokenizer(_ name: String, near dir: String) -> String? {
        let local = dir + "/" + name
        return FileManager.default.fileExists(atPath: local) ? local : findInSearchPaths(name)
    }

    /// The folder label of a path found in the model folders.
    static func folderLabel(of path: String) -> String {
        let dir = URL(fileURLWithPath: (path as NSString).deletingLastPathComponent).standardized.path
        return searchFolders.first { URL(fileURLWithPath: $0.path).standardized.path == dir }?.label ?? dir
    }

    /// Every generator in the model folders with its family, size, parameters, folder and the tokenizer it pairs
    /// with; the one the TUI and `generate` use when no model is named is marked.
    public static func catalog() -> [ModelEntry] {
        var entries: [ModelEntry] = []
        for path in availableModels() {
            guard let w = try? openWeights(path) else { continue }
            let fam = ModelFamily.of(w)
            let bytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
            entries.append(ModelEntry(path: path, name: ((path as NSString).lastPathComponent as NSString).deletingPathExtension,
                                      family: fam?.title ?? family(of: w), bytes: bytes, parameters: w.parameterCount,
                                      folder: folderLabel(of: path), tokenizer: pairing(w, path: path, family: fam),
                                      imageSide: imageSide(w, path: path, family: fam)))
        }
        if let d = preferredDefault(among: entries.map(\.path)), let i = entries.firstIndex(where: { $0.path == d }) {
            entries[i].isDefault = true
        }
        return entries
    }

    /// The side of a generator's images from its configs and its tokenizer's, found as `ModelLoader.load` finds them.
    static func imageSide(_ w: WeightSource, path: String, family: ModelFamily?) -> Int? {
        let dir = (path as NSString).deletingLastPathComponent
        let ctx = LoadContext(path: path, dir: dir.isEmpty ? "." : dir, name: "", tokenizer: nil, precision: .fp32)
        return (try? family?.imageSide?(w, ctx)).flatMap { $0 }.flatMap { $0 > 0 ? $0 : nil }
    }

    /// Which tokenizer a generator file loads with, found as `ModelLoader.load` finds it.
    static func pairing(_ w: WeightSource, path: String, family: ModelFamily?) -> String {
        if w.has(LoadContext.embeddedPrefix + "quantize.embedding.weight") || w.has("vqvae.quantize.embedding.weight") {
            return "built in"
        }
        let official = family?.officialTokenizer ?? ""
        let dir = (path as NSString).deletingLastPathComponent
        let ctx = LoadContext(path: path, dir: dir.isEmpty ? "." : dir, name: "", tokenizer: nil, precision: .fp32)
        guard let t = try? ctx.tokenizerPath(for: w, official: official) else {
            return "missing (\(w.metadata["tokenizer"] ?? (official.isEmpty ? "?" : official)))"
        }
        let label = (t as NSString).deletingLastPathComponent == (path as NSString).deletingLastPathComponent
            ? "next to it" : folderLabel(of: t)
        return "\((t as NSString).lastPathComponent) (\(label))"
    }
}

/// What `scalewise convert` writes for its inputs: the metadata, and the key prefix of each input.
public struct ConversionPlan: Sendable {
    public let metadata: [String: String]
    public let prefixes: [String]
}

extension ModelLoader {
    /// One generator plus its tokenizer (in any order) become one file: the generator's tensors as they are, the
    /// tokenizer's under `tokenizer.` (`vqvae.` for AiM, as its official files keep it), its config as
    /// `tokenizer_config`. Other inputs are merged in order under the first one's family and config.
    public static func conversionPlan(inputs: [String]) throws -> ConversionPlan {
        let files = try inputs.map { try openWeights($0) }
        let families = files.map { ModelFamily.of($0) }
        let generators = families.indices.filter { families[$0]?.isGenerator == true }
        let tokenizers = families.indices.filter { families[$0].map { !$0.isGenerator } ?? false }
        guard !tokenizers.isEmpty && files.count > 1 else {
            return ConversionPlan(metadata: try convertMetadata(first: files[0], sources: inputs), prefixes: [])
        }
        guard generators.count == 1, tokenizers.count == 1, files.count == 2, let g = generators.first,
              let t = tokenizers.first, let gf = families[g] else {
            throw WeightsError(.badArgument, file: inputs[0],
                               "to make a one-file model give one generator and its tokenizer: convert GENERATOR TOKENIZER -o MODEL.safetensors")
        }
        var meta = try convertMetadata(first: files[g], sources: [inputs[g], inputs[t]])
        meta["tokenizer"] = ""  // removed: the tokenizer is inside
        let tw = files[t]
        switch families[t]?.name {
        case ModelFamily.vqvae.name:
            meta["tokenizer_config"] = try configJSON(try VARGenerator.vqvaeConfig(tw, generator: try VAR.config(from: files[g])))
        default:
            meta["tokenizer_config"] = try configJSON(try flexVQConfig(tw, override: nil))
        }
        var prefixes = ["", ""]
        prefixes[t] = gf.name == ModelFamily.aim.name ? "vqvae." : LoadContext.embeddedPrefix
        // The generator first, so its keys keep their places and its metadata is the file's.
        return ConversionPlan(metadata: meta, prefixes: [prefixes[g], prefixes[t]])
    }

    /// The inputs in the order `conversionPlan` lays them out (generator first when it pairs one with a tokenizer).
    public static func conversionOrder(inputs: [String]) throws -> [String] {
        guard inputs.count == 2 else { return inputs }
        let fams = try inputs.map { ModelFamily.of(try openWeights($0)) }
        return fams[0]?.isGenerator == false && fams[1]?.isGenerator == true ? [inputs[1], inputs[0]] : inputs
    }
}
