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
        main(nil)
    }
}

/// The sampling flags a command was given, by the rules that also check models' defaults and PNG records
/// (`SamplingRules`); a broken rule is a usage error (exit 64).
func checkSamplingFlags(cfg: Float? = nil, topK: Int? = nil, topP: Float? = nil, temperature: Float? = nil,
                        seed: Int64? = nil) throws {
    do {
        try SamplingRules.checkFlags(cfg: cfg, topK: topK, topP: topP, temperature: temperature, seed: seed)
    } catch let e as InputError {
        throw ValidationError(e.message)
    }
}

/// Flags every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Model name in the search paths, or a .safetensors/.pth path (default: glyphs64-var, else glyphs-var).")
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

    /// The precision to load in, and why (`auto` by default; a PNG's record when reproducing one).
    func resolvedPrecision() throws -> (precision: Precision, reason: String) {
        let text = precision ?? "auto"
        guard let p = Precision.resolve(text) else {
            throw ValidationError("--precision must be auto, fp32, bf16 or int8 (got '\(text)')")
        }
        return p
    }

    func load() throws -> Generator {
        // The decoder's feature maps (up to 42 MB each at 256 px) come and go layer by layer. glibc raises its
        // mmap threshold after the first such free, so later maps land in the heap and stay resident when
        // freed: +140 MiB peak RSS for VAR-d16. A fixed 1 MiB threshold returns them to the OS at once.
        mallopt(M_MMAP_THRESHOLD, 1 << 20)
        if let t = threads {
            guard t > 0 else { throw ValidationError("--threads must be positive") }
            // More threads than cores only adds contention (1000 took 12–20 s to start).
            setThreads(min(t, ProcessInfo.processInfo.activeProcessorCount))
        }
        let gen = try ModelLoader.load(model ?? ModelLoader.defaultModel(), tokenizer: tokenizer,
                                       precision: resolvedPrecision().precision, config: config, tokenizerConfig: tokenizerConfig)
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
