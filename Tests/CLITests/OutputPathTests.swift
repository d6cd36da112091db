import Foundation
import ScalewiseEngine
import XCTest

/// Every output path is checked before any model loads or any image is made: a mistake costs nothing and
/// leaves nothing behind.
final class OutputPathTests: XCTestCase {
    var tmp: String!

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "scalewise-outputs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    func path(_ name: String) -> String { tmp + "/" + name }

    /// A model that is not there: had the command loaded it first, the error would name it.
    var noModel: String { path("absent.safetensors") }

    func testOutputsAreCheckedBeforeTheModelLoads() throws {
        try Data("x".utf8).write(to: URL(fileURLWithPath: path("file")))
        try Data("x".utf8).write(to: URL(fileURLWithPath: path("taken.png")))
        let missing = path("missing/dir")
        let cases: [([String], String)] = [
            (["generate", "-m", noModel, "-c", "0", "--count", "8", "--grid", "-o", missing + "/x.png"], "the folder \(missing) does not exist"),
            (["generate", "-m", noModel, "-c", "0", "--count", "2", "-o", missing + "/x.png"], "the folder \(missing) does not exist"),
            (["generate", "-m", noModel, "-c", "0", "--tokens-out", missing + "/t.json", "-o", path("ok.png")], "the folder \(missing) does not exist"),
            (["generate", "-m", noModel, "-c", "0", "-o", path("file") + "/x.png"], "\(path("file")) is not a folder"),
            (["generate", "-m", noModel, "-c", "0", "-o", path("taken.png")], "taken.png exists; use --force"),
            (["generate", "-m", noModel, "-c", "0", "--xy", "seed=1,2", "-o", missing + "/x.png"], "does not exist"),
            (["edit", "-m", noModel, "-c", "0", "--image", path("taken.png"), "--extend", "right", "-o", missing + "/e.png"], "does not exist"),
            (["sample", "-m", noModel, "--per-class", "1", "-o", path("file") + "/s"], "is not a folder"),
            (["sample", "--merge", path("s"), "-o", missing + "/s.npz"], "does not exist"),
            (["convert", noModel, "-o", missing + "/m.safetensors"], "does not exist"),
            (["convert", noModel, "-o", tmp], "is a directory"),
            (["convert", noModel, "-o", tmp, "--force"], "is a directory"),
        ]
        for (args, message) in cases {
            let r = try TimedRun.run(args)
            r.assertCleanError(args.joined(separator: " "), contains: message)
            XCTAssertFalse(r.stderr.contains("absent.safetensors"), "\(args): the model was read first: \(r.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("ok.png")), "an image was written before the failure")
    }

    /// A generator and a tokenizer that do not fit each other are refused by convert, not written as a file that
    /// cannot load.
    func testConvertRefusesAPairThatDoesNotFit() throws {
        let out = path("m.safetensors")
        let r = try TimedRun.run(["convert", Craft.shipped("glyphs-var"), Craft.shipped("glyphs64-vqvae"), "-o", out])
        r.assertCleanError("mismatched pair", contains: "generator's last scale 8 ≠ tokenizer latent 16")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let ok = try TimedRun.run(["convert", Craft.shipped("glyphs-var"), Craft.shipped("glyphs-vqvae"), "-o", out])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(try TimedRun.run(["generate", "-m", out, "-c", "0", "-q", "-o", path("m.png")]).status, 0)
    }

    /// -o - writes the PNG (with its record) to standard output when that is not a terminal; no file named '-'.
    func testDashWritesToStandardOutput() throws {
        let model = CLITests.fixtures + "/var.safetensors"
        let r = try CLITests.run(CLITests.binary, ["generate", "-m", model, "-c", "3", "-q", "-o", "-"], environment: nil, in: tmp)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.dropFirst().hasPrefix("PNG\r\n") && r.stdout.contains("IHDR") && r.stdout.contains("scalewise"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("-")), "a file named - was written")
        let many = try CLITests.run(CLITests.binary, ["generate", "-m", model, "-c", "3", "-q", "--count", "2", "-o", "-"],
                                    environment: nil, in: tmp)
        XCTAssertEqual(many.status, 1, many.stderr)
        XCTAssertTrue(many.stderr.hasPrefix("Error: -o - writes one PNG to standard output; add --grid"), many.stderr)
        let tokens = try CLITests.run(CLITests.binary, ["generate", "-m", model, "-c", "3", "-q", "--tokens-out", "-", "-o", path("t.png")],
                                      environment: nil, in: tmp)
        XCTAssertEqual(tokens.status, 0, tokens.stderr)
        XCTAssertTrue(tokens.stdout.hasPrefix(#"{"images":[[["#), tokens.stdout)
        let both = try CLITests.run(CLITests.binary, ["generate", "-m", model, "-c", "3", "-q", "--tokens-out", "-", "-o", "-"],
                                    environment: nil, in: tmp)
        XCTAssertEqual(both.status, 1, both.stderr)
        XCTAssertTrue(both.stderr.contains("cannot share standard output"), both.stderr)
    }

    /// sample --classes takes names as --class does; samples.json keeps floats as the decimals given.
    func testSampleClassNamesAndShortFloats() throws {
        let model = CLITests.fixtures + "/var.safetensors", dir = path("s")
        let r = try TimedRun.run(["sample", "-m", model, "--per-class", "1", "--classes", "c1,3", "--top-p", "0.95", "--cfg", "1.1",
                                  "-q", "-o", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/samples.json")), as: UTF8.self)
        XCTAssertTrue(json.contains(#""classes":[1,3]"#), json)
        XCTAssertTrue(json.contains(#""top_p":0.95"#) && json.contains(#""cfg":1.1"#), json)
        // The same run again resumes (nothing differs).
        let again = try TimedRun.run(["sample", "-m", model, "--per-class", "1", "--classes", "1,c3", "--top-p", "0.95", "--cfg", "1.1",
                                      "-q", "-o", dir])
        XCTAssertEqual(again.status, 0, again.stderr)
        try TimedRun.run(["sample", "-m", model, "--per-class", "1", "--classes", "nope", "-o", path("t")])
            .assertCleanError("unknown class", contains: "--classes: unknown class 'nope'")
    }

    /// Help states each default once.
    func testHelpStatesDefaultsOnce() throws {
        let help = try TimedRun.run(["tui", "--help"]).stdout
        XCTAssertTrue(help.contains("(default: 150)"), help)
        XCTAssertFalse(help.contains("(default 150)"), help)
    }
}
