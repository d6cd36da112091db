import Foundation
import ScalewiseEngine

/// What the `tui` command passes in; everything optional has a sensible default.
public struct TUIOptions: Sendable {
    public enum ColorChoice: String, CaseIterable, Sendable { case auto, truecolor, c256 = "256", c16 = "16", c8 = "8", mono }
    public enum SymbolChoice: String, CaseIterable, Sendable { case auto, half, quad, sextant, ascii }

    public var color: ColorChoice = .auto
    /// Pixel protocol for the preview; auto asks the terminal.
    public var graphics: GraphicsChoice = .auto
    /// How long the start-up probe waits for a terminal that answers nothing.
    public var probeTimeoutMs = TerminalProbe.defaultTimeoutMs
    public var symbols: SymbolChoice = .auto
    /// Class index or name to start on.
    public var classLabel: String?
    /// Overrides of the model's defaults.
    public var cfg: Float?
    /// The guidance rule (nil: the model's).
    public var cfgMode: CFGMode?
    public var topK: Int?
    public var topP: Float?
    public var moreSmooth = false
    /// nil: 0.
    public var seed: UInt64?
    public var seedPolicy: SeedPolicy = .fixed
    /// Where `s`/`S` write.
    public var outputDir = "."
    /// A second model: open in compare mode.
    public var compareModel: String?
    /// Debug log (per-scale latencies); also `SCALEWISE_TUI_LOG`.
    public var logPath: String?
    /// A PNG to open in edit mode (FlexVAR models).
    public var editImage: String?
    /// How the command line named the model (`--model`, `--tokenizer`, … with their values), repeated in the
    /// `scalewise generate` line that `C` copies.
    public var modelArguments: [String] = []
    /// A PNG written by scalewise whose recorded parameters to open.
    public var fromPNG: String?
    /// Log every finished image under `$XDG_STATE_HOME/scalewise/history` (off: `--no-history`, `SCALEWISE_NO_HISTORY`).
    public var history = true
    /// X/Y sheets of up to `SheetRecord.maxCells` cells instead of `XYAxis.defaultMaxCells`, and edits that extend
    /// beyond twice the model's learned size (`--allow-large`).
    public var allowLarge = false
    /// No `--threads` nor OPENBLAS_NUM_THREADS: a model picked later resets the threads by `ThreadRule`.
    public var autoThreads = false

    public init() {}
}

/// What happens to the seed when a new image starts after a finished run.
public enum SeedPolicy: String, CaseIterable, Sendable {
    case fixed, increment = "+1", random

    func next(_ s: UInt64) -> UInt64 {
        switch self {
        case .fixed: s
        case .increment: s &+ 1
        case .random: randomSeed()
        }
    }
}

func randomSeed() -> UInt64 { UInt64.random(in: 0..<(1 << 32)) }

/// Opens the terminal UI on `generator` and runs until the user quits. The terminal is restored on
/// every way out (return, thrown error, signal, crash). Returns the process exit status.
public func runTUI(generator: Generator, compare: Generator? = nil, options: TUIOptions) throws -> Int32 {
    let env = ProcessInfo.processInfo.environment
    let colorTerm = (env["COLORTERM"] ?? "").lowercased()
    let wantTruecolor = options.color == .truecolor
        || (options.color == .auto && (colorTerm == "truecolor" || colorTerm == "24bit") && (env["NO_COLOR"] ?? "").isEmpty)
    try Terminal.preflight()
    // Before curses starts, so that no reply can reach the key queue.
    let report = TerminalProbe.run(timeoutMs: options.probeTimeoutMs, query: options.graphics != .blocks)
    let term = try Terminal(wantTruecolor: wantTruecolor)
    defer { term.end() }
    let app = App(term: term, generator: generator, compare: compare, options: options,
                  wantTruecolor: wantTruecolor, logPath: options.logPath ?? env["SCALEWISE_TUI_LOG"], report: report)
    return app.run()
}
