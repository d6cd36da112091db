import Foundation
import ScalewiseEngine
import XCTest

/// Malformed metadata and record fields are errors that name the key or field as the file spells it, and a
/// PNG made from a model named by path finds that file again (or says which file it needs).
final class RecordFieldTests: XCTestCase {
    var tmp: String!

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "scalewise-records-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    func path(_ name: String) -> String { tmp + "/" + name }

    func assertNoOutput(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.png")), "an image was written", file: file, line: line)
    }

    func generate(_ model: String, tokenizer: String) throws -> TimedRun {
        try TimedRun.run(["generate", "-m", model, "--tokenizer", tokenizer, "--class", "0", "-q", "--threads", "2",
                          "-o", path("out.png")])
    }

    // MARK: metadata

    func testMalformedGeneratorMetadataNamesTheKey() throws {
        let cases: [(String, String, String)] = [
            ("classes", #"{"a": 1}"#, "metadata 'classes': expected a JSON array of strings, one per class (62), got an object"),
            ("classes", #"["a", 3]"#, "metadata 'classes': expected a JSON array of strings, one per class (62), got a number at index 1"),
            ("classes", #"["a", "b"]"#, "got 2 strings"),
            ("classes", "not json", "got text that is not JSON"),
            ("tokenizer", "", "metadata 'tokenizer': expected the tokenizer's file name or path, got ''"),
            ("family", "var2", "metadata 'family': expected one of"),
        ]
        for (i, (key, value, message)) in cases.enumerated() {
            let model = path("g\(i).safetensors")
            try Craft.safetensors(from: Craft.shipped("glyphs-var"), to: model) { $0[key] = value }
            // `tokenizer` is only read when --tokenizer does not name one.
            let args = ["generate", "-m", model, "--class", "0", "-q", "-o", path("out.png")]
                + (key == "tokenizer" ? [] : ["--tokenizer", Craft.shipped("glyphs-vqvae")])
            try TimedRun.run(args).assertCleanError("\(key) = \(value)", contains: message)
            assertNoOutput()
        }
    }

    func testMalformedPreviewMetadataNamesTheKey() throws {
        let row = "[" + Array(repeating: "0.5", count: 16).joined(separator: ",") + "]"
        let cases: [(String, String)] = [
            ("[[1]]", "got an array of 1 entries"),
            (#""x""#, "got a string"),
            ("[\(row),\(row),\(row),[1,2]]", "got an array of 2 entries in row 3"),
            ("[\(row),\(row),[\(String(repeating: "0.5,", count: 15))\"a\"],[1,2,3]]", "got a string in row 2"),
            ("[\(row),\(row),\(row),[1,2,1e300]]", "got a number beyond Float's range in row 3"),
        ]
        for (i, (value, message)) in cases.enumerated() {
            for (gen, tok) in [("glyphs-var", "glyphs-vqvae"), ("glyphs-flexvar", "glyphs-flexvqvae")] {
                let tokenizer = path("t\(i)-\(tok).safetensors")
                try Craft.safetensors(from: Craft.shipped(tok), to: tokenizer) { $0["preview"] = value }
                try generate(Craft.shipped(gen), tokenizer: tokenizer)
                    .assertCleanError("\(tok) preview \(value)", contains: "metadata 'preview': expected a JSON array of 3 rows of 16 numbers and a row of 3 biases, \(message)")
                assertNoOutput()
            }
        }
        // A well-formed preview still loads.
        let good = path("good.safetensors")
        try Craft.safetensors(from: Craft.shipped("glyphs-vqvae"), to: good) { $0["preview"] = "[\(row),\(row),\(row),[1,2,3]]" }
        XCTAssertEqual(try generate(Craft.shipped("glyphs-var"), tokenizer: good).status, 0)
    }

    func testTokenizerFamilyMetadataIsChecked() throws {
        let tok = path("fam.safetensors")
        try Craft.safetensors(from: Craft.shipped("glyphs-vqvae"), to: tok) { $0["family"] = "vqgan" }
        try generate(Craft.shipped("glyphs-var"), tokenizer: tok).assertCleanError("tokenizer family", contains: "metadata 'family'")
        assertNoOutput()
    }

    // MARK: record fields

    /// Every broken record field is named as the record spells it, never as a flag.
    func testRecordFieldErrorsNameTheField() throws {
        let source = path("src.png")
        XCTAssertEqual(try TimedRun.run(["generate", "-m", "glyphs-var", "--class", "0", "-q", "-o", source]).status, 0)
        func replace(_ pattern: String, _ with: String) -> (String) -> String {
            { $0.replacingOccurrences(of: pattern, with: with, options: .regularExpression) }
        }
        let cases: [(String, (String) -> String)] = [
            ("precision", replace(#""precision":"[a-z0-9]+""#, #""precision":"fp64""#)),
            ("precision", replace(#""precision":"[a-z0-9]+""#, #""precision":"auto""#)),
            ("top_k", replace(#""top_k":[0-9]+"#, #""top_k":-5"#)),
            ("top_p", replace(#""top_p":[0-9.]+"#, #""top_p":7"#)),
            ("cfg", replace(#""cfg":[0-9.]+"#, #""cfg":1e30"#)),
            ("temperature", replace(#""top_p""#, #""temperature":0,"top_p""#)),
            ("cfg_mode", replace(#""cfg_mode":"ramp""#, #""cfg_mode":"sideways""#)),
            ("cfg_mode", replace(#""cfg_mode":"ramp""#, #""cfg_mode":3"#)),
            ("seed", replace(#""seed":[0-9]+"#, #""seed":-1"#)),
            ("seed", replace(#""seed":[0-9]+"#, #""seed":"x""#)),
            ("class", replace(#""class":[0-9]+"#, #""class":5000"#)),
            ("grid", replace(#""seed""#, #""grid":0,"seed""#)),
            ("grid", replace(#""seed""#, #""grid":100000000,"seed""#)),
            ("schedule", { HostileInputTests.schedule($0, "[]") }),
            ("scale_seeds", replace(#""seed""#, #""scale_seeds":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20],"seed""#)),
            ("model", replace(#""model":"[^"]+","#, "")),
            ("model_file", replace(#""seed""#, #""model_file":{"path":"/x"},"seed""#)),
        ]
        for (i, (field, edit)) in cases.enumerated() {
            let png = path("rec\(i).png")
            try Craft.png(from: source, to: png) { json in
                let out = edit(json)
                XCTAssertNotEqual(out, json, "\(field): the record was not changed")
                return out
            }
            let r = try TimedRun.run(["generate", "--from-png", png, "-q", "-o", path("out.png")])
            r.assertCleanError(field, contains: "record field '\(field)")
            XCTAssertFalse(r.stderr.contains("--"), "\(field): the message names a flag: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("rec\(i).png"), "\(field): the message does not name the PNG: \(r.stderr)")
            assertNoOutput()
        }
    }

    // MARK: models named by path

    func testFromPNGFindsAModelNamedByPath() throws {
        let model = path("mine.safetensors"), tok = path("mine-tok.safetensors"), png = path("made.png")
        try FileManager.default.copyItem(atPath: Craft.shipped("glyphs-var"), toPath: model)
        try FileManager.default.copyItem(atPath: Craft.shipped("glyphs-vqvae"), toPath: tok)
        XCTAssertEqual(try TimedRun.run(["generate", "-m", model, "--tokenizer", tok, "--class", "3", "-q", "-o", png]).status, 0)
        let (_, text) = try PNG.read(png)
        let record = try GenerationRecord.parse(text["scalewise"]!, path: png)
        XCTAssertEqual(record.modelFile?.path, model)
        XCTAssertEqual(record.tokenizerFile?.path, tok)

        // Still there: found again without -m, the same image.
        let again = try TimedRun.run(["generate", "--from-png", png, "-q", "-o", path("again.png")])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try PNG.read(path("again.png")).0.pixels, try PNG.read(png).0.pixels)

        // Replaced by another file of another size: refused, naming the file; never loaded silently.
        try FileManager.default.removeItem(atPath: model)
        try FileManager.default.copyItem(atPath: Craft.shipped("glyphs-mvar"), toPath: model)
        try TimedRun.run(["generate", "--from-png", png, "-q", "-o", path("out.png")])
            .assertCleanError("replaced model", contains: "record field 'model_file' names \(model) of ")
        assertNoOutput()

        // Gone: the same, saying it is not there.
        try FileManager.default.removeItem(atPath: model)
        try TimedRun.run(["generate", "--from-png", png, "-q", "-o", path("out.png")])
            .assertCleanError("missing model", contains: "record field 'model_file' names \(model) (")
        assertNoOutput()

        // -m names the file: it is used, with its own tokenizer lookup.
        let moved = path("moved.safetensors")
        try FileManager.default.copyItem(atPath: Craft.shipped("glyphs-var"), toPath: moved)
        let r = try TimedRun.run(["generate", "--from-png", png, "-m", moved, "--tokenizer", tok, "-q", "-o", path("out.png")])
        XCTAssertEqual(r.status, 0, r.stderr)

        // The tokenizer gone: named likewise.
        try FileManager.default.copyItem(atPath: Craft.shipped("glyphs-var"), toPath: model)
        try FileManager.default.removeItem(atPath: tok)
        try TimedRun.run(["generate", "--from-png", png, "-q", "-o", path("out2.png")])
            .assertCleanError("missing tokenizer", contains: "record field 'tokenizer_file' names \(tok) (")
    }

    /// Models found by name need no file in the record: the name finds them wherever the weights are.
    func testModelsFoundByNameRecordNoFile() throws {
        let png = path("named.png")
        XCTAssertEqual(try TimedRun.run(["generate", "-m", "glyphs-var", "--class", "0", "-q", "-o", png]).status, 0)
        let json = try PNG.read(png).1["scalewise"]!
        XCTAssertFalse(json.contains("model_file"), json)
        XCTAssertFalse(json.contains("tokenizer_file"), json)
    }

    /// The default model is found by name too: its PNG replays after the model folder moves.
    func testDefaultModelIsRecordedByName() throws {
        let first = path("w"), moved = path("w2"), png = path("default.png")
        try FileManager.default.createDirectory(atPath: first, withIntermediateDirectories: true)
        for name in ["glyphs64-var", "glyphs64-vqvae"] {
            try FileManager.default.copyItem(atPath: Craft.shipped(name), toPath: first + "/" + name + ".safetensors")
        }
        let made = try TimedRun.run(["generate", "--class", "A", "--seed", "7", "-q", "-o", png], environment: ["SCALEWISE_MODELS": first])
        XCTAssertEqual(made.status, 0, made.stderr)
        let json = try PNG.read(png).1["scalewise"]!
        XCTAssertFalse(json.contains("model_file"), json)
        XCTAssertTrue(json.contains(#""model":"glyphs64-var""#), json)
        try FileManager.default.moveItem(atPath: first, toPath: moved)
        let again = try TimedRun.run(["generate", "--from-png", png, "-q", "-o", path("again.png")], environment: ["SCALEWISE_MODELS": moved])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try PNG.read(path("again.png")).0.pixels, try PNG.read(png).0.pixels)
    }
}
