import Foundation
import ScalewiseEngine
import XCTest

/// PNG records keep the SHA-256 of the model and tokenizer files: a replay refuses a file of the same path and
/// size with other bytes (unless the user names the file), and `info` prints the hash to compare with a hub's.
final class FingerprintTests: XCTestCase {
    var tmp: String!

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "scalewise-fingerprint-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        for name in ["glyphs-var", "glyphs-vqvae"] {
            try FileManager.default.copyItem(atPath: Craft.shipped(name), toPath: path(name + ".safetensors"))
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    func path(_ name: String) -> String { tmp + "/" + name }
    var model: String { path("glyphs-var.safetensors") }
    var tokenizer: String { path("glyphs-vqvae.safetensors") }

    func run(_ args: [String]) throws -> TimedRun {
        try TimedRun.run(args + ["-q", "--threads", "2"], timeout: 60, environment: ["XDG_CACHE_HOME": path("cache")])
    }

    func record(_ png: String) throws -> GenerationRecord {
        try GenerationRecord.parse(try XCTUnwrap(PNG.readText(png)["scalewise"]), path: png)
    }

    /// One weight byte of `file` flipped (its last byte: tensor data, not the header); same size, same path.
    func flipByte(_ file: String) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count - 1] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: file))
    }

    func sha(_ file: String) throws -> String { try FileDigest.sha256(path: file) }

    func testRecordKeepsHashesAndReplayReproduces() throws {
        let r = try run(["generate", "-m", model, "-c", "3", "-o", path("a.png")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rec = try record(path("a.png"))
        XCTAssertEqual(rec.modelSHA256, try sha(model))
        XCTAssertEqual(rec.tokenizerSHA256, try sha(tokenizer))
        XCTAssertTrue(try XCTUnwrap(PNG.readText(path("a.png"))["parameters"]).contains("Model hash: \(try sha(model).prefix(10)),"))
        // The cache in XDG_CACHE_HOME now knows both files.
        let cache = try String(contentsOfFile: path("cache/scalewise/sha256"), encoding: .utf8)
        XCTAssertTrue(cache.contains(model) && cache.contains(tokenizer), cache)

        XCTAssertEqual(try run(["generate", "--from-png", path("a.png"), "-o", path("b.png")]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("a.png"))), try Data(contentsOf: URL(fileURLWithPath: path("b.png"))))
    }

    func testModelsFoundByNameAreHashedToo() throws {
        let r = try TimedRun.run(["generate", "-m", "glyphs-var", "-c", "3", "-q", "-o", path("n.png")], timeout: 60,
                                 environment: ["XDG_CACHE_HOME": path("cache"), "SCALEWISE_MODELS": tmp])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rec = try record(path("n.png"))
        XCTAssertNil(rec.modelFile)
        XCTAssertEqual(rec.modelSHA256, try sha(model))
    }

    func testReplayRefusesAModelWithOtherBytes() throws {
        XCTAssertEqual(try run(["generate", "-m", model, "-c", "3", "-o", path("a.png")]).status, 0)
        let before = try sha(model)
        try flipByte(model)
        let after = try sha(model)
        let r = try run(["generate", "--from-png", path("a.png"), "-o", path("b.png")])
        r.assertCleanError("replay on a changed model", within: 60,
                           contains: "record field 'model_sha256' is \(before.prefix(12))…, but \(model) has SHA-256 \(after.prefix(12))…")
        XCTAssertTrue(r.stderr.contains("pass -m with the file the image was made with"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("b.png")))
        // The same for an X/Y sheet and for the TUI (which refuses before the screen opens).
        XCTAssertEqual(try run(["generate", "-m", model, "-c", "3", "--xy", "cfg=1,3", "-o", path("xy.png")]).status, 0)
        try flipByte(model)
        try run(["generate", "--from-png", path("xy.png"), "-o", path("xy2.png")])
            .assertCleanError("sheet replay", within: 60, contains: "record field 'model_sha256'")
        try TimedRun.run(["tui", "--from-png", path("xy.png")], environment: ["XDG_CACHE_HOME": path("cache")])
            .assertCleanError("tui replay", within: 60, contains: "record field 'model_sha256'")
        // Naming the file is choosing it: -m replays on it.
        XCTAssertEqual(try run(["generate", "--from-png", path("a.png"), "-m", model, "-o", path("c.png")]).status, 0)
    }

    func testReplayRefusesATokenizerWithOtherBytes() throws {
        XCTAssertEqual(try run(["generate", "-m", model, "-c", "3", "-o", path("a.png")]).status, 0)
        try flipByte(tokenizer)
        try run(["generate", "--from-png", path("a.png"), "-o", path("b.png")])
            .assertCleanError("replay on a changed tokenizer", within: 60, contains: "record field 'tokenizer_sha256'")
        XCTAssertEqual(try run(["generate", "--from-png", path("a.png"), "--tokenizer", tokenizer, "-o", path("c.png")]).status, 0)
    }

    func testMalformedHashInRecordIsRefused() throws {
        XCTAssertEqual(try run(["generate", "-m", model, "-c", "3", "-o", path("a.png")]).status, 0)
        let good = try sha(model)
        for (field, bad) in [("model_sha256", good.uppercased()), ("model_sha256", String(good.dropLast())),
                             ("tokenizer_sha256", "zz" + good.dropFirst(2))] {
            try Craft.png(from: path("a.png"), to: path("bad.png")) { json in
                let value = field == "model_sha256" ? good : try! self.sha(self.tokenizer)
                return json.replacingOccurrences(of: "\"\(field)\":\"\(value)\"", with: "\"\(field)\":\"\(bad)\"")
            }
            try run(["generate", "--from-png", path("bad.png"), "-o", path("b.png"), "--force"])
                .assertCleanError("\(field) = \(bad)", within: 60, contains: "record field '\(field)' must be a SHA-256 as 64 lowercase hex digits")
            try FileManager.default.removeItem(atPath: path("bad.png"))
        }
    }

    func testInfoPrintsTheSHA256() throws {
        let r = try TimedRun.run(["info", model], environment: ["XDG_CACHE_HOME": path("cache")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("sha256:     \(try sha(model))\n"), r.stdout)
    }
}
