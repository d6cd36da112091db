import Foundation
import ScalewiseEngine
import XCTest

/// `scalewise edit` end to end on the tiny FlexVAR fixture: the built binary, exit codes, error text, the PNG it
/// writes and the generation record inside it.
final class EditCommandTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = repo.appendingPathComponent("Tests/EngineTests/Fixtures").path
    static let flexModel = fixtures + "/flex_tiny/flexvar.safetensors"

    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "scalewise-edit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // The fixture's first encoder image and a mask whose white rectangle is regenerated.
        let exp = try SafeTensorsFile(path: Self.fixtures + "/flex_tiny/expected.safetensors")
        let pixels = try exp.ints("enc.png").prefix(32 * 32 * 3).map { UInt8($0) }
        try PNG.write(RGBImage(width: 32, height: 32, pixels: Array(pixels)), to: dir + "/in.png")
        var mask = RGBImage(width: 32, height: 32)
        for y in 6..<22 { for x in 12..<30 { for c in 0..<3 { mask.pixels[(y * 32 + x) * 3 + c] = 255 } } }
        try PNG.write(mask, to: dir + "/mask.png")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Runs the built `scalewise` (next to the test bundle) and returns (status, stdout, stderr).
    func scalewise(_ args: [String]) throws -> (Int32, String, String) {
        var products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if products.pathExtension == "xctest" { products.deleteLastPathComponent() }
        let binary = products.appendingPathComponent("scalewise")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("no scalewise binary at \(binary.path): run `swift build` first")
        }
        let p = Process(), out = Pipe(), err = Pipe()
        p.executableURL = binary
        p.arguments = args
        p.environment = CLITests.withTestCache(ProcessInfo.processInfo.environment)
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func edit(_ extra: [String], model: String = flexModel) -> [String] {
        ["edit", "--model", model, "--class", "3", "--image", dir + "/in.png"] + extra
    }

    /// A mask of the image's aspect at another size is scaled (and says so); another aspect would stretch the
    /// region it marks and is refused.
    func testMaskOfAnotherSize() throws {
        var half = RGBImage(width: 16, height: 16)
        for y in 3..<11 { for x in 6..<15 { for c in 0..<3 { half.pixels[(y * 16 + x) * 3 + c] = 255 } } }
        try PNG.write(half, to: dir + "/half.png")
        let (status, _, err) = try scalewise(edit(["--mask", dir + "/half.png", "-o", dir + "/half-out.png"]))
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(err.contains("mask 16×16 scaled to the image's 32×32"), err)
        try PNG.write(RGBImage(width: 16, height: 32), to: dir + "/tall.png")
        let (bad, _, badErr) = try scalewise(edit(["--mask", dir + "/tall.png", "-o", dir + "/tall-out.png"]))
        XCTAssertEqual(bad, 1, badErr)
        XCTAssertTrue(badErr.hasPrefix("Error: mask ") && badErr.contains("16×32 and the image 32×32"), badErr)
        XCTAssertEqual(badErr.split(separator: "\n").count, 1, badErr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/tall-out.png"))
    }

    func testInpaintWritesImageAndRecord() throws {
        let (status, out, err) = try scalewise(edit(["--mask", dir + "/mask.png", "-o", dir + "/out.png"]))
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(out, "", "stdout is kept for data")
        XCTAssertTrue(err.hasSuffix("saved \(dir)/out.png\n"), err)
        let (img, text) = try PNG.read(dir + "/out.png")
        XCTAssertEqual([img.width, img.height], [32, 32])
        XCTAssertTrue(text["parameters"]?.hasSuffix(", Edit: inpaint") ?? false, text["parameters"] ?? "none")
        let record = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))
        XCTAssertEqual(record.family, "flexvar")
        XCTAssertEqual(record.schedule.count, 10)
        XCTAssertEqual(record.constantCFG, true, "FlexVAR's official demo uses the LlamaGen CFG")
        XCTAssertEqual(record.edit, "inpaint")
        // The record lacks the source image: --from-png must refuse rather than make a different image.
        let (s2, _, e2) = try scalewise(["generate", "--from-png", dir + "/out.png", "-o", dir + "/again.png"])
        XCTAssertEqual(s2, 1)
        XCTAssertTrue(e2.contains("is an edit (inpaint)"), e2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/again.png"))
        // Same seed, same pixels.
        let (again, _, _) = try scalewise(edit(["--mask", dir + "/mask.png", "-o", dir + "/out2.png"]))
        XCTAssertEqual(again, 0)
        XCTAssertEqual(try PNG.read(dir + "/out2.png").0, img)
    }

    func testExtendAndRefine() throws {
        let (s1, _, e1) = try scalewise(edit(["--extend", "right", "--steps", "13", "-o", dir + "/wide.png"]))
        XCTAssertEqual(s1, 0, e1)
        let wide = try PNG.read(dir + "/wide.png").0
        XCTAssertEqual([wide.width, wide.height], [64, 32])
        let (s2, _, e2) = try scalewise(edit(["--refine", "4", "-o", dir + "/refined.png"]))
        XCTAssertEqual(s2, 0, e2)
    }

    /// A non-square image is edited at its own aspect (steps of its shape), not squeezed square.
    func testNonSquareImageKeepsItsAspect() throws {
        let (square, _) = try PNG.read(dir + "/in.png")
        var wide = RGBImage(width: 32, height: 16)
        for y in 0..<16 { wide.pixels.replaceSubrange((y * 32 * 3)..<((y + 1) * 32 * 3), with: square.pixels[(y * 2 * 32 * 3)..<((y * 2 + 1) * 32 * 3)]) }
        try PNG.write(wide, to: dir + "/wide.png")
        var mask = RGBImage(width: 32, height: 16)
        for y in 0..<16 { for x in 16..<32 { for c in 0..<3 { mask.pixels[(y * 32 + x) * 3 + c] = 255 } } }
        try PNG.write(mask, to: dir + "/wmask.png")
        let args = ["edit", "--model", Self.flexModel, "--class", "3", "--image", dir + "/wide.png"]
        let (s1, _, e1) = try scalewise(args + ["--mask", dir + "/wmask.png", "-o", dir + "/inpainted.png"])
        XCTAssertEqual(s1, 0, e1)
        let (out, text) = try PNG.read(dir + "/inpainted.png")
        XCTAssertEqual([out.width, out.height], [32, 16])
        let record = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))
        XCTAssertTrue(record.schedule.allSatisfy { $0.w >= $0.h } && record.schedule.last!.w == 2 * record.schedule.last!.h,
                      "\(record.schedule)")
        let (s2, _, e2) = try scalewise(args + ["--extend", "down", "-o", dir + "/extended.png"])
        XCTAssertEqual(s2, 0, e2)
        let extended = try PNG.read(dir + "/extended.png").0
        XCTAssertEqual([extended.width, extended.height], [32, 32], "the wide image doubled downwards")
    }

    /// Extending keeps the image's scale on every side: the output is the image plus the new half, its kept half
    /// the image again (the image's tokens are kept; the decoder redraws them, so close, not byte-equal). An
    /// output beyond the model is refused, never shrunk. The shipped 32-px glyph model, 4 px per token.
    func testExtendKeepsTheImagesScale() throws {
        let model = Craft.shipped("glyphs-flexvar")
        func extend(_ image: String, _ side: String, _ out: String, _ extra: [String] = []) throws -> (Int32, String) {
            let (s, _, e) = try scalewise(["edit", "-m", model, "-c", "3", "--image", dir + "/" + image, "--extend", side,
                                           "-o", dir + "/" + out] + extra)
            return (s, e)
        }
        XCTAssertEqual(try scalewise(["generate", "-m", model, "-c", "3", "-q", "-o", dir + "/g.png"]).0, 0)
        XCTAssertEqual(try extend("g.png", "right", "wide.png").0, 0)
        let cases = [("right", 128, 32, 0, 0), ("left", 128, 32, 64, 0), ("down", 64, 64, 0, 0), ("up", 64, 64, 0, 32)]
        let wide = try PNG.read(dir + "/wide.png").0
        XCTAssertEqual([wide.width, wide.height], [64, 32])
        for (side, w, h, ox, oy) in cases {
            let (s, e) = try extend("wide.png", side, side + ".png")
            XCTAssertEqual(s, 0, e)
            let out = try PNG.read(dir + "/" + side + ".png").0
            XCTAssertEqual([out.width, out.height], [w, h], side)
            guard out.width == w && out.height == h else { continue }
            var diff = 0
            for y in 0..<32 {
                for x in 0..<(64 * 3) {
                    diff += abs(Int(wide.pixels[y * 64 * 3 + x]) - Int(out.pixels[((oy + y) * w + ox) * 3 + x]))
                }
            }
            XCTAssertLessThan(Double(diff) / Double(64 * 32 * 3), 16, "\(side): the kept half is the image")
        }
        // 256 px wide would be 64 tokens, twice what this model can make at all: refused, with or without --allow-large.
        for extra in [[], ["--allow-large"]] {
            let (s, e) = try extend("right.png", "left", "huge.png", extra)
            XCTAssertEqual(s, 1)
            XCTAssertEqual(e, "Error: extending 128×32 left makes a 256×32 image (64×8 tokens), beyond this model's limit "
                           + "of 32 tokens (128 px) per side; extend a smaller image\n")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/huge.png"))
        }
        // Beyond twice the learned size needs --allow-large (the tiny fixture learned 16 tokens and can make 64).
        let (s1, _, e1) = try scalewise(["edit", "-m", Self.flexModel, "-c", "3", "--image", dir + "/wide.png",
                                         "--extend", "right", "-o", dir + "/large.png"])
        XCTAssertEqual(s1, 1)
        XCTAssertEqual(e1, "Error: extending 64×32 right makes a 128×32 image (64×16 tokens), more than 2× the model's "
                       + "16×16; --allow-large runs it anyway\n")
        let (s2, _, e2) = try scalewise(["edit", "-m", Self.flexModel, "-c", "3", "--image", dir + "/wide.png",
                                         "--extend", "right", "--allow-large", "-o", dir + "/large.png"])
        XCTAssertEqual(s2, 0, e2)
        XCTAssertEqual(try PNG.read(dir + "/large.png").0.width, 128)
    }

    func testErrors() throws {
        let (s1, _, e1) = try scalewise(edit(["--mask", dir + "/mask.png", "--extend", "left", "-o", dir + "/x.png"]))
        XCTAssertEqual(s1, 64)
        XCTAssertTrue(e1.hasPrefix("Error: give exactly one of --mask, --extend, --refine\n"), e1)
        let (s2, _, e2) = try scalewise(edit(["--mask", dir + "/mask.png", "-o", dir + "/x.png"],
                                             model: Self.fixtures + "/var_tiny/var.safetensors"))
        XCTAssertEqual(s2, 1)
        XCTAssertEqual(e2, "Error: edit needs a FlexVAR model (its steps predict whole images)\n")
        let (s3, _, e3) = try scalewise(edit(["--mask", dir + "/mask.png", "-o", dir + "/in.png"]))
        XCTAssertEqual(s3, 1)
        XCTAssertEqual(e3, "Error: \(dir)/in.png exists; use --force to overwrite\n")
        let (s4, _, e4) = try scalewise(edit(["--extend", "sideways", "-o", dir + "/x.png"]))
        XCTAssertEqual(s4, 64)
        XCTAssertTrue(e4.hasPrefix("Error: --extend must be left, right, up or down\n"), e4)
    }

    /// Without -m, edit and tui --image start on the shipped FlexVAR model, the one that can edit; --help says so.
    func testDefaultModelCanEdit() throws {
        let (status, _, err) = try scalewise(["edit", "--class", "A", "--image", dir + "/in.png", "--extend", "right", "-o", dir + "/e.png"])
        XCTAssertEqual(status, 0, err)
        let record = try PNG.read(dir + "/e.png").1["scalewise"] ?? ""
        XCTAssertTrue(record.contains(#""model":"glyphs64-flexvar""#), record)
        let (_, help, _) = try scalewise(["edit", "--help"])
        XCTAssertTrue(help.contains("edit uses glyphs64-flexvar"), help)
        // tui --image loads the same default before the screen opens: the missing image is the error, not the model.
        let (tuiStatus, _, tuiErr) = try scalewise(["tui", "--image", dir + "/none.png"])
        XCTAssertEqual(tuiStatus, 1, tuiErr)
        XCTAssertTrue(tuiErr.contains("none.png") && !tuiErr.contains("FlexVAR"), tuiErr)
    }
}
