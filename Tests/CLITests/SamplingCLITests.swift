import Foundation
import ScalewiseEngine
import XCTest

/// The binary as a researcher drives it: flags as typed, guidance rules, sharded sampling, model folders, bench.
final class SamplingCLITests: XCTestCase {
    var tmp: String!

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "scalewise-sampling-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    func run(_ args: [String], environment: [String: String] = [:]) throws -> CLITests.Result {
        try CLITests.run(CLITests.binary, args, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    static let fixtureRoot = (CLITests.fixtures as NSString).deletingLastPathComponent
    var varModel: String { CLITests.fixtures + "/var.safetensors" }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func assertUsageError(_ r: CLITests.Result, _ words: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        XCTAssertLessThan(r.status, 128, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(words), r.stderr, file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Missing value"), r.stderr, file: file, line: line)
    }

    /// Seeds take the whole UInt64 range the TUI and the records use, in every command; a random one is said.
    func testSeedsCoverUInt64() throws {
        let max = String(UInt64.max), png = tmp + "/max.png"
        let ok = try run(["generate", "-m", varModel, "-c", "3", "--seed", max, "-q", "-o", png])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let record = try PNG.read(png).1["scalewise"] ?? ""
        XCTAssertTrue(record.contains("\"seed\":\(max)"), record)
        // Each command takes it: what fails next is another flag, never the seed.
        for args in [["tui", "--seed", max, "--probe-timeout", "0"],
                     ["edit", "--seed", max, "-c", "0", "--image", tmp + "/none.png", "-o", tmp + "/e.png"],
                     ["sample", "--seed", max, "--per-class", "1", "--cfg", "500", "-o", tmp + "/s"]] {
            let r = try run(args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertFalse(r.stderr.contains("seed"), "\(args): \(r.stderr)")
        }
        assertUsageError(try run(["generate", "-m", varModel, "-c", "3", "--seed", "18446744073709551616", "-o", tmp + "/x.png"]),
                         "got 18446744073709551616 from --seed")
        let random = try run(["generate", "-m", varModel, "-c", "3", "--seed", "-1", "-o", tmp + "/r.png"])
        XCTAssertEqual(random.status, 0, random.stderr)
        XCTAssertNotNil(random.stderr.range(of: #"(^|\n)seed [0-9]+\n"#, options: .regularExpression), random.stderr)
        let quiet = try run(["generate", "-m", varModel, "-c", "3", "--seed", "-1", "-q", "-o", tmp + "/q.png"])
        XCTAssertEqual(quiet.stderr, "")
    }

    /// --cfg-constant is --cfg-mode constant: with --cfg-mode ramp it is a usage error, not a silent winner.
    func testContradictoryGuidanceFlagsAreRefused() throws {
        for args in [["--cfg-constant", "--cfg-mode", "ramp"], ["--cfg-mode", "ramp", "--cfg-constant"]] {
            let r = try run(["generate", "-m", varModel, "-c", "3", "-q", "-o", tmp + "/x.png"] + args)
            XCTAssertEqual(r.status, 64, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("Error: --cfg-constant and --cfg-mode ramp contradict each other"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/x.png"))
        }
        let same = try run(["generate", "-m", varModel, "-c", "3", "-q", "-o", tmp + "/y.png", "--cfg-constant", "--cfg-mode", "constant"])
        XCTAssertEqual(same.status, 0, same.stderr)
    }

    /// Errors as the man page says: one line and exit 1 for a bad file, the command's own usage (exit 64) for a bad
    /// flag, an unknown command said as such.
    func testExitCodesAndMessages() throws {
        let plain = tmp + "/plain.png", made = tmp + "/made.png"
        XCTAssertEqual(try run(["generate", "-m", varModel, "-c", "3", "-q", "-o", plain, "--seed", "2"]).status, 0)
        try Data(Craft.stripRecord(plain)).write(to: URL(fileURLWithPath: plain))
        let noRecord = try run(["generate", "--from-png", plain, "-q", "-o", tmp + "/x.png"])
        XCTAssertEqual(noRecord.status, 1, noRecord.stderr)
        XCTAssertEqual(noRecord.stderr, "Error: \(plain) has no scalewise record\n")
        for (flag, value, message) in [("--precision", "fp64", "--precision must be auto"), ("--threads", "0", "--threads must be positive")] {
            let r = try run(["generate", "-m", varModel, "-c", "3", flag, value, "-o", tmp + "/x.png"])
            XCTAssertEqual(r.status, 64, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("Error: \(message)") && r.stderr.contains("Usage: scalewise generate"), r.stderr)
        }
        let negative = try run(["generate", "-m", varModel, "-c", "-1", "-o", tmp + "/x.png"])
        XCTAssertEqual(negative.status, 1, negative.stderr)
        XCTAssertTrue(negative.stderr.hasPrefix("Error: class -1 is out of range"), negative.stderr)
        let unknown = try run(["frobnicate"])
        XCTAssertEqual(unknown.status, 64, unknown.stderr)
        XCTAssertTrue(unknown.stderr.hasPrefix("Error: unknown command 'frobnicate' (commands: tui, generate,"), unknown.stderr)
        XCTAssertEqual(unknown.stderr.split(separator: "\n").count, 1, unknown.stderr)
        // A record replayed on a model whose fixed schedule it does not fit.
        XCTAssertEqual(try run(["generate", "-m", "glyphs64-var", "-c", "A", "-q", "-o", made]).status, 0)
        let misfit = try run(["generate", "--from-png", made, "-m", "glyphs-var", "-q", "-o", tmp + "/x.png"])
        XCTAssertEqual(misfit.status, 1, misfit.stderr)
        XCTAssertEqual(misfit.stderr, "Error: \(made): the record's schedule (10 steps up to 16×16) does not fit glyphs-var "
                       + "(7 steps up to 8×8); it was made with glyphs64-var\n")
    }

    /// Negative numbers are values: `--seed -1` picks a seed, `--cfg -5` gets the range error.
    func testNegativeNumbersParseAsValues() throws {
        let ok = try run(["generate", "-m", varModel, "-c", "3", "--seed", "-1", "-q", "-o", tmp + "/r.png"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        assertUsageError(try run(["generate", "-m", varModel, "-c", "3", "--cfg", "-5", "-o", tmp + "/x.png"]), "cfg must be a finite number in 0…100, got -5 from --cfg")
        assertUsageError(try run(["generate", "-m", varModel, "-c", "3", "--seed", "-7", "-o", tmp + "/x.png"]), "seed must be an integer in 0…18446744073709551615, or -1 for a random one, got -7 from --seed")
        assertUsageError(try run(["generate", "-m", varModel, "-c", "3", "--top-k", "-2", "-o", tmp + "/x.png"]), "top-k must be an integer in 0…16777216 (0 = off), got -2 from --top-k")
        assertUsageError(try run(["bench", "-m", varModel, "--cfg", "-1"]), "cfg must be a finite number in 0…100, got -1 from --cfg")
    }

    /// `--cfg-mode` is recorded in the PNG and `--from-png` reproduces it; a family with one rule refuses the other.
    func testGuidanceRuleIsRecordedAndReproduced() throws {
        let a = tmp + "/a.png", b = tmp + "/b.png", c = tmp + "/c.png"
        for (out, mode) in [(a, "constant"), (c, "ramp")] {
            let r = try run(["generate", "-m", varModel, "-c", "3", "--cfg", "3", "--cfg-mode", mode, "--seed", "5", "-q", "-o", out])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let text = String(decoding: try bytes(a), as: UTF8.self)
        XCTAssertTrue(text.contains("\"cfg_mode\":\"constant\""))
        XCTAssertTrue(text.contains("CFG mode: constant"))
        let r = try run(["generate", "--from-png", a, "-m", varModel, "-q", "-o", b])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try bytes(a), try bytes(b), "reproduced under the recorded rule")
        XCTAssertNotEqual(try bytes(a), try bytes(c), "the rules give other images")
        let aim = Self.fixtureRoot + "/mamba_tiny/aim.safetensors"
        assertUsageError(try run(["generate", "-m", aim, "-c", "1", "--cfg-mode", "ramp", "-o", tmp + "/x.png"]),
                         "constant guidance rule only")
        XCTAssertTrue(try run(["generate", "--help"]).stdout.contains("--cfg-mode"))
    }

    /// Steps far beyond the model's trained size need `--allow-large`.
    func testLargeScalesNeedOptIn() throws {
        let flex = Self.fixtureRoot + "/flex_tiny/flexvar.safetensors"
        assertUsageError(try run(["generate", "-m", flex, "-c", "1", "--scales", "1,2,200", "-o", tmp + "/x.png"]), "--allow-large")
        let r = try run(["generate", "-m", flex, "-c", "1", "--scales", "1,2,4,8,16,24", "-q", "-o", tmp + "/ok.png"])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    /// Two shards make exactly the one-task run, image for image; a shard resumes; the merge is the evaluator's npz.
    func testShardsMergeIntoOneRun() throws {
        let common = ["sample", "-m", varModel, "--per-class", "2", "--classes", "1,4,7", "--seed", "10", "--top-k", "1"]
        let one = tmp + "/one", two = tmp + "/two"
        XCTAssertEqual(try run(common + ["-o", one]).status, 0)
        for i in 0..<2 {
            let r = try run(common + ["--shard", "\(i)/2", "-o", two])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("wrote 3 sample(s) of 6"), r.stdout)
            XCTAssertTrue(r.stderr.isEmpty, "no progress when stderr is not a terminal: \(r.stderr)")
        }
        for g in 0..<6 {
            let name = String(format: "/%06d.png", g)
            XCTAssertEqual(try bytes(one + name), try bytes(two + name), name)
        }
        try FileManager.default.removeItem(atPath: two + "/000003.png")
        let resumed = try run(common + ["--shard", "1/2", "-o", two])
        XCTAssertTrue(resumed.stdout.contains("wrote 1 sample(s) of 6"), resumed.stdout)
        XCTAssertEqual(try bytes(one + "/000003.png"), try bytes(two + "/000003.png"))
        assertUsageError(try run(common.map { $0 == "10" ? "11" : $0 } + ["-o", two]), "another run (seed differ)")

        for dir in [one, two] { XCTAssertEqual(try run(["sample", "--merge", dir, "-o", dir + ".npz"]).status, 0) }
        let npz = try bytes(one + ".npz")
        XCTAssertEqual(npz, try bytes(two + ".npz"))
        XCTAssertEqual(Array(npz.prefix(4)), [0x50, 0x4B, 0x03, 0x04], "a zip")
        let text = String(decoding: npz, as: UTF8.self)
        XCTAssertTrue(text.contains("arr_0.npy"))
        XCTAssertTrue(text.contains("'descr': '|u1', 'fortran_order': False, 'shape': (6, 32, 32, 3)"))
        XCTAssertGreaterThan(npz.count, 6 * 32 * 32 * 3)
        try FileManager.default.removeItem(atPath: one + "/000005.png")
        assertUsageError(try run(["sample", "--merge", one, "-o", tmp + "/x.npz"]), "1 of 6 samples missing")
    }

    /// Official file names in a Hugging Face cache are found, paired and marked in `scalewise models`, and load by name.
    func testModelsTableFindsTheHuggingFaceCache() throws {
        let snap = tmp + "/hub/models--FoundationVision--var/snapshots/abc123"
        try FileManager.default.createDirectory(atPath: snap, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLITests.fixtures + "/var.pth", toPath: snap + "/var_d2.pth")
        try FileManager.default.copyItem(atPath: CLITests.fixtures + "/vqvae.safetensors", toPath: snap + "/vae_ch160v4096z32.pth")
        let env = ["HF_HUB_CACHE": tmp + "/hub", "XDG_DATA_HOME": tmp + "/data"]
        let r = try run(["models"], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.contains("var_d2") }, r.stdout)
        XCTAssertTrue(line.contains("hf:FoundationVision/var") && line.contains("vae_ch160v4096z32.pth (next to it)"), String(line))
        XCTAssertTrue(line.contains("VAR"))
        XCTAssertTrue(r.stdout.contains("TOKENIZER"))
        let g = try run(["generate", "-m", "var_d2", "-c", "2", "-q", "-o", tmp + "/hf.png"], environment: env)
        XCTAssertEqual(g.status, 0, g.stderr)
    }

    /// `bench` runs every shipped model, each through its own schedule.
    func testBenchRunsEveryShippedModel() throws {
        let weights = ((Self.fixtureRoot as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("../../weights")
        let names = try FileManager.default.contentsOfDirectory(atPath: weights).filter {
            $0.hasSuffix(".safetensors") && !$0.contains("vqvae")
        }.sorted()
        XCTAssertEqual(names.count, 7, "\(names)")
        for n in names {
            let r = try run(["bench", "-m", weights + "/" + n, "--images", "1", "--json", "--threads", "2"])
            XCTAssertEqual(r.status, 0, "\(n): \(r.stderr)")
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], n)
            XCTAssertFalse((obj["per_scale_ms"] as? [Double] ?? []).isEmpty, n)
        }
    }

    /// Without --threads a small model runs on one thread and says why; --threads N is used exactly (up to the
    /// cores); OPENBLAS_NUM_THREADS still sets the count.
    func testBenchThreadRule() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let base = ["bench", "-m", varModel, "--tokenizer", CLITests.fixtures + "/vqvae.safetensors", "--images", "1"]
        func threads(_ extra: [String], env: [String: String] = [:]) throws -> (Int, String) {
            let r = try CLITests.run(CLITests.binary, base + extra + ["--json"],
                                     environment: ProcessInfo.processInfo.environment.filter { $0.key != "OPENBLAS_NUM_THREADS" }
                                        .merging(env) { $1 })
            XCTAssertEqual(r.status, 0, r.stderr)
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            return (try XCTUnwrap(obj["threads"] as? Int), try XCTUnwrap(obj["threads_reason"] as? String))
        }
        let auto = try threads([])
        XCTAssertEqual(auto.0, 1)
        XCTAssertEqual(auto.1, cores > 1 ? "auto: small model" : "auto: one core")
        XCTAssertEqual(try threads(["--threads", "2"]).0, min(2, cores))
        XCTAssertEqual(try threads(["--threads", "2"]).1, "--threads")
        XCTAssertEqual(try threads([], env: ["OPENBLAS_NUM_THREADS": "2"]).1, "OPENBLAS_NUM_THREADS")
        let text = try CLITests.run(CLITests.binary, base,
                                    environment: ProcessInfo.processInfo.environment.filter { $0.key != "OPENBLAS_NUM_THREADS" })
        XCTAssertTrue(text.stdout.contains("threads 1 (auto: "), text.stdout)
    }
}
