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
}
