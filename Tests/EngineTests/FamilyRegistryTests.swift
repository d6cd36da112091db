import Foundation
import XCTest

@testable import ScalewiseEngine

/// The family table: detection of files without metadata, capabilities, state sizes, and the bookkeeping every
/// session shares (`SessionCore`).
final class FamilyRegistryTests: XCTestCase {
    /// Each fixture's generator with the family it must load as.
    static let generators = [("var_tiny/var.safetensors", "var"), ("mvar_tiny/mvar.safetensors", "mvar"),
                             ("mamba_tiny/mambavar.safetensors", "mambavar"), ("flex_tiny/flexvar.safetensors", "flexvar"),
                             ("mamba_tiny/aim.safetensors", "aim")]

    func testNamesAreUniqueAndFound() {
        let names = ModelFamily.all.map(\.name)
        XCTAssertEqual(Set(names).count, names.count)
        for n in names { XCTAssertEqual(ModelFamily.named(n)?.name, n) }
        XCTAssertNil(ModelFamily.named("dalle"))
        XCTAssertEqual(ModelFamily.all.filter(\.isGenerator).map(\.name).sorted(), ["aim", "flexvar", "mambavar", "mvar", "var"])
    }

    /// Official checkpoints carry no `family` metadata: keys and shapes decide (MVAR's only by its `.pth` wrapper,
    /// so without metadata its file reads as VAR's).
    func testDetectionWithoutMetadata() throws {
        let cases = [("var_tiny/var.safetensors", "var"), ("var_tiny/vqvae.safetensors", "vqvae"),
                     ("flex_tiny/flexvar.safetensors", "flexvar"), ("flex_tiny/flexvqvae.safetensors", "flexvqvae"),
                     ("mamba_tiny/mambavar.safetensors", "mambavar"), ("mamba_tiny/aim.safetensors", "aim"),
                     ("mvar_tiny/mvar.safetensors", "var")]
        for (file, family) in cases {
            let w = WithoutMetadata(base: try SafeTensorsFile(path: Parity.fixture(file)))
            XCTAssertEqual(ModelLoader.family(of: w), family, file)
        }
    }

    func testCapabilitiesAndStateSizes() throws {
        var state: [String: Int] = [:]
        for (file, family) in Self.generators {
            let gen = try ModelLoader.load(Parity.fixture(file))
            XCTAssertEqual(gen.family, family)
            XCTAssertEqual(gen.capabilities.canEdit, family == "flexvar", family)
            XCTAssertEqual(gen.capabilities.freeSchedule, gen.schedules.count > 1, family)
            XCTAssertEqual(gen.capabilities.stepUnit, ["flexvar": "step", "aim": "row"][family] ?? "scale")
            state[family] = gen.stateBytes(cfg: 3)
            XCTAssertGreaterThan(state[family]!, 0, family)
            XCTAssertLessThanOrEqual(gen.stateBytes(cfg: 0), state[family]!, family)
            if !gen.capabilities.canEdit {
                XCTAssertThrowsError(try gen.makeEditSession(image: RGBImage(width: 8, height: 8), plan: .refine(upTo: 2),
                                                             classIndex: 0, options: gen.defaults, schedule: gen.defaultSchedule))
            }
        }
        // VAR keeps keys and values of every scale; MVAR of the current one only.
        XCTAssertLessThan(state["mvar"]!, state["var"]!)
        let v = try XCTUnwrap(try ModelLoader.load(Parity.fixture("var_tiny/var.safetensors")) as? VARGenerator)
        XCTAssertEqual(state["var"], v.model.kvCacheBytes(afterScale: v.model.scales.count - 1, rows: 2))
    }

    /// Checkpoints with 1000 classes and no `classes` metadata are ImageNet's; the names are compiled in.
    func testImageNetNamesWithoutFiles() throws {
        let w = WithoutMetadata(base: try SafeTensorsFile(path: Parity.fixture("var_tiny/var.safetensors")))
        let names = try ModelLoader.classNames(w, count: 1000)
        XCTAssertEqual(names.count, 1000)
        XCTAssertEqual(names[207], "golden retriever")
        XCTAssertEqual(try ModelLoader.classNames(w, count: 3), ["class 0", "class 1", "class 2"])
    }

    /// Every family's session: the same class guard, step count, forced-token checks, re-roll and seeds.
    func testSharedSessionBookkeeping() throws {
        for (file, family) in Self.generators {
            let gen = try ModelLoader.load(Parity.fixture(file))
            let unit = gen.capabilities.stepUnit
            XCTAssertThrowsError(try gen.makeSession(classIndex: gen.classNames.count, options: gen.defaults)) {
                XCTAssertTrue("\($0)".hasPrefix("class \(gen.classNames.count) is out of range"), "\(family): \($0)")
            }
            var o = gen.defaults
            o.seed = 5
            let s = try gen.makeSession(classIndex: 1, options: o)
            XCTAssertThrowsError(try s.step(forcing: [])) {
                XCTAssertTrue("\($0)".hasPrefix("forced tokens for \(unit) 0 must be"), "\(family): \($0)")
            }
            while s.completed < s.scales.count { _ = try s.step() }
            XCTAssertThrowsError(try s.step()) { XCTAssertEqual("\($0)", "all \(s.scales.count) \(unit)s are done") }
            let final = s.results.map(\.tokens)
            s.reroll(from: 1, seed: 9)
            XCTAssertEqual(s.completed, 1)
            XCTAssertEqual(s.scaleSeeds, [5] + [UInt64](repeating: 9, count: s.scales.count - 1), family)
            s.rewind(to: 0)
            for k in 0..<s.scales.count { s.overrideSeed(scale: k, seed: 5) }
            while s.completed < s.scales.count { _ = try s.step() }
            XCTAssertEqual(s.results.map(\.tokens), final, "\(family): same seeds, same tokens")
        }
    }
}
