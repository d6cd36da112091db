import Foundation
import XCTest

/// Drives the real `scalewise` binary: exit codes, one-line errors, PNG metadata and bit-exact reproduction.
final class CLITests: XCTestCase {
    /// `.build/<config>/scalewise`, next to the test bundle.
    static let binary: URL = {
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("scalewise").path) {
            dir.deleteLastPathComponent()
        }
        return dir.appendingPathComponent("scalewise")
    }()

    static let fixtures: String = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        dir.appendPathComponent("EngineTests/Fixtures/var_tiny")
        return dir.path
    }()

    var tmp: String!

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "scalewise-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func run(_ args: [String], environment: [String: String]? = nil) throws -> Result {
        try Self.run(Self.binary, args, environment: environment.map { ProcessInfo.processInfo.environment.merging($0) { $1 } })
    }

    /// Runs `executable` with exactly `environment` (nil: this process's) in `directory` (nil: this one's), plus
    /// the test cache folder when the environment names none.
    static func run(_ executable: URL, _ args: [String], environment: [String: String]?, in directory: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        p.environment = withTestCache(environment ?? ProcessInfo.processInfo.environment)
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }

    var model: String { Self.fixtures + "/var.safetensors" }

    /// Weight hashes go to the test run's folder (TestCache sets it in this process), also for a run given an
    /// environment of its own, not to the user's `~/.cache/scalewise`.
    static func withTestCache(_ environment: [String: String]) -> [String: String] {
        var e = environment
        if e["XDG_CACHE_HOME"] == nil { e["XDG_CACHE_HOME"] = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] }
        return e
    }

    func testHelpListsCommands() throws {
        let r = try run(["--help"])
        XCTAssertEqual(r.status, 0)
        for cmd in ["generate", "edit", "info", "classes", "convert", "bench", "tui"] {
            XCTAssertTrue(r.stdout.contains(cmd), "help lacks \(cmd)")
        }
    }

    /// On a CPU with AVX2 the binary must never run OpenBLAS's SSE3 fallback kernels (it restarts itself with
    /// OPENBLAS_CORETYPE), and a user's own OPENBLAS_CORETYPE wins.
    func testBenchReportsFastBLASKernels() throws {
        let r = try run(["bench", "--model", model, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.split(separator: "\n").last!.utf8)) as! [String: Any]
        let kernels = try XCTUnwrap(json["blas_kernels"] as? String)
        XCTAssertNotNil(json["sgemm_ceiling_gflops"] as? Double)
        let peak = try XCTUnwrap(json["peak_rss_mb"] as? Double), loaded = try XCTUnwrap(json["loaded_rss_mb"] as? Double)
        XCTAssertGreaterThan(peak, loaded, "the peak includes the loaded model")
        XCTAssertLessThanOrEqual(peak, try XCTUnwrap(json["rss_budget_mb"] as? Double))
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        if flags.contains("avx2") && flags.contains("fma") && ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil {
            XCTAssertFalse(["Prescott", "Core2", "Penryn", "Nehalem", "Atom", "Barcelona", "Opteron"].contains(kernels), kernels)
        }
        let forced = try run(["bench", "--model", model, "--json"], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertTrue(forced.stdout.contains("\"blas_kernels\": \"Prescott\""), forced.stdout)
    }

    /// Progress redrawn with carriage returns is for a terminal; a log (stderr to a file or pipe) gets one plain
    /// summary line per image, in ASCII when the locale is not UTF-8.
    func testProgressInALogIsOneLine() throws {
        let r = try run(["generate", "--model", model, "--class", "3", "-o", tmp + "/log.png"],
                        environment: ["LC_ALL": "C"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stderr.contains("\r"), r.stderr)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, r.stderr)  // the summary, then "saved …"
        XCTAssertTrue(lines[0].hasPrefix("scale 10/10 16x16 cfg "), r.stderr)
        XCTAssertTrue(lines[0].contains("| transformer "), r.stderr)
        XCTAssertTrue(r.stderr.allSatisfy(\.isASCII), r.stderr)
    }

    func testMissingClassIsUsageError() throws {
        let r = try run(["generate", "--model", model, "-o", tmp + "/x.png"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("missing --class"), r.stderr)
    }

    func testBadFlagsAreUsageErrors() throws {
        XCTAssertEqual(try run(["generate", "--model", model, "--class", "1", "--top-p", "2"]).status, 64)
        XCTAssertEqual(try run(["generate", "--model", model, "--class", "1", "--bogus"]).status, 64)
        XCTAssertEqual(try run(["generate", "--model", model, "--class", "1", "--cfg", "nan"]).status, 64)
        XCTAssertEqual(try run(["generate", "--model", model, "--class", "1", "--temperature", "0"]).status, 64)
    }

    /// --temperature changes the draws, is recorded in the PNG, and --from-png reproduces it bit for bit.
    func testTemperatureIsAppliedAndRecorded() throws {
        let plain = tmp + "/t1.png", hot = tmp + "/t3.png", again = tmp + "/t3b.png"
        XCTAssertEqual(try run(["generate", "--model", model, "--class", "2", "--seed", "3", "-o", plain, "-q"]).status, 0)
        let r = try run(["generate", "--model", model, "--class", "2", "--seed", "3", "--temperature", "3", "-o", hot, "-q"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let hotData = try Data(contentsOf: URL(fileURLWithPath: hot))
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: plain)), hotData, "temperature had no effect")
        XCTAssertTrue(String(decoding: hotData, as: UTF8.self).contains("\"temperature\":3"), "temperature not recorded")
        XCTAssertEqual(try run(["generate", "--from-png", hot, "--model", model, "-o", again, "-q"]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: again)), hotData, "--from-png lost the temperature")
    }

    func testUnknownClassIsOneLineError() throws {
        let r = try run(["generate", "--model", model, "--class", "zebra", "-o", tmp + "/x.png"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.trimmingCharacters(in: .newlines), "Error: unknown class 'zebra' (see `scalewise classes`)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/x.png"))
    }

    func testTruncatedWeightsAreOneLineError() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: model))
        let bad = tmp + "/trunc.safetensors"
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: bad))
        let r = try run(["generate", "--model", bad, "--tokenizer", Self.fixtures + "/vqvae.safetensors", "--class", "1",
                         "-o", tmp + "/x.png"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("trunc.safetensors"), r.stderr)
    }

    func testGarbageFileIsOneLineError() throws {
        let bad = tmp + "/garbage.pth"
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131) }).write(to: URL(fileURLWithPath: bad))
        let r = try run(["info", bad])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }

    func testGenerateWritesReproduciblePNGAndNeverOverwrites() throws {
        let out = tmp + "/a.png", tokens = tmp + "/t.json"
        let r = try run(["generate", "--model", model, "--class", "c3", "--seed", "5", "--cfg", "2", "--top-k", "10",
                         "-o", out, "--tokens-out", tokens, "-q"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let first = try Data(contentsOf: URL(fileURLWithPath: out))
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tokens))) as! [String: Any]
        let scales = (obj["images"] as! [[[Int]]])[0]
        XCTAssertEqual(scales.map(\.count), [1, 4, 9, 16, 25, 36, 64, 100, 169, 256])

        let again = try run(["generate", "--model", model, "--class", "3", "-o", out, "-q"])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("exists; use --force"), again.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), first, "existing file was modified")

        let copy = tmp + "/b.png"
        let rep = try run(["generate", "--from-png", out, "--model", model, "-o", copy, "-q"])
        XCTAssertEqual(rep.status, 0, rep.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: copy)), first, "--from-png is not bit-exact")
    }

    func testInfoAndClasses() throws {
        let info = try run(["info", model])
        XCTAssertEqual(info.status, 0)
        XCTAssertTrue(info.stdout.contains("family:     var"), info.stdout)
        let classes = try run(["classes", "--model", model, "c1"])
        XCTAssertEqual(classes.stdout, "1\tc1\n")
    }
}
