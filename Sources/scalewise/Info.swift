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
        print("file:       \(path)")
        print("family:     \(ModelLoader.family(of: w))")
        print("tensors:    \(w.keys.count)")
        print("parameters: \(w.parameterCount) (\(String(format: "%.2f", Double(w.parameterCount) / 1e6)) M)")
        print("precision:  \(p.precision) (\(p.reason)); linear weights held at \(p.precision.weightBytes) byte(s) each, "
              + "fp32 elsewhere; oneDNN ISA \(Precision.cpuISA)")
        for key in w.metadata.keys.sorted() where key != "classes" && key != "preview" {
            print("\(key): \(w.metadata[key]!)")
        }
        if let c = w.metadata["classes"] { print("classes:    \(c.prefix(100))\(c.count > 100 ? "…" : "")") }
    }
}

struct Classes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a model's classes (index and name).")

    @OptionGroup var modelOptions: ModelOptions
    @Argument(help: "Only classes whose name contains this text.") var filter: String?

    func run() throws {
        let gen = try modelOptions.load()
        for (i, n) in gen.classNames.enumerated() where filter.map({ n.lowercased().contains($0.lowercased()) }) ?? true {
            print("\(i)\t\(n)")
        }
    }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the models found in the search paths.")

    func run() throws {
        print("search paths: \(ModelLoader.searchPaths.joined(separator: ":"))")
        for p in ModelLoader.availableModels() { print(p) }
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
        let meta = try ModelLoader.convertMetadata(first: try ModelLoader.openWeights(inputs[0]), sources: inputs)
        try convertToSafeTensors(inputs: inputs, output: output, dtype: f16 ? .f16 : .f32, metadata: meta, overwrite: force)
        print("wrote \(output)")
    }
}
