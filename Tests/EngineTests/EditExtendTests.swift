import ScalewiseEngine
import XCTest

/// Extending an image on the tiny FlexVAR fixture (32 px, 16×16 tokens, 2 px per token): the output is the
/// image at its own scale plus the new half, the kept half's tokens are teacher-forced, and an output too large
/// is refused rather than shrunk.
final class EditExtendTests: XCTestCase {
    func generator() throws -> Generator { try ModelLoader.load(Parity.fixture("flex_tiny/flexvar.safetensors")) }

    /// A `width`×`height` gradient (any content; the fixture's weights are random).
    func image(_ width: Int, _ height: Int) -> RGBImage {
        var img = RGBImage(width: width, height: height)
        for y in 0..<height { for x in 0..<width { for c in 0..<3 { img.pixels[(y * width + x) * 3 + c] = UInt8((x * 7 + y * 3 + c * 50) % 256) } } }
        return img
    }

    func testExtendKeepsTheImagesScaleOnEverySide() throws {
        let gen = try generator()
        // 64×32: twice the model's size on its longer side. Every side keeps its 32×16 tokens and adds the half.
        let src = image(64, 32)
        let want = ["right": (128, 32), "left": (128, 32), "down": (64, 64), "up": (64, 64)]
        for (side, size) in want {
            let schedule = EditPlan.schedule(gen.defaultSchedule, width: src.width, height: src.height)
            let steps = try gen.editSteps(plan: .extend(side), schedule: schedule, width: src.width, height: src.height,
                                          allowLarge: true)
            XCTAssertEqual(steps.last.map { [$0.w * 2, $0.h * 2] }, [size.0, size.1], side)
            let (session, masks) = try gen.makeEditSession(image: src, plan: .extend(side), classIndex: 3,
                                                           options: gen.defaults, schedule: schedule)
            XCTAssertEqual(session.scales, steps, side)
            // The kept half is the source's 32×16 token map, on the side away from the new half.
            let last = steps.last!, keep = masks.last!
            let want = (0..<last.count).map { i in
                let x = i % last.w, y = i / last.w
                switch side {
                case "right": return x < 32
                case "left": return x >= last.w - 32
                case "down": return y < 16
                default: return y >= last.h - 16
                }
            }
            XCTAssertEqual(keep, want, side)
            var result: ScaleResult?
            while session.completed < session.scales.count { result = try session.step() }
            // The kept half comes out as the image's own tokens (teacher-forced at every step).
            let forced = try XCTUnwrap((session as? FlexVARSession)?.constraints[steps.count - 1])
            let tokens = try XCTUnwrap(result).tokens
            XCTAssertEqual(keep.indices.filter { keep[$0] }.map { tokens[$0] }, keep.indices.filter { keep[$0] }.map { forced.tokens[$0] }, side)
            let out = session.preview(after: session.completed, tier: .decoded)
            XCTAssertEqual([out.width, out.height], [size.0, size.1], side)
        }
    }

    func testExtendBeyondTheModelIsRefusedNotShrunk() throws {
        let gen = try generator()
        let schedule = EditPlan.schedule(gen.defaultSchedule, width: 64, height: 32)
        // 64 tokens wide: more than twice the learned 16, so only with allowLarge.
        XCTAssertThrowsError(try gen.editSteps(plan: .extend("right"), schedule: schedule, width: 64, height: 32,
                                               allowLarge: false)) { e in
            XCTAssertEqual("\(e)", "extending 64×32 right makes a 128×32 image (64×16 tokens), more than 2× the model's "
                           + "16×16; --allow-large runs it anyway")
        }
        // 128 tokens: beyond what the model can make at all.
        let huge = image(128, 64), big = EditPlan.schedule(gen.defaultSchedule, width: 128, height: 64)
        for allow in [false, true] {
            XCTAssertThrowsError(try gen.editSteps(plan: .extend("right"), schedule: big, width: 128, height: 64,
                                                   allowLarge: allow)) { e in
                XCTAssertEqual("\(e)", "extending 128×64 right makes a 256×64 image (128×32 tokens), beyond this "
                               + "model's limit of 64 tokens (128 px) per side; extend a smaller image")
            }
        }
        XCTAssertThrowsError(try gen.makeEditSession(image: huge, plan: .extend("right"), classIndex: 0,
                                                     options: gen.defaults, schedule: big))
    }
}
