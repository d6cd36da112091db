import Foundation

/// Seeded mutation fuzzing of the `scalewise` binary: every mutant is a file (or an argument list) and a
/// command run in a sandbox folder with a timeout and an address-space cap, and ends in one of `Outcome`.
public enum Fuzz {
    public enum Kind: String, CaseIterable, Sendable {
        case safetensors, pth, png, flags
    }

    public enum Outcome: String, CaseIterable, Sendable {
        /// Exit 0.
        case accepted
        /// Exit 1…127 with a one-line error (a usage error, 64, may add the usage text after it).
        case cleanError = "clean error"
        /// Exit 1…127, but stderr is empty or more than one line.
        case messyError = "messy error"
        /// Killed by a signal, or an exit status ≥ 128.
        case crash
        /// Still running at the timeout.
        case hang
    }

    /// The seed files mutants are made from (small models, so a run takes milliseconds).
    public struct Corpus: Sendable {
        /// Generator/tokenizer pairs in safetensors.
        public var pairs: [(generator: String, tokenizer: String)]
        /// An official-style `.pth` generator and the tokenizer it pairs with.
        public var pth: (generator: String, tokenizer: String)
        /// A FlexVAR pair, for `edit`.
        public var flex: (generator: String, tokenizer: String)

        public init(pairs: [(String, String)], pth: (String, String), flex: (String, String)) {
            self.pairs = pairs.map { (generator: $0.0, tokenizer: $0.1) }
            self.pth = (generator: pth.0, tokenizer: pth.1)
            self.flex = (generator: flex.0, tokenizer: flex.1)
        }

        /// The repository's test fixtures (tiny random-weight models of VAR, MVAR and FlexVAR).
        public static func fixtures(repository root: String) -> Corpus {
            let f = root + "/Tests/EngineTests/Fixtures"
            return Corpus(pairs: [(f + "/var_tiny/var.safetensors", f + "/var_tiny/vqvae.safetensors"),
                                  (f + "/mvar_tiny/mvar.safetensors", f + "/var_tiny/vqvae.safetensors"),
                                  (f + "/flex_tiny/flexvar.safetensors", f + "/flex_tiny/flexvqvae.safetensors")],
                          pth: (f + "/var_tiny/var.pth", f + "/var_tiny/vqvae.safetensors"),
                          flex: (f + "/flex_tiny/flexvar.safetensors", f + "/flex_tiny/flexvqvae.safetensors"))
        }
    }

    public struct Config: Sendable {
        public var binary: String
        public var corpus: Corpus
        public var seed: UInt64 = 1
        public var mutants = 2000
        public var kinds = Kind.allCases
        public var jobs = max(2, ProcessInfo.processInfo.activeProcessorCount)
        /// Seconds before a run counts as a hang.
        public var timeout = 10.0
        /// Address-space cap of every run (ulimit -v), MiB.
        public var memoryMB = 4096
        /// Where the inputs of crashes, hangs and messy errors are copied (nil: not kept).
        public var keep: String?
        public var verbose = false
        /// Every run's number, kind, outcome, arguments and first stderr line, appended here when set.
        public var log: String?

        public init(binary: String, corpus: Corpus) {
            self.binary = binary
            self.corpus = corpus
        }
    }

    public struct Failure: Sendable, CustomStringConvertible {
        public var index: Int
        public var kind: Kind
        public var outcome: Outcome
        public var arguments: [String]
        public var detail: String
        public var description: String {
            "#\(index) \(kind.rawValue) \(outcome.rawValue): scalewise \(arguments.joined(separator: " ")) — \(detail)"
        }
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var counts: [Kind: [Outcome: Int]] = [:]
        public var failures: [Failure] = []
        public var runs = 0
        public var seconds = 0.0
        /// CPU time of the whole run (the fuzzer and every run of the binary), user + system.
        public var cpuSeconds = 0.0

        public func total(_ o: Outcome) -> Int { counts.values.reduce(0) { $0 + ($1[o] ?? 0) } }

        public var description: String {
            var lines = [String(format: "%d mutants in %.1f s (%.1f CPU s)", runs, seconds, cpuSeconds)]
            for k in Kind.allCases {
                guard let c = counts[k] else { continue }
                lines.append("  \(k.rawValue): " + Outcome.allCases.map { "\($0.rawValue) \(c[$0] ?? 0)" }.joined(separator: ", "))
            }
            lines.append("  total: " + Outcome.allCases.map { "\($0.rawValue) \(total($0))" }.joined(separator: ", "))
            lines += failures.prefix(20).map { "  " + $0.description }
            return lines.joined(separator: "\n")
        }
    }

    /// One mutant: files to write into the sandbox and the arguments to run.
    struct Mutant {
        var files: [(String, [UInt8])] = []
        var arguments: [String] = []
    }

    /// Runs `config.mutants` mutants spread over the kinds, `config.jobs` at a time.
    public static func run(_ config: Config) throws -> Report {
        let start = Date(), cpuStart = cpuTime()
        let root = NSTemporaryDirectory() + "scalewise-fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        if let keep = config.keep { try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true) }

        // Seed files, read once; PNG seeds are made by the binary itself.
        var seeds: [String: [UInt8]] = [:]
        func load(_ p: String) throws { seeds[p] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p))) }
        for p in config.corpus.pairs { try load(p.generator); try load(p.tokenizer) }
        try load(config.corpus.pth.generator)
        var pngSeeds: [[UInt8]] = []
        for (i, pair) in [config.corpus.pairs[0], config.corpus.flex].enumerated() {
            let out = root + "/seed\(i).png"
            let r = execute(config, ["generate", "-m", pair.generator, "--tokenizer", pair.tokenizer, "--class", "1", "--seed", "3",
                                     "--top-k", "10", "-q", "-o", out], in: root)
            guard r.status == 0 else { throw FuzzError("cannot make a seed PNG: \(r.stderr)") }
            pngSeeds.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))))
        }
        let frozen = seeds, pngs = pngSeeds

        let collector = Collector()
        collector.log = config.log.flatMap { fopen($0, "w") }
        defer { if let f = collector.log { fclose(f) } }
        DispatchQueue.concurrentPerform(iterations: config.jobs) { job in
            let dir = root + "/job\(job)"
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var i = job
            while i < config.mutants {
                resetSandbox(dir)
                var rng = FuzzRng(seed: config.seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(i) &* 0xD1B5_4A32_D192_ED03)
                let kind = config.kinds[i % config.kinds.count]
                let m = make(kind, &rng, config.corpus, frozen, pngs)
                for (name, bytes) in m.files { _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes)) }
                let r = execute(config, m.arguments, in: dir)
                let outcome = classify(r)
                collector.lock.lock()
                defer { collector.lock.unlock() }
                collector.report.counts[kind, default: [:]][outcome, default: 0] += 1
                collector.report.runs += 1
                if outcome == .crash || outcome == .hang || outcome == .messyError {
                    let detail = r.timedOut ? "timeout" : r.signal.map { "signal \($0)" } ?? "exit \(r.status): \(r.stderr.suffix(300))"
                    collector.report.failures.append(Failure(index: i, kind: kind, outcome: outcome, arguments: m.arguments, detail: detail))
                    if let keep = config.keep {
                        let d = keep + "/\(i)-\(kind.rawValue)-\(outcome.rawValue.replacingOccurrences(of: " ", with: "-"))"
                        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
                        for (name, bytes) in m.files { _ = FileManager.default.createFile(atPath: d + "/" + name, contents: Data(bytes)) }
                        let cmd = "scalewise " + m.arguments.map { "'\($0)'" }.joined(separator: " ") + "\n" + detail + "\n"
                        _ = FileManager.default.createFile(atPath: d + "/command.txt", contents: Data(cmd.utf8))
                    }
                }
                if let log = collector.log {
                    let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
                    fputs("\(i)\t\(kind.rawValue)\t\(outcome.rawValue)\t\(m.arguments.joined(separator: " "))\t\(first)\n", log)
                }
                if config.verbose && collector.report.runs % 500 == 0 {
                    FileHandle.standardError.write(Data("\(collector.report.runs) mutants…\n".utf8))
                }
                i += config.jobs
            }
        }
        var report = collector.report
        report.failures.sort { $0.index < $1.index }
        report.seconds = Date().timeIntervalSince(start)
        report.cpuSeconds = cpuTime() - cpuStart
        return report
    }

    /// User + system seconds of this process and its waited-for children.
    static func cpuTime() -> Double {
        var total = 0.0
        for who in [RUSAGE_SELF.rawValue, RUSAGE_CHILDREN.rawValue] {
            var u = rusage()
            getrusage(who, &u)
            total += Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
        }
        return total
    }

    /// The report the workers add to. @unchecked Sendable: `report` is only touched with `lock` held.
    final class Collector: @unchecked Sendable {
        let lock = NSLock()
        var report = Report()
        var log: UnsafeMutablePointer<FILE>?
    }

    /// Empties the sandbox but for a FIFO named `fifo` (recreated if a run replaced it).
    static func resetSandbox(_ dir: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name != "fifo" {
            try? FileManager.default.removeItem(atPath: dir + "/" + name)
        }
        var st = stat()
        if lstat(dir + "/fifo", &st) != 0 || (st.st_mode & S_IFMT) != S_IFIFO {
            try? FileManager.default.removeItem(atPath: dir + "/fifo")
            mkfifo(dir + "/fifo", 0o600)
        }
    }

    static func make(_ kind: Kind, _ rng: inout FuzzRng, _ corpus: Corpus, _ seeds: [String: [UInt8]], _ pngs: [[UInt8]]) -> Mutant {
        var m = Mutant()
        switch kind {
        case .safetensors:
            let pair = rng.pick(corpus.pairs)
            if rng.chance(0.7) {
                m.files = [("model.safetensors", SafeTensorsMutator.mutate(seeds[pair.generator]!, &rng))]
                m.arguments = rng.pick([
                    ["info", "model.safetensors"],
                    ["generate", "-m", "model.safetensors", "--tokenizer", pair.tokenizer, "--class", "0", "-q", "-o", "out.png"],
                    ["generate", "-m", "model.safetensors", "--tokenizer", pair.tokenizer, "--class", "0", "-q", "-o", "out.png"],
                    ["classes", "-m", "model.safetensors", "--tokenizer", pair.tokenizer],
                    // The tokenizer its `tokenizer` metadata names.
                    ["generate", "-m", "model.safetensors", "--class", "0", "-q", "-o", "out.png"],
                    ["convert", "model.safetensors", "-o", "converted.safetensors"],
                ])
            } else {
                m.files = [("tok.safetensors", SafeTensorsMutator.mutate(seeds[pair.tokenizer]!, &rng))]
                m.arguments = ["generate", "-m", pair.generator, "--tokenizer", "tok.safetensors", "--class", "0", "-q", "-o", "out.png"]
            }
        case .pth:
            m.files = [("model.pth", PthMutator.mutate(seeds[corpus.pth.generator]!, &rng))]
            m.arguments = rng.pick([
                ["info", "model.pth"], ["convert", "model.pth", "-o", "converted.safetensors"],
                ["generate", "-m", "model.pth", "--tokenizer", corpus.pth.tokenizer, "--class", "0", "-q", "-o", "out.png"],
            ])
        case .png:
            let which = rng.below(pngs.count)
            m.files = [("in.png", PNGMutator.mutate(pngs[which], &rng, fifo: "fifo"))]
            let pair = which == 0 ? corpus.pairs[0] : corpus.flex
            m.arguments = rng.pick([
                ["generate", "--from-png", "in.png", "-m", pair.generator, "--tokenizer", pair.tokenizer, "-q", "-o", "out.png"],
                ["generate", "--from-png", "in.png", "-m", pair.generator, "--tokenizer", pair.tokenizer, "-q", "-o", "out.png"],
                ["generate", "--from-png", "in.png", "-q", "-o", "out.png"],
                ["edit", "-m", corpus.flex.generator, "--tokenizer", corpus.flex.tokenizer, "--class", "0", "--image", "in.png",
                 "--refine", "2", "-o", "out.png"],
            ])
        case .flags:
            m.arguments = Flags.arguments(&rng, corpus)
        }
        return m
    }

    struct Result {
        var status: Int32
        var signal: Int32?
        var timedOut: Bool
        var stderr: String
    }

    /// Runs the binary under `sh -c 'ulimit -v …; exec …'` with stdin from /dev/null, a sandbox HOME and
    /// one BLAS thread, killing it at the timeout.
    static func execute(_ config: Config, _ arguments: [String], in dir: String) -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "ulimit -v \(config.memoryMB * 1024) && exec \"$0\" \"$@\"", config.binary] + arguments
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        var env = ProcessInfo.processInfo.environment
        for k in ["SCALEWISE_MODELS", "SCALEWISE_TUI_LOG", "TERM", "COLORTERM"] { env.removeValue(forKey: k) }
        env["HOME"] = dir
        env["XDG_CACHE_HOME"] = dir + "/.cache"
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["OMP_NUM_THREADS"] = "1"
        p.environment = env
        let errPath = dir + "/.stderr"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle(forWritingAtPath: errPath)
        do { try p.run() } catch { return Result(status: 127, signal: nil, timedOut: false, stderr: "cannot run: \(error)") }
        let start = Date()
        var timedOut = false
        while p.isRunning {
            if Date().timeIntervalSince(start) > config.timeout {
                timedOut = true
                kill(p.processIdentifier, SIGKILL)
                break
            }
            usleep(5000)
        }
        p.waitUntilExit()
        let err = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data(), as: UTF8.self)
        let signaled = p.terminationReason == .uncaughtSignal
        return Result(status: p.terminationStatus, signal: signaled ? p.terminationStatus : nil, timedOut: timedOut, stderr: err)
    }

    static func classify(_ r: Result) -> Outcome {
        if r.timedOut { return .hang }
        if r.signal != nil || r.status >= 128 { return .crash }
        if r.status == 0 { return .accepted }
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        if r.status == 64, lines.first?.hasPrefix("Error: ") == true { return .cleanError }
        return lines.count == 1 ? .cleanError : .messyError
    }
}

public struct FuzzError: Error, CustomStringConvertible {
    public let description: String
    init(_ s: String) { description = s }
}

/// Random command lines: real commands and flags, values from `Interesting` and a few hostile paths.
enum Flags {
    /// `--config` and `--tokenizer-config` values: JSON objects with hostile fields, broken JSON, hostile files.
    static func configJSON(_ rng: inout FuzzRng) -> String {
        switch rng.below(4) {
        case 0: return rng.pick(["", "{", "[]", "null", "3", "{\"depth\": }", "fifo", "/dev/zero", "absent.json", ".",
                                 "{\"a\":" + String(repeating: "[", count: 5000)])
        default:
            var obj: [String: Any] = [:]
            for _ in 0..<(1 + rng.below(3)) { obj[rng.pick(SafeTensorsMutator.fields)] = SafeTensorsMutator.hostileValue(&rng) }
            let d = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data("{}".utf8)
            return String(decoding: d, as: UTF8.self)
        }
    }

    /// A command that loads a real model, with one of the flags that go over what its files say.
    static func overriding(_ rng: inout FuzzRng, _ corpus: Fuzz.Corpus) -> [String] {
        let pair = rng.pick(corpus.pairs + [corpus.pth])
        var args = ["generate", "-m", pair.generator, "--tokenizer", pair.tokenizer, "--class", "0", "-q", "-o", "out.png"]
        for _ in 0..<(1 + rng.below(2)) {
            switch rng.below(3) {
            case 0: args += ["--config", configJSON(&rng)]
            case 1: args += ["--tokenizer-config", configJSON(&rng)]
            default: args += ["--cfg-mode", rng.pick(["ramp", "constant", "sideways", "", "RAMP"])]
            }
        }
        return args
    }

    static func arguments(_ rng: inout FuzzRng, _ corpus: Fuzz.Corpus) -> [String] {
        if rng.chance(0.3) { return overriding(&rng, corpus) }
        let pair = rng.pick(corpus.pairs)
        let models = [pair.generator, corpus.flex.generator, corpus.pth.generator, "fifo", "/dev/null", ".", "absent", "glyphs-var", ""]
        let numbers = Interesting.numbers + ["", "abc", "1.5", "0x10", "--", "-"]
        let schedules = ["1,2,4", "1x1,2x3,4x6", "1,2,3037000500", "1,300", "0", "1,2,1", "", "1,2,4,8,16,32,64", "1x256", ",", "x"]
        let paths = ["out.png", "fifo", "/dev/null", ".", "sub/out.png", "", "\u{1B}[2J.png"]
        var args = [rng.pick(["generate", "generate", "generate", "edit", "bench", "info", "classes", "convert", "tui", "models"])]
        let flags = ["-m", "--tokenizer", "--cfg", "--top-k", "--top-p", "--temperature", "--seed", "--steps", "--threads",
                     "--scales", "--count", "--precision", "--class", "-o", "--tokens-out", "--from-png", "--image", "--mask",
                     "--refine", "--extend", "--images", "--force", "--grid", "--more-smooth", "--cfg-constant", "-q", "--log",
                     "--output-dir", "--config", "--tokenizer-config", "--cfg-mode"]
        for _ in 0..<(1 + rng.below(8)) {
            let flag = rng.pick(flags)
            var value: String?
            switch flag {
            case "-m": value = rng.pick(models)
            case "--tokenizer": value = rng.pick([pair.tokenizer, "fifo", "/dev/zero", "absent", pair.generator])
            case "--scales": value = rng.pick(schedules)
            case "--count", "--images": value = rng.pick(["-1", "0", "1", "2", "1025", "99999999999999999999", "x"])
            case "--threads": value = rng.pick(["0", "1", "2", "1000", "-1", "99999999999"])
            case "--precision": value = rng.pick(["auto", "fp32", "bf16", "int8", "fp8", ""])
            case "--class": value = rng.pick(["0", "1", "-1", "999999", "c1", "", "\u{1B}]0;x\u{07}", "9223372036854775807"])
            case "-o", "--tokens-out", "--log", "--output-dir": value = rng.pick(paths)
            case "--from-png", "--image", "--mask": value = rng.pick(["fifo", "/dev/zero", "absent.png", pair.generator, "."])
            case "--extend": value = rng.pick(["left", "right", "up", "down", "sideways", ""])
            case "--config", "--tokenizer-config": value = configJSON(&rng)
            case "--cfg-mode": value = rng.pick(["ramp", "constant", "sideways", ""])
            case "--force", "--grid", "--more-smooth", "--cfg-constant", "-q": value = nil
            default: value = rng.pick(numbers)
            }
            if let v = value {
                if rng.chance(0.5) { args += [flag, v] } else { args.append(flag + "=" + v) }
            } else {
                args.append(flag)
            }
        }
        // Keep outputs in the sandbox: -o by default when none was given.
        if ["generate", "edit"].contains(args[0]), !args.contains(where: { $0 == "-o" || $0.hasPrefix("-o=") }) {
            args += ["-o", "out.png"]
        }
        if ["info", "convert"].contains(args[0]) { args.insert(rng.pick(models), at: 1) }
        return args
    }
}
