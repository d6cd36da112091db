import Foundation
import XCTest

@testable import ScalewiseEngine

/// Every shipped model in weights/ reproduces the PyTorch reference sampler: greedy (top-k 1) tokens identical at
/// every step for a few classes (fixtures from tools/reference/make_shipped_fixture.py on the same files, one per
/// model in Fixtures/shipped/; FlexVAR also at other step counts, AiM as one raster of tokens).
final class ShippedModelTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let cls: Int
            let tokens: [[Int32]]
            let scales: [Int]?
        }
        let model: String
        let family: String?
        let cfg: Float
        let cases: [Case]
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func fixtures() throws -> [URL] {
        let dir = Self.root.appendingPathComponent("Tests/EngineTests/Fixtures/shipped")
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
    }

    /// With no model named, the 64-px VAR is used when present; the 32-px VAR next; otherwise the first file.
    func testDefaultModelIsThe64PixelVAR() throws {
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Self.root.path + "/weights")
            .filter { $0.hasSuffix(".safetensors") }.sorted().map { Self.root.path + "/weights/" + $0 }
        let pick = try XCTUnwrap(ModelLoader.preferredDefault(among: shipped))
        XCTAssertTrue(pick.hasSuffix("/weights/glyphs64-var.safetensors"), pick)
        XCTAssertEqual(try ModelLoader.openWeights(pick).metadata["image_size"], "64")
        let without = shipped.filter { !$0.hasSuffix("glyphs64-var.safetensors") }
        XCTAssertEqual(ModelLoader.preferredDefault(among: without).map { URL(fileURLWithPath: $0).lastPathComponent },
                       "glyphs-var.safetensors")
        XCTAssertEqual(ModelLoader.preferredDefault(among: ["/x/a.safetensors", "/x/b.pth"]), "/x/a.safetensors")
        XCTAssertNil(ModelLoader.preferredDefault(among: []))
    }

    /// Every generator in weights/ has a fixture (a new shipped model cannot skip this test).
    func testEveryShippedGeneratorHasAFixture() throws {
        let covered = Set(try fixtures().map { try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: $0)).model })
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Self.root.path + "/weights")
            .filter { $0.hasSuffix(".safetensors") }
            .filter { ModelLoader.isGenerator(try! ModelLoader.openWeights(Self.root.path + "/weights/" + $0)) }
        XCTAssertGreaterThanOrEqual(shipped.count, 1)
        for name in shipped { XCTAssertTrue(covered.contains(name), "\(name) has no greedy fixture") }
    }

    func testGreedyTokensMatchReference() throws {
        let files = try fixtures()
        XCTAssertFalse(files.isEmpty)
        for url in files {
            let fx = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
            let gen = try ModelLoader.load(Self.root.path + "/weights/" + fx.model)
            if let family = fx.family { XCTAssertEqual(gen.family, family, fx.model) }
            for c in fx.cases {
                let schedule = c.scales.map { $0.map { ScaleShape($0, $0) } }
                let s = try gen.makeSession(classIndex: c.cls, options: SamplingOptions(cfg: fx.cfg, topK: 1, topP: 0),
                                            schedule: schedule)
                var got: [[Int32]] = []
                while s.completed < s.scales.count { got.append(try s.step().tokens) }
                if gen.family == "aim" { got = [got.flatMap { $0 }] }
                XCTAssertEqual(got.count, c.tokens.count, "\(fx.model) class \(c.cls): step count")
                for (si, (g, want)) in zip(got, c.tokens).enumerated() {
                    XCTAssertEqual(g, want, "\(fx.model) class \(c.cls) \(c.scales.map { "\($0)" } ?? ""), step \(si)")
                }
            }
        }
    }
}
