import Foundation
import ScalewiseFuzz

// scalewise-fuzz [--seed N] [--mutants N] [--jobs N] [--timeout S] [--memory-mb N] [--kinds a,b] [--keep DIR]
//                [--log FILE] [--binary PATH]
// Seeded mutation fuzzing of the scalewise binary (default: the one built next to this program) with the
// repository's test fixtures as seeds. Exit status 1 when any run crashed, hung or failed without a one-line
// error; the inputs of those runs are copied to --keep.

let args = Array(CommandLine.arguments.dropFirst())
func value(_ flag: String) -> String? {
    guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
    return args[i + 1]
}
if args.contains("--help") || args.contains("-h") {
    print("usage: scalewise-fuzz [--seed N] [--mutants N] [--jobs N] [--timeout S] [--memory-mb N] [--kinds safetensors,pth,png,flags] [--keep DIR] [--log FILE] [--binary PATH]")
    exit(0)
}
let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
// Absolute: every run starts in its own sandbox folder.
let binary = value("--binary").map { URL(fileURLWithPath: $0).standardizedFileURL.path }
    ?? exe.deletingLastPathComponent().appendingPathComponent("scalewise").path
guard FileManager.default.isExecutableFile(atPath: binary) else {
    FileHandle.standardError.write(Data("scalewise-fuzz: \(binary) is not an executable (build it, or pass --binary)\n".utf8))
    exit(2)
}
var root = exe.deletingLastPathComponent()
while root.path != "/" && !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
    root.deleteLastPathComponent()
}
var config = Fuzz.Config(binary: binary, corpus: .fixtures(repository: root.path))
if let v = value("--seed").flatMap({ UInt64($0) }) { config.seed = v }
if let v = value("--mutants").flatMap({ Int($0) }) { config.mutants = v }
if let v = value("--jobs").flatMap({ Int($0) }) { config.jobs = max(1, v) }
if let v = value("--timeout").flatMap({ Double($0) }) { config.timeout = v }
if let v = value("--memory-mb").flatMap({ Int($0) }) { config.memoryMB = v }
if let v = value("--kinds") { config.kinds = v.split(separator: ",").compactMap { Fuzz.Kind(rawValue: String($0)) } }
config.keep = value("--keep")
config.log = value("--log")
config.verbose = true
do {
    let report = try Fuzz.run(config)
    print(report)
    exit(report.total(.crash) + report.total(.hang) + report.total(.messyError) == 0 ? 0 : 1)
} catch {
    FileHandle.standardError.write(Data("scalewise-fuzz: \(error)\n".utf8))
    exit(2)
}
