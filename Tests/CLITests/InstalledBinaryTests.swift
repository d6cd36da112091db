import Foundation
import XCTest

/// The binary copied out of the repository, as `make install` lays it out: it must find its models in
/// `<prefix>/share/scalewise/models`, in `$XDG_DATA_HOME/scalewise/models` and in `$SCALEWISE_MODELS`.
final class InstalledBinaryTests: XCTestCase {
    var tmp: String!
    var prefix: String { tmp + "/prefix" }

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "scalewise-install-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: prefix + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLITests.binary.path, toPath: prefix + "/bin/scalewise")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    /// Copies the tiny VAR fixture and its tokenizer into `dir`.
    func placeModel(in dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["var.safetensors", "vqvae.safetensors"] {
            try FileManager.default.copyItem(atPath: CLITests.fixtures + "/" + f, toPath: dir + "/" + f)
        }
    }

    /// Runs the copy from a folder outside the repository, with a home of its own and no model variables.
    func run(_ args: [String], environment extra: [String: String] = [:]) throws -> CLITests.Result {
        var env = ProcessInfo.processInfo.environment
        for k in ["SCALEWISE_MODELS", "XDG_DATA_HOME", "XDG_DATA_DIRS", "HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME"] { env[k] = nil }
        env["HOME"] = tmp + "/home"
        return try CLITests.run(URL(fileURLWithPath: prefix + "/bin/scalewise"), args, environment: env.merging(extra) { $1 },
                                in: tmp)
    }

    func testFindsModelsInItsPrefix() throws {
        try placeModel(in: prefix + "/share/scalewise/models")
        let listed = try run(["models", "--paths"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertTrue(listed.stdout.contains(prefix + "/share/scalewise/models/var.safetensors"), listed.stdout)
        XCTAssertFalse(listed.stdout.contains("/weights"), "no repository weights/ for a copy: \(listed.stdout)")
        // No model named: the default is the first one found.
        let r = try run(["generate", "--class", "1", "-o", tmp + "/out.png", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp + "/out.png"))
    }

    func testFindsModelsInXDGDataHomeAndScalewiseModels() throws {
        try placeModel(in: tmp + "/data/scalewise/models")
        let r = try run(["generate", "-m", "var", "--class", "2", "-o", tmp + "/a.png", "--quiet"],
                        environment: ["XDG_DATA_HOME": tmp + "/data"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try placeModel(in: tmp + "/elsewhere")
        let s = try run(["classes", "-m", "var"], environment: ["SCALEWISE_MODELS": tmp + "/elsewhere"])
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertFalse(s.stdout.isEmpty)
    }

    func testNoModelIsAOneLineError() throws {
        let r = try run(["generate", "--class", "1", "-o", tmp + "/out.png"], environment: ["HF_HOME": tmp + "/home/hf"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertLessThan(r.status, 128)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("Error: no model found: looked for glyphs64-var (or glyphs-var) in "), r.stderr)
        XCTAssertTrue(r.stderr.contains("and the Hugging Face cache \(tmp!)/home/hf/hub; "
                                        + "set SCALEWISE_MODELS or pass -m FILE"), r.stderr)
        XCTAssertFalse(r.stderr.contains("weights/"), r.stderr)
        // The cache follows XDG_CACHE_HOME as huggingface_hub does.
        let xdg = try run(["generate", "--class", "1", "-o", tmp + "/out.png"], environment: ["XDG_CACHE_HOME": tmp + "/xdg"])
        XCTAssertTrue(xdg.stderr.contains("the Hugging Face cache \(tmp!)/xdg/huggingface/hub;"), xdg.stderr)
        let listed = try run(["models"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertTrue(listed.stdout.contains("no models found") && listed.stdout.contains("set SCALEWISE_MODELS or pass -m FILE"), listed.stdout)
    }

    /// With no model that can edit, edit says which one to pass.
    func testNoEditableModelNamesOne() throws {
        try placeModel(in: prefix + "/share/scalewise/models")
        let r = try run(["edit", "--class", "1", "--image", tmp + "/in.png", "--extend", "right", "-o", tmp + "/e.png"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("looked for glyphs64-flexvar (or glyphs-flexvar) (or another model that can edit: FlexVAR)"), r.stderr)
        XCTAssertTrue(r.stderr.hasSuffix("pass -m glyphs64-flexvar\n"), r.stderr)
    }
}
