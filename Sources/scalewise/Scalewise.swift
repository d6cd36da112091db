import ArgumentParser
import Foundation
import CMalloc
import ScalewiseEngine

@main
struct Scalewise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scalewise",
        abstract: "Generate images with scale-wise autoregressive models (VAR, FlexVAR, M-VAR, MVAR, AiM), scale by scale.",
        version: scalewiseVersion,
        subcommands: [TUICommand.self, Generate.self, Edit.self, Sample.self, Info.self, Classes.self, Models.self, Convert.self, Bench.self, DoctorCommand.self],
        defaultSubcommand: TUICommand.self
    )

    static func main() {
        useFastBLASKernels()
        // `tui`, the default command, takes no arguments of its own: a first word that is no command is a mistyped
        // command, not an argument of tui's.
        let names = configuration.subcommands.map { commandName($0) }
        if let first = CommandLine.arguments.dropFirst().first, !first.hasPrefix("-"), first != "help", !names.contains(first) {
            FileHandle.standardError.write(Data("Error: unknown command '\(terminalSafe(first, limit: 100))' (commands: \(names.joined(separator: ", ")))\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        main(nil)
    }
}

/// A command's name (a generic function: the type is opened here).
private func commandName<C: ParsableCommand>(_ command: C.Type) -> String { C._commandName }

/// The sampling flags a command was given, by the rules that also check models' defaults and PNG records
/// (`SamplingRules`); a broken rule is a usage error (exit 64).
func checkSamplingFlags(cfg: Float? = nil, topK: Int? = nil, topP: Float? = nil, temperature: Float? = nil,
                        seed: SeedFlag? = nil) throws {
    do {
        try SamplingRules.checkFlags(cfg: cfg, topK: topK, topP: topP, temperature: temperature, seed: seed?.text)
    } catch let e as InputError {
        throw ValidationError(e.message)
    }
}

/// Flags every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Model name in the search paths, or a .safetensors/.pth path (default: glyphs64-var, else glyphs-var; for edit and tui --image: glyphs64-flexvar, else glyphs-flexvar).")
    var model: String?

    @Option(help: "Tokenizer file, when the model's metadata does not name one.")
    var tokenizer: String?

    @Option(help: ArgumentHelp("The generator's config as a JSON object (or a .json file), over what the file says or its shapes imply; keys it omits keep their values.",
                               valueName: "json"))
    var config: String?

    @Option(name: .customLong("tokenizer-config"), help: ArgumentHelp("The tokenizer's config likewise.", valueName: "json"))
    var tokenizerConfig: String?

    @Option(help: "Threads, honoured exactly up to the cores (default: one for a small model, under 100 GFLOP an image, such as the glyph models; else all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp("Arithmetic of the generator's linear layers: auto (bf16 where the CPU computes it natively, else fp32), fp32 (the exact reference), bf16 or int8.",
                               valueName: "auto|fp32|bf16|int8"))
    var precision: String?

    /// Checked while the command line is parsed, so a bad value gets the command's own usage.
    func validate() throws {
        _ = try resolvedPrecision()
        if let t = threads, t <= 0 { throw ValidationError("--threads must be positive") }
    }

    /// The precision to load in, and why (`auto` by default; a PNG's record when reproducing one).
    func resolvedPrecision() throws -> (precision: Precision, reason: String) {
        let text = precision ?? "auto"
        guard let p = Precision.resolve(text) else {
            throw ValidationError("--precision must be auto, fp32, bf16 or int8 (got '\(text)')")
        }
        return p
    }

    /// `editing`: the default model is one that can edit (`edit`, `tui --image`).
    func load(editing: Bool = false) throws -> Generator {
        // The decoder's feature maps (up to 42 MB each at 256 px) come and go layer by layer. glibc raises its
        // mmap threshold after the first such free, so later maps land in the heap and stay resident when
        // freed: +140 MiB peak RSS for VAR-d16. A fixed 1 MiB threshold returns them to the OS at once.
        mallopt(M_MMAP_THRESHOLD, 1 << 20)
        if let t = threads {
            guard t > 0 else { throw ValidationError("--threads must be positive") }
            // More threads than cores only adds contention (1000 took 12–20 s to start).
            setThreads(min(t, ProcessInfo.processInfo.activeProcessorCount))
        }
        // The default model is found by name, and recorded so: a replay finds it wherever the models are then.
        let fallback = { try editing ? ModelLoader.defaultEditModel() : ModelLoader.defaultModel() }
        let gen = try ModelLoader.load(model ?? fallback(), tokenizer: tokenizer,
                                       precision: resolvedPrecision().precision, config: config,
                                       tokenizerConfig: tokenizerConfig, foundByName: model == nil)
        if ThreadRule.isAuto(explicit: threads) { setThreads(autoThreads(for: [gen]).count) }
        return gen
    }

    /// The thread rule's choice for `generators` on this machine's cores.
    func autoThreads(for generators: [Generator]) -> (count: Int, reason: String) {
        ThreadRule.choose(for: generators, cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// How the thread count came about, for `bench`: "--threads", OPENBLAS_NUM_THREADS or the rule's reason.
    func threadsReason(for gen: Generator) -> String {
        if threads != nil { return "--threads" }
        if !ThreadRule.isAuto(explicit: nil) { return "OPENBLAS_NUM_THREADS" }
        return autoThreads(for: [gen]).reason
    }
}
