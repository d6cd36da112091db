import XCTest

@testable import ScalewiseEngine

/// The steps knob's schedules: paper Table 7 at a 16×16 latent, our lists at 8×8 (the shipped model), rescaled
/// Table 7 elsewhere; every list strictly increasing, the shipped model's training schedule among them.
final class FlexVARPresetTests: XCTestCase {
    func increasing(_ s: [Int]) -> Bool { zip(s, s.dropFirst()).allSatisfy { $0 < $1 } }

    func testPresetsPerLatentSide() {
        XCTAssertEqual(FlexVAR.presets(side: 16).map(\.count), Array(6...13))
        XCTAssertEqual(FlexVAR.presets(side: 16)[4], [1, 2, 3, 4, 5, 6, 8, 10, 13, 16])
        let eight = FlexVAR.presets(side: 8)
        XCTAssertEqual(eight.map(\.count), [4, 5, 6, 7, 8, 10, 13])
        XCTAssertEqual(eight.map { $0.last! }, [8, 8, 8, 8, 8, 12, 16])
        for side in [4, 8, 12, 16, 24, 32] {
            let all = FlexVAR.presets(side: side)
            // Tiny latents keep no rescaled list (all would repeat a size); the training schedule remains.
            if side >= 8 { XCTAssertFalse(all.isEmpty, "side \(side)") }
            for s in all { XCTAssertTrue(increasing(s), "side \(side): \(s)") }
        }
    }

    func testShippedFlexVARKnobIncludesItsTrainingSchedule() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let gen = try XCTUnwrap(try ModelLoader.load(root + "/weights/glyphs-flexvar.safetensors") as? FlexVARGenerator)
        let trained = gen.model.config.patch_nums.map { ScaleShape($0, $0) }
        XCTAssertEqual(gen.defaultSchedule, trained)
        XCTAssertTrue(gen.schedules.contains(trained))
        XCTAssertEqual(gen.schedules.map(\.count), [4, 5, 6, 7, 8, 10, 13])
    }
}
