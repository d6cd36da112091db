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
    static let configuration = CommandConfiguration(abstract: "List the models found in the search paths.")

    func run() throws {
        print("search paths: \(ModelLoader.searchPaths.joined(separator: ":"))")
        for p in ModelLoader.availableModels() { print(terminalSafe(p, limit: 4096)) }
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert official .pth checkpoints to .safetensors with metadata (family, config, classes).")

    @Argument(help: "Input .pth (or .safetensors) files, merged in order.") var inputs: [String]
    @Option(name: .shortAndLong, help: "Output .safetensors file.") var output: String
    @Flag(help: "Store F16 instead of F32.") var f16 = false
    @Flag(help: "Overwrite the output.") var force = false

    func run() throws {
        guard !inputs.isEmpty else { throw ValidationError("no input files") }
        let first = try ModelLoader.openWeights(inputs[0])
        var meta = ["format": "scalewise-1", "family": ModelLoader.family(of: first),
                    "source": inputs.map { ($0 as NSString).lastPathComponent }.joined(separator: ",")]
        var classes: Int?
        if ["var", "mvar", "mambavar"].contains(meta["family"]!) {
            let cfg = try VAR.config(from: first)
            meta["config"] = String(decoding: try JSONEncoder().encode(cfg), as: UTF8.self)
            classes = cfg.num_classes
        } else if meta["family"] == "aim" {  // the official safetensors; its tokenizer stays inside under `vqvae.`
            let cfg = try AiM.config(from: first)
            meta["config"] = String(decoding: try JSONEncoder().encode(cfg), as: UTF8.self)
            classes = cfg.num_classes
        }
        if classes == 1000, let names = ModelLoader.classNames(first, count: 1000) as [String]? {
            meta["classes"] = String(decoding: try JSONEncoder().encode(names), as: UTF8.self)
        }
        try convertToSafeTensors(inputs: inputs, output: output, dtype: f16 ? .f16 : .f32, metadata: meta, overwrite: force)
        print("wrote \(output)")
    }
}
