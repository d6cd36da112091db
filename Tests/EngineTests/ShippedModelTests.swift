import Foundation
import XCTest

@testable import ScalewiseEngine

/// The shipped model in weights/ reproduces the PyTorch reference sampler: greedy (top-k 1) tokens identical at
/// every scale for a few classes (fixture from tools/reference/make_shipped_fixture.py on the same file).
final class ShippedModelTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let cls: Int
            let tokens: [[Int32]]
        }
        let model: String
        let cfg: Float
        let cases: [Case]
    }

    func testGreedyTokensMatchReference() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let fixtureURL = root.appendingPathComponent("Tests/EngineTests/Fixtures/shipped/glyphs-var-greedy.json")
        let fx = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixtureURL))
        let gen = try XCTUnwrap(try ModelLoader.load(root.path + "/weights/" + fx.model) as? VARGenerator)
        for c in fx.cases {
            let s = try VARSession(model: gen.model, classIndex: c.cls, options: SamplingOptions(cfg: fx.cfg, topK: 1, topP: 0))
            for (si, want) in c.tokens.enumerated() {
                XCTAssertEqual(try s.step().tokens, want, "class \(c.cls), scale \(si)")
            }
        }
    }
}
