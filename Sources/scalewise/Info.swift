import ArgumentParser
import Foundation
import ScalewiseEngine

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a weight file's family, config, metadata and parameter count.")

    @Argument(help: "A .safetensors or .pth file, or a model name.") var file: String
    @Option(help: ArgumentHelp("The precision to report on: auto, fp32, bf16 or int8.", valueName: "auto|fp32|bf16|int8"))
    var precision = "auto"

    func run() throws {
        guard let p = Precision.resolve(precision) else {
            throw ValidationError("--precision must be auto, fp32, bf16 or int8 (got '\(precision)')")
        }
        let path = try ModelLoader.resolve(file)
        let w = try ModelLoader.openWeights(path)
        print("file:       \(terminalSafe(path, limit: 4096))")
        // The SHA-256 Hugging Face shows for LFS files, and PNG records keep as model_sha256.
        print("sha256:     \(try DigestCache.standard.sha256(of: path).hex)")
        print("family:     \(ModelLoader.family(of: w))")
        print("tensors:    \(w.keys.count)")
        print("parameters: \(w.parameterCount) (\(String(format: "%.2f", Double(w.parameterCount) / 1e6)) M)")
        print("precision:  \(p.precision) (\(p.reason)); linear weights held at \(p.precision.weightBytes) byte(s) each, "
              + "fp32 elsewhere; oneDNN ISA \(Precision.cpuISA)")
        // Metadata is the file's to choose: control characters are escaped, so a downloaded model cannot send
        // escape sequences to the terminal.
        for (key, value) in w.metadata.sorted(by: { $0.key < $1.key }) where key != "classes" && key != "preview" {
            print("\(terminalSafe(key, limit: 200)): \(terminalSafe(value, limit: 100_000))")
        }
        if let c = w.metadata["classes"] { print("classes:    \(terminalSafe(c, limit: 100))") }
    }
}

struct Classes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a model's classes (index and name).")

    @OptionGroup var modelOptions: ModelOptions
    @Argument(help: "Only classes whose name contains this text.") var filter: String?

    func run() throws {
        let gen = try modelOptions.load()
        for (i, n) in gen.classNames.enumerated() where filter.map({ n.lowercased().contains($0.lowercased()) }) ?? true {
            print("\(i)\t\(terminalSafe(n))")
        }
    }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the generators found in the model folders, with the tokenizer each pairs with (* = the default).")

    @Flag(help: "Print the full paths.") var paths = false

    func run() throws {
        print("search paths: \(ModelLoader.searchPaths.joined(separator: ":"))")
        let entries = ModelLoader.catalog()
        guard !entries.isEmpty else {
            print("no models found (Hugging Face cache: \(ModelLoader.huggingFaceCache)); set SCALEWISE_MODELS or pass -m FILE")
            return
        }
        let rows = [["", "NAME", "FAMILY", "SIZE", "PARAMS", "FOUND IN", "TOKENIZER"]] + entries.map { e in
            // Names and paths come from the file system and the files' metadata: escaped before printing.
            [e.isDefault ? "*" : "", terminalSafe(e.name), terminalSafe(e.family), megabytes(e.bytes),
             String(format: "%.1f M", Double(e.parameters) / 1e6), terminalSafe(paths ? e.path : e.folder, limit: 4096),
             terminalSafe(e.tokenizer)]
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        for r in rows {
            var line = zip(r, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            print(line)
        }
    }

    private func megabytes(_ b: Int) -> String {
        b >= 1 << 30 ? String(format: "%.1f GB", Double(b) / Double(1 << 30)) : String(format: "%.1f MB", Double(b) / Double(1 << 20))
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert official .pth checkpoints to .safetensors with metadata (family, config, classes).",
        discussion: "Given a generator and its tokenizer, writes one file that holds both (the tokenizer under a key prefix).")

    @Argument(help: "Input .pth/.bin/.safetensors files: a generator and its tokenizer make a one-file model; others are merged in order.")
    var inputs: [String]
    @Option(name: .shortAndLong, help: "Output .safetensors file.") var output: String
    @Flag(help: "Store F16 instead of F32.") var f16 = false
    @Flag(help: "Overwrite the output.") var force = false

    func run() throws {
        guard !inputs.isEmpty else { throw ValidationError("no input files") }
        try checkOutput(output, force: force)  // a folder or a missing folder is said at once, before reading
        let ordered = try ModelLoader.conversionOrder(inputs: inputs)
        let plan = try ModelLoader.conversionPlan(inputs: ordered)
        if plan.prefixes.count == 2 {
            // A generator and its tokenizer: loaded together as `generate` would load the file, so a pair that does
            // not fit (another image size, another codebook) is refused now rather than written.
            _ = try ModelLoader.load(ordered[0], tokenizer: ordered[1])
        }
        try convertToSafeTensors(inputs: ordered, output: output, dtype: f16 ? .f16 : .f32, metadata: plan.metadata,
                                 prefixes: plan.prefixes, overwrite: force)
        print("wrote \(output)")
    }
}
