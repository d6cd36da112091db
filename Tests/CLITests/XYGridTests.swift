import Foundation
import ScalewiseEngine
import XCTest

/// `generate --xy`: labelled X/Y sheets, their records, their reproduction (whole and one cell) and every refusal.
final class XYGridTests: XCTestCase {
    private var tmp = ""
    private let model = CLITests.fixtures + "/var.safetensors"
    private let flexModel = EditCommandTests.fixtures + "/flex_tiny/flexvar.safetensors"
    private let weights = EditCommandTests.repo.appendingPathComponent("weights").path

    private func run(_ args: [String]) throws -> (status: Int32, stderr: String) {
        let r = try CLITests.run(CLITests.binary, args, environment: nil)
        return (r.status, r.stderr)
    }

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "scalewise-xy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    /// Runs `generate` and reads back the image and record it wrote to `name` in the temporary folder.
    private func generate(_ args: [String], to name: String, model: String? = nil,
                          file: StaticString = #filePath, line: UInt = #line) throws -> (RGBImage, GenerationRecord) {
        let r = try run(["generate", "--model", model ?? self.model, "--threads", "1", "-q"] + args + ["-o", tmp + "/" + name])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        let (image, text) = try PNG.read(tmp + "/" + name)
        return (image, try GenerationRecord.parse(try XCTUnwrap(text["scalewise"])))
    }

    private func bytes(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: tmp + "/" + name)) }

    /// Where `cell` lies in `sheet`, pixel for pixel (nil when it is nowhere).
    private func locate(_ cell: RGBImage, in sheet: RGBImage) -> (x: Int, y: Int)? {
        let rowBytes = cell.width * 3
        for y in 0...(sheet.height - cell.height) {
            for x in 0...(sheet.width - cell.width) {
                let hit = (0..<cell.height).allSatisfy { r in
                    let s = ((y + r) * sheet.width + x) * 3
                    return sheet.pixels[s..<(s + rowBytes)].elementsEqual(cell.pixels[(r * rowBytes)..<((r + 1) * rowBytes)])
                }
                if hit { return (x, y) }
            }
        }
        return nil
    }

    /// A sheet of a model named by path is replayed from that file, and refused (naming it) once it has moved,
    /// never from another file of the same name.
    func testSheetOfAPathModelNeedsThatFile() throws {
        let copy = tmp + "/m.safetensors"
        try FileManager.default.copyItem(atPath: model, toPath: copy)
        try FileManager.default.copyItem(atPath: (model as NSString).deletingLastPathComponent + "/vqvae.safetensors",
                                         toPath: tmp + "/vqvae.safetensors")
        _ = try generate(["--class", "3", "--xy", "cfg=1,4"], to: "s.png", model: copy)
        var r = try run(["generate", "--from-png", tmp + "/s.png", "--threads", "1", "-q", "-o", tmp + "/again.png"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try bytes("again.png"), try bytes("s.png"))
        try FileManager.default.moveItem(atPath: copy, toPath: tmp + "/moved.safetensors")
        r = try run(["generate", "--from-png", tmp + "/s.png", "--threads", "1", "-q", "-o", tmp + "/gone.png"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("'model_file'") && r.stderr.contains(copy), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/gone.png"))
    }

    /// A 2×2 sheet: labelled, every cell recorded, the same bytes from the same flags and from its own record, and
    /// each cell (with --cell, or as a plain image of the cell's settings) exactly the sheet's pixels in its slot.
    func testTwoByTwoSheetIsRecordedAndReproduced() throws {
        let (sheet, rec) = try generate(["--class", "3", "--xy", "cfg=1,4", "--xy", "seed=0,7"], to: "s.png")
        let xy = try XCTUnwrap(rec.xy)
        XCTAssertEqual(xy.axes, [SheetRecord.Axis(name: "cfg", values: ["1", "4"]), SheetRecord.Axis(name: "seed", values: ["0", "7"])])
        XCTAssertEqual(xy.cells.map(\.cfg), [1, 4, 1, 4], "X varies fastest")
        XCTAssertEqual(xy.cells.map(\.seed), [0, 0, 7, 7])
        XCTAssertEqual(xy.cells.map(\.classIndex), [3, 3, 3, 3])
        XCTAssertTrue(xy.cells.allSatisfy { $0.xy == nil && $0.schedule == rec.schedule })
        XCTAssertEqual(rec.cfg, 1, "the top-level record is the first cell's")
        let parameters = try PNG.readText(tmp + "/s.png")["parameters"] ?? ""
        XCTAssertTrue(parameters.hasSuffix("X Type: cfg, X Values: \"1,4\", Y Type: seed, Y Values: \"0,7\""), parameters)
        // Labels above and left of the cells: black ink on the white margins.
        let cellSide = 32
        XCTAssertGreaterThan(sheet.width, 2 * cellSide + 20)
        XCTAssertGreaterThan(sheet.height, 2 * cellSide + 7)
        XCTAssertTrue(sheet.pixels[0..<(sheet.width * 3 * 8)].contains(0), "column labels")
        // Same flags, same bytes; the record alone makes the same bytes again.
        _ = try generate(["--class", "3", "--xy", "cfg=1,4", "--xy", "seed=0,7"], to: "again.png")
        XCTAssertEqual(try bytes("again.png"), try bytes("s.png"))
        _ = try generate(["--from-png", tmp + "/s.png"], to: "replayed.png")
        XCTAssertEqual(try bytes("replayed.png"), try bytes("s.png"))
        // Every cell alone is the sheet's cell, in row-major slots.
        var spots: [(x: Int, y: Int)] = []
        for (i, (x, y)) in [(0, 0), (1, 0), (0, 1), (1, 1)].enumerated() {
            let (one, oneRec) = try generate(["--from-png", tmp + "/s.png", "--cell", "\(x),\(y)"], to: "c\(i).png")
            XCTAssertEqual(oneRec, xy.cells[i])
            XCTAssertEqual([one.width, one.height], [cellSide, cellSide])
            spots.append(try XCTUnwrap(locate(one, in: sheet), "cell \(x),\(y) is in the sheet"))
        }
        XCTAssertTrue(spots[0].x < spots[1].x && spots[0].y == spots[1].y && spots[0].x == spots[2].x && spots[0].y < spots[2].y, "\(spots)")
        let (plain, _) = try generate(["--class", "3", "--cfg", "4", "--seed", "7"], to: "plain.png")
        XCTAssertEqual(try XCTUnwrap(locate(plain, in: sheet)).x, spots[3].x, "a cell is the plain image of its settings")
    }

    /// A 3×1 sheet over FlexVAR's steps: one row, no row labels, each cell its own schedule; --cell X picks one.
    func testThreeByOneSheetOverSteps() throws {
        let (sheet, rec) = try generate(["--class", "3", "--xy", "steps=6,8,13"], to: "s.png", model: flexModel)
        let xy = try XCTUnwrap(rec.xy)
        XCTAssertEqual(xy.cells.map(\.schedule.count), [6, 8, 13])
        XCTAssertEqual(xy.rows, 1)
        let (last, lastRec) = try generate(["--from-png", tmp + "/s.png", "--cell", "2"], to: "c.png", model: flexModel)
        XCTAssertEqual(lastRec, xy.cells[2])
        XCTAssertNotNil(locate(last, in: sheet))
        _ = try generate(["--from-png", tmp + "/s.png"], to: "replayed.png", model: flexModel)
        XCTAssertEqual(try bytes("replayed.png"), try bytes("s.png"))
    }

    /// A model axis over two families of different resolutions: each cell at its own size, each reproducible.
    func testModelAxis() throws {
        let models = ["glyphs-var", "glyphs-flexvar"].map { weights + "/" + $0 + ".safetensors" }
        let r = try run(["generate", "--threads", "1", "-q", "--class", "3", "--xy", "model=" + models.joined(separator: ","),
                         "-o", tmp + "/m.png"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let (sheet, text) = try PNG.read(tmp + "/m.png")
        let rec = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))
        XCTAssertEqual(rec.xy?.cells.map(\.family), ["var", "flexvar"])
        let c = try run(["generate", "-q", "--from-png", tmp + "/m.png", "--cell", "1,0", "-o", tmp + "/c.png"])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertNotNil(locate(try PNG.read(tmp + "/c.png").0, in: sheet))
        let refused = try run(["generate", "-q", "--from-png", tmp + "/m.png", "--model", models[0], "-o", tmp + "/x.png"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.hasPrefix("Error: \(tmp)/m.png is a sheet over model; --model would replace its axis"), refused.stderr)
    }

    /// On a sheet's --from-png, a flag that is not an axis applies to every cell; one that is an axis is refused.
    func testOverridesApplyToEveryCellOrAreRefused() throws {
        _ = try generate(["--class", "3", "--xy", "seed=0,1"], to: "s.png")
        let (_, rec) = try generate(["--from-png", tmp + "/s.png", "--cfg", "2", "--class", "5"], to: "cfg2.png")
        XCTAssertEqual(rec.xy?.cells.map(\.cfg), [2, 2])
        XCTAssertEqual(rec.xy?.cells.map(\.classIndex), [5, 5])
        XCTAssertEqual(rec.xy?.cells.map(\.seed), [0, 1])
        for (flags, message) in [(["--seed", "4"], "is a sheet over seed; --seed would replace its axis"),
                                 (["--count", "2"], "is an --xy sheet; --count and --grid cannot reshape it"),
                                 (["--cell", "2,0"], "--cell 2,0 is outside the sheet's 2×1 cells")] {
            let r = try run(["generate", "--model", model, "-q", "--from-png", tmp + "/s.png", "-o", tmp + "/x.png"] + flags)
            XCTAssertEqual(r.status, 1, "\(flags)")
            XCTAssertTrue(r.stderr.hasPrefix("Error: ") && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1,
                          "\(flags): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/x.png"))
        }
    }

    /// A lone X is a column of a one-axis sheet only: on a two-axis sheet it is refused, not read as X,0.
    func testTwoAxisSheetNeedsBothCoordinates() throws {
        _ = try generate(["--class", "3", "--xy", "seed=0,1", "--xy", "cfg=1,2"], to: "two.png")
        let r = try run(["generate", "--model", model, "-q", "--from-png", tmp + "/two.png", "--cell", "1", "-o", tmp + "/x.png"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("Error: --cell must be X,Y (zero-based column and row) for a two-axis sheet (got '1')"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/x.png"))
        _ = try generate(["--from-png", tmp + "/two.png", "--cell", "1,1"], to: "one.png")
    }

    /// Each mistake is one clear error and a non-zero exit, and writes nothing.
    func testRefusals() throws {
        let many = "seed=" + (0..<65).map(String.init).joined(separator: ",")
        try Data("keep".utf8).write(to: URL(fileURLWithPath: tmp + "/taken.png"))
        let usage: [([String], String)] = [
            (["--xy", "size=1,2"], "--xy: unknown axis 'size'; axes: cfg, top_k"),
            (["--xy", "cfg"], "--xy needs NAME=v1,v2,…"),
            (["--xy", "cfg="], "--xy cfg: no values"),
            (["--xy", "cfg=1,,2"], "--xy cfg: empty value in '1,,2'"),
            (["--xy", "cfg=1,2", "--xy", "cfg=3"], "--xy cfg is given twice"),
            (["--xy", "cfg=1", "--xy", "seed=1", "--xy", "top_k=1"], "--xy takes at most two axes (X and Y), got 3"),
            (["--xy", "cfg=200"], "cfg must be a finite number in 0…100, got 200 from --xy cfg"),
            (["--xy", "top-p=0.5,2"], "top-p must be a number in 0…1 (0 = off), got 2 from --xy top_p"),
            (["--xy", "top_k=many"], "--xy top_k: 'many' is not a number"),
            (["--xy", "seed=-1"], "--xy seed: '-1' is not a seed"),
            (["--xy", "cfg_mode=ramp,steep"], "cfg-mode must be ramp or constant, got 'steep' from --xy cfg_mode"),
            (["--xy", many], "--xy makes 65 cells, more than 64; pass --allow-large"),
            (["--xy", "cfg=1,2", "--grid"], "--xy makes its own sheet; --count and --grid do not apply"),
            (["--xy", "cfg=1,2", "--count", "2"], "--xy makes its own sheet; --count and --grid do not apply"),
            (["--xy", "cfg=1,2", "--cfg", "3"], "--cfg and --xy cfg both set cfg; give one"),
            (["--xy", "seed=1,2", "--seed", "3"], "--seed and --xy seed both set seed; give one"),
            (["--xy", "cfg=1,2", "--from-png", tmp + "/taken.png"], "--xy cannot be given with it"),
            (["--cell", "0,0"], "--cell needs --from-png of an --xy sheet"),
            (["--cell", "a"], "--cell must be X,Y"),
        ]
        for (flags, message) in usage {
            let r = try run(["generate", "--model", model, "-q", "--class", "3", "-o", tmp + "/x.png"] + flags)
            XCTAssertEqual(r.status, 64, "\(flags): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("Error: ") && r.stderr.split(separator: "\n")[0].contains(message), "\(flags): \(r.stderr)")
        }
        // Checked once the model is loaded.
        let late: [([String], String)] = [
            (["--xy", "steps=6,8"], "var has one schedule (10 steps); --xy steps needs a model with several (FlexVAR)"),
            (["--xy", "class=3,99"], "class 99 is out of range 0…9"),
            (["--xy", "cfg=1,2", "-o", tmp + "/taken.png"], "taken.png exists; use --force to overwrite"),
        ]
        for (flags, message) in late {
            let r = try run(["generate", "--model", model, "-q", "-o", tmp + "/x.png"] + (flags.contains("class=3,99") ? [] : ["--class", "3"]) + flags)
            XCTAssertEqual(r.status, 1, "\(flags): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("Error: ") && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1,
                          "\(flags): \(r.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/x.png"))
        XCTAssertEqual(try bytes("taken.png"), Data("keep".utf8), "never overwritten without --force")
        let flex = try run(["generate", "--model", flexModel, "-q", "--class", "3", "--xy", "steps=6,20", "-o", tmp + "/x.png"])
        XCTAssertEqual(flex.status, 1)
        XCTAssertTrue(flex.stderr.contains("has no 20-step schedule"), flex.stderr)
        _ = try generate(["--class", "3", "--seed", "0"], to: "single.png")
        let notSheet = try run(["generate", "--model", model, "-q", "--from-png", tmp + "/single.png", "--cell", "0,0", "-o", tmp + "/x.png"])
        XCTAssertEqual(notSheet.status, 1)
        XCTAssertTrue(notSheet.stderr.contains("--cell picks a cell of an --xy sheet"), notSheet.stderr)
    }

    /// A sheet's record is read like any record: a broken shape, a nested sheet, an unknown axis or a cell value out
    /// of range is one error, never a crash or a different sheet.
    func testBrokenSheetRecordsAreRefused() throws {
        let (_, rec) = try generate(["--class", "3", "--xy", "cfg=1,4", "--xy", "seed=0,7"], to: "s.png")
        var short = rec, nested = rec, unknown = rec, wild = rec
        short.xy!.cells.removeLast()
        nested.xy!.cells[1].xy = rec.xy
        unknown.xy!.axes[0].name = "size"
        wild.xy!.cells[2].topP = 3
        let cases: [(GenerationRecord, String)] = [
            (short, "3 cells for a 2×2 sheet"), (nested, "a sheet's cell is itself a sheet"),
            (unknown, "the sheet's record: --xy: unknown axis 'size'"), (wild, "record field 'top_p' must be a number in 0…1"),
        ]
        for (i, (broken, message)) in cases.enumerated() {
            // Written with an encoder that skips the writer's checks, as a hand-edited file would be.
            let json = String(decoding: try JSONEncoder().encode(broken), as: UTF8.self)
            try PNG.write(RGBImage(width: 2, height: 2), text: [("scalewise", json)], to: tmp + "/b\(i).png")
            let r = try run(["generate", "--model", model, "-q", "--from-png", tmp + "/b\(i).png", "-o", tmp + "/x.png"])
            XCTAssertEqual(r.status, 1, message)
            XCTAssertTrue(r.stderr.hasPrefix("Error: ") && r.stderr.contains(message), "\(message): \(r.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/x.png"))
    }
}
