import ArgumentParser
import Foundation
import ScalewiseEngine

extension CFGMode: ExpressibleByArgument {}

/// The guidance rule of a run: `--cfg-mode` (or `--cfg-constant`), else the model's default; a rule the family's
/// sampler does not have is a one-line error.
func applyCFGMode(_ mode: CFGMode?, constantFlag: Bool = false, to opts: inout SamplingOptions, gen: Generator) throws {
    if constantFlag { opts.cfgMode = .constant }
    if let m = mode { opts.cfgMode = m }
    let offered = gen.info.family.cfgModes
    guard offered.contains(opts.cfgMode) else {
        throw ValidationError("\(gen.info.family.title) samples with the \(offered.map(\.rawValue).joined(separator: " or ")) "
                              + "guidance rule only; --cfg-mode \(opts.cfgMode.rawValue) is not offered")
    }
}

/// `--cfg-constant` is `--cfg-mode constant`: given with `--cfg-mode ramp` one of them would silently lose.
func checkGuidanceFlags(mode: CFGMode?, constantFlag: Bool) throws {
    if constantFlag, let m = mode, m != .constant {
        throw ValidationError("--cfg-constant and --cfg-mode \(m.rawValue) contradict each other; give one")
    }
}

let cfgModeHelp = ArgumentHelp(
    "Guidance rule: ramp (VAR's: 0 at the first step up to cfg at the last) or constant (LlamaGen's u + cfg·(c − u) at every step). "
        + "Default: the family's official sampler: ramp for VAR, MVAR and M-VAR; constant for FlexVAR (its demo) and AiM (its only rule).",
    valueName: "ramp|constant")

/// Sides beyond this many times the model's largest trained step need `--allow-large`.
let largeScaleFactor = ScheduleRules.largeFactor

/// Rejects an explicit schedule whose steps are far beyond what the model was trained on, unless allowed.
func checkScheduleSize(_ schedule: [ScaleShape], gen: Generator, allowLarge: Bool) throws {
    let trained = gen.schedules.flatMap { $0 }.map { max($0.h, $0.w) }.max() ?? 1
    let largest = schedule.map { max($0.h, $0.w) }.max() ?? 0
    if largest > largeScaleFactor * trained && !allowLarge {
        throw ValidationError("--scales reaches \(largest)×\(largest) tokens, more than \(largeScaleFactor)× the model's "
                              + "\(trained)×\(trained); pass --allow-large to run it anyway")
    }
}

/// `--seed`: any UInt64 (the seeds records and the TUI hold, which its `C` key copies), or -1 for a random one.
/// Checked in `validate` (`SamplingRules.seed`), so a bad one is a usage error with the rule's message.
struct SeedFlag: ExpressibleByArgument {
    let text: String
    init(argument: String) { text = argument }
    init(_ value: UInt64) { text = String(value) }

    var isRandom: Bool { text == "-1" }

    /// The seed to run; a random one is said on stderr (unless `quiet`), so the image can be made again.
    func resolve(quiet: Bool) -> UInt64 {
        if let v = UInt64(text) { return v }
        let s = UInt64.random(in: 0..<(1 << 53))
        if !quiet { FileHandle.standardError.write(Data("seed \(s)\n".utf8)) }
        return s
    }
}
