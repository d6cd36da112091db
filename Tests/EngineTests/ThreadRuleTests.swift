import ScalewiseEngine
import XCTest

/// The default thread count: one thread for a small model, every core for a large one (never timed here).
final class ThreadRuleTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testRuleByWork() {
        // VAR-d16 at 256 px (about 990 GFLOP) keeps every core; the glyph models (1.6–18) run on one.
        XCTAssertEqual(ThreadRule.choose(gflop: 0.4, cores: 2).count, 1)
        XCTAssertEqual(ThreadRule.choose(gflop: 18, cores: 2).count, 1)
        XCTAssertEqual(ThreadRule.choose(gflop: 0.4, cores: 2).reason, "auto: small model")
        XCTAssertEqual(ThreadRule.choose(gflop: ThreadRule.smallModelGFLOP, cores: 16).count, 16)
        XCTAssertEqual(ThreadRule.choose(gflop: 990, cores: 2).count, 2)
        XCTAssertEqual(ThreadRule.choose(gflop: 990, cores: 2).reason, "auto: all cores")
        XCTAssertEqual(ThreadRule.choose(gflop: 990, cores: 1).count, 1)
    }

    /// Every shipped glyph model is small; the tiny fixtures too; with a pair, the larger decides.
    func testShippedModelsRunSingleThreaded() throws {
        let weights = Self.root.path + "/weights"
        let files = try FileManager.default.contentsOfDirectory(atPath: weights).filter { $0.hasSuffix(".safetensors") }
        var generators: [Generator] = []
        for f in files where !f.contains("vae") {
            let g = try ModelLoader.load(weights + "/" + f)
            generators.append(g)
            XCTAssertEqual(ThreadRule.choose(for: [g], cores: 2).count, 1, f)
        }
        XCTAssertFalse(generators.isEmpty)
        XCTAssertEqual(ThreadRule.choose(for: generators, cores: 4).count, 1)
        XCTAssertEqual(ThreadRule.choose(for: [], cores: 4).count, 1)
    }
}
