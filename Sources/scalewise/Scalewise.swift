import ArgumentParser
import ScalewiseEngine

@main
struct Scalewise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scalewise",
        abstract: "Generate images with scale-wise autoregressive models (VAR, FlexVAR, M-VAR, MVAR, AiM), scale by scale.",
        version: scalewiseVersion,
        subcommands: [TUICommand.self, Generate.self, Edit.self, Info.self, Classes.self, Models.self, Convert.self, Bench.self],
        defaultSubcommand: TUICommand.self
    )
}

/// Flags every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Model name in the search paths, or a .safetensors/.pth path (default: the shipped model).")
    var model: String?

    @Option(help: "Tokenizer file, when the model's metadata does not name one.")
    var tokenizer: String?

    @Option(help: "BLAS threads (default: all cores).")
    var threads: Int?

    func load() throws -> Generator {
        if let t = threads {
            guard t > 0 else { throw ValidationError("--threads must be positive") }
            setThreads(t)
        }
        return try ModelLoader.load(model ?? ModelLoader.defaultModel(), tokenizer: tokenizer)
    }
}
