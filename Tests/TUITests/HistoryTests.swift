import Foundation
import ScalewiseEngine
import Synchronization
import XCTest
@testable import ScalewiseTUI

/// The history log's files (bounded, atomic, no symlinks) and the variations grid, without a terminal.
final class HistoryTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "scalewise-history-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func record(seed: UInt64) throws -> GenerationRecord {
        try GenerationRecord.parse("""
            {"version":1,"model":"var","family":"var","class":3,"class_name":"c3","cfg":2.5,"top_k":900,"top_p":0.95,
             "more_smooth":false,"seed":\(seed),"schedule":[{"h":1,"w":1},{"h":2,"w":2}],"precision":"fp32","engine":"scalewise"}
            """)
    }

    func testKeepsTheNewestAndDeletesTheRest() throws {
        var h = History(dir: dir + "/state/scalewise/history")
        h.limit = 3
        let image = RGBImage(width: 2, height: 2)
        var paths: [String] = []
        for s in 0..<5 { paths.append(try h.add(image, record: record(seed: UInt64(s)), modelPath: "/m/var.safetensors")) }
        let entries = try h.read()
        XCTAssertEqual(entries.map(\.seed), [2, 3, 4], "the newest three, oldest first")
        XCTAssertEqual(entries.last?.modelPath, "/m/var.safetensors")
        XCTAssertEqual(entries.last?.precision, "fp32")
        for p in paths.prefix(2) { XCTAssertFalse(FileManager.default.fileExists(atPath: p), "dropped from the index, deleted") }
        for p in paths.suffix(3) {
            let rec = try GenerationRecord.parse(try XCTUnwrap(try PNG.readText(p)["scalewise"]))
            XCTAssertEqual(rec.className, "c3")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: h.dir).filter { $0.hasPrefix(".") }
        XCTAssertEqual(left, [], "no temporary files left behind")
    }

    /// Writers in parallel, each with its own `History` (as two UIs would have), all on the same folder: every
    /// line reaches the index. Without the lock, their read-modify-write cycles overwrite each other's lines.
    func testConcurrentWritersLoseNoLine() throws {
        let folder = dir + "/state/scalewise/history"
        let writers = 8, each = 12
        let image = RGBImage(width: 2, height: 2)
        let records = try (0..<writers * each).map { try record(seed: UInt64($0)) }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            let h = History(dir: folder)
            for k in 0..<each {
                do { _ = try h.add(image, record: records[w * each + k], modelPath: nil) } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        let seeds = try History(dir: folder).read().map(\.seed)
        XCTAssertEqual(Set(seeds), Set((0..<writers * each).map(UInt64.init)), "every writer's every line is in the index")
        XCTAssertEqual(seeds.count, writers * each, "and only once")
    }

    func testRefusesSymlinksAndNamesOutsideTheFolder() throws {
        try FileManager.default.createDirectory(atPath: dir + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/state/scalewise", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/state/scalewise/history", withDestinationPath: dir + "/elsewhere")
        let h = History(dir: dir + "/state/scalewise/history")
        XCTAssertThrowsError(try h.add(RGBImage(width: 1, height: 1), record: record(seed: 1), modelPath: nil))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/elsewhere"), [], "nothing written through the link")
        let e = HistoryEntry(time: "", model: "", classIndex: 0, className: "", seed: 0, cfg: 0, topK: 0, topP: 0, precision: "",
                             file: "../../etc/passwd")
        XCTAssertNil(h.path(of: e))
    }

    func testEnvironment() {
        XCTAssertEqual(History.fromEnvironment(["HOME": "/home/u"])?.dir, "/home/u/.local/state/scalewise/history")
        XCTAssertEqual(History.fromEnvironment(["HOME": "/home/u", "XDG_STATE_HOME": "/s"])?.dir, "/s/scalewise/history")
        XCTAssertEqual(History.fromEnvironment(["HOME": "/home/u", "XDG_STATE_HOME": "rel"])?.dir, "/home/u/.local/state/scalewise/history")
        XCTAssertNil(History.fromEnvironment(["HOME": "/home/u", "SCALEWISE_NO_HISTORY": "1"]))
        XCTAssertNotNil(History.fromEnvironment(["HOME": "/home/u", "SCALEWISE_NO_HISTORY": "0"]))
    }

    /// Every count fits 80×24 and larger screens: tiles inside the screen, below the title, above the status line,
    /// not overlapping.
    func testVariationTilesFit() {
        for (w, h) in [(80, 24), (64, 18), (120, 40), (200, 60)] {
            for n in 2...8 {
                let tiles = VariationLayout(width: w, height: h, count: n).tiles
                XCTAssertEqual(tiles.count, n)
                for t in tiles {
                    XCTAssertGreaterThanOrEqual(t.canvas.y, 2)
                    XCTAssertLessThan(t.label.y, h - 1, "\(w)x\(h) n=\(n)")
                    XCTAssertLessThanOrEqual(t.canvas.y + t.canvas.rows, t.label.y)
                    XCTAssertLessThanOrEqual(t.label.x + t.label.width, w)
                    XCTAssertGreaterThanOrEqual(t.canvas.cols, 2)
                }
                for (i, a) in tiles.enumerated() {
                    for b in tiles[(i + 1)...] {
                        let apart = a.label.x + a.label.width <= b.label.x || b.label.x + b.label.width <= a.label.x
                            || a.label.y < b.canvas.y || b.label.y < a.canvas.y
                        XCTAssertTrue(apart, "\(w)x\(h) n=\(n): tiles overlap")
                    }
                }
            }
        }
    }
}
