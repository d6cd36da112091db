import Foundation
import ScalewiseEngine
import XCTest

/// Grid sheets record every cell's seed, and --from-png applies every override it is given.
final class GridRecordTests: XCTestCase {
    private var tmp = ""
    private let model = CLITests.fixtures + "/var.safetensors"

    private func run(_ args: [String]) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = args
        p.environment = CLITests.withTestCache(ProcessInfo.processInfo.environment)
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "scalewise-grid-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    private func generate(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (RGBImage, GenerationRecord) {
        let r = try run(["generate", "--model", model, "--threads", "1", "-q"] + args)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        let out = args[(args.firstIndex(of: "-o") ?? 0) + 1]
        let (image, text) = try PNG.read(out)
        return (image, try GenerationRecord.parse(try XCTUnwrap(text["scalewise"])))
    }

    private func crop(_ img: RGBImage, x: Int, y: Int, w: Int, h: Int) -> RGBImage {
        var px = [UInt8]()
        for row in y..<(y + h) { px += img.pixels[((row * img.width + x) * 3)..<((row * img.width + x + w) * 3)] }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// The sheet records its first seed and its size; --from-png makes the same sheet, and each cell is
    /// the single image of its seed.
    func testGridIsRecordedAndReproduced() throws {
        let (sheet, rec) = try generate(["--class", "3", "--seed", "5", "--count", "4", "--grid", "-o", tmp + "/g.png"])
        XCTAssertEqual(rec.grid, 4)
        XCTAssertEqual(rec.seed, 5)
        let (again, rec2) = try generate(["--from-png", tmp + "/g.png", "-o", tmp + "/g2.png"])
        XCTAssertEqual(again, sheet, "the whole grid, not one image")
        XCTAssertEqual(rec2.grid, 4)
        let (cell, _) = try generate(["--class", "3", "--seed", "8", "-o", tmp + "/s8.png"])
        XCTAssertEqual(crop(sheet, x: cell.width + 2, y: cell.height + 2, w: cell.width, h: cell.height), cell, "cell 4 is seed 5+3")
        let (one, rec3) = try generate(["--from-png", tmp + "/g.png", "--count", "1", "-o", tmp + "/one.png"])
        XCTAssertEqual(crop(sheet, x: 0, y: 0, w: one.width, h: one.height), one, "--count overrides the recorded grid")
        XCTAssertNil(rec3.grid)
    }

    /// --seed and --class replace the recorded ones, as --cfg does; --steps cannot change a recorded schedule.
    func testFromPNGAppliesSeedAndClass() throws {
        _ = try generate(["--class", "3", "--seed", "0", "-o", tmp + "/a.png"])
        let (seeded, rs) = try generate(["--from-png", tmp + "/a.png", "--seed", "7", "-o", tmp + "/b.png"])
        XCTAssertEqual(rs.seed, 7)
        XCTAssertEqual(seeded, try generate(["--class", "3", "--seed", "7", "-o", tmp + "/c.png"]).0)
        let (classed, rc) = try generate(["--from-png", tmp + "/a.png", "--class", "5", "-o", tmp + "/d.png"])
        XCTAssertEqual(rc.classIndex, 5)
        XCTAssertEqual(classed, try generate(["--class", "5", "--seed", "0", "-o", tmp + "/e.png"]).0)
        let refused = try run(["generate", "--from-png", tmp + "/a.png", "--steps", "6", "-o", tmp + "/f.png"])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("--from-png reproduces the recorded schedule"), refused.stderr)
    }
}
