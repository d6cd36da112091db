import Foundation
import XCTest

@testable import ScalewiseEngine

/// VAR's two guidance rules told apart by what they do to the logits and the image, not by the numbers they
/// report: the guidance each rule applies at each scale is measured from the guided logits.
final class GuidanceRuleTests: XCTestCase {
    static let cfg: Float = 3

    func load() throws -> Generator { try ModelLoader.load(Parity.fixture("var_tiny/var.safetensors")) }

    func options(cfg: Float, _ mode: CFGMode) -> SamplingOptions {
        var o = SamplingOptions(cfg: cfg, topK: 0, topP: 0, moreSmooth: false, seed: 11)
        o.cfgMode = mode
        return o
    }

    /// The guided logits of every scale with the tokens forced to `tokens` (the same inputs for every rule).
    func logits(_ gen: Generator, _ o: SamplingOptions, tokens: [[Int32]]) throws -> [[Float]] {
        let s = try gen.makeSession(classIndex: 2, options: o)
        s.keepLogits = true
        return try tokens.map { t in
            _ = try s.step(forcing: t)
            return s.lastLogits
        }
    }

    /// A free run: its tokens per scale and its decoded image.
    func sample(_ gen: Generator, _ o: SamplingOptions) throws -> (tokens: [[Int32]], pixels: [UInt8]) {
        let s = try gen.makeSession(classIndex: 2, options: o)
        while s.completed < s.scales.count { _ = try s.step() }
        return (s.results.map(\.tokens), s.preview(after: s.completed, tier: .decoded).pixels)
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
    static func minus(_ a: [Float], _ b: [Float]) -> [Float] { zip(a, b).map { $0 - $1 } }

    func testConstantRuleAppliesOtherGuidanceThanTheRamp() throws {
        let gen = try load()
        let tokens = try sample(gen, options(cfg: Self.cfg, .ramp)).tokens
        let n = tokens.count
        XCTAssertGreaterThan(n, 2)
        // cond: no guidance (constant rule at cfg 1: t = 0, one row). unit: t = 1 exactly (constant at cfg 2),
        // so unit − cond is c − u, the direction every guided logit moves along.
        let cond = try logits(gen, options(cfg: 1, .constant), tokens: tokens)
        let unit = try logits(gen, options(cfg: 2, .constant), tokens: tokens)
        let ramp = try logits(gen, options(cfg: Self.cfg, .ramp), tokens: tokens)
        let constant = try logits(gen, options(cfg: Self.cfg, .constant), tokens: tokens)
        var applied: [(ramp: Double, constant: Double)] = []
        for si in 0..<n {
            let d = Self.minus(unit[si], cond[si])
            let dd = Self.dot(d, d)
            XCTAssertGreaterThan(dd, 0, "scale \(si): conditional and unconditional logits coincide")
            // The guidance applied: how far along c − u the guided logits sit from the conditional ones.
            applied.append((Self.dot(Self.minus(ramp[si], cond[si]), d) / dd, Self.dot(Self.minus(constant[si], cond[si]), d) / dd))
        }
        for (si, a) in applied.enumerated() {
            // Ramp: t = cfg·si/(n−1), from none at the first scale to cfg at the last (VAR's sampler).
            XCTAssertEqual(a.ramp, Double(Self.cfg) * Double(si) / Double(n - 1), accuracy: 1e-2, "ramp at scale \(si)")
            // Constant: u + cfg·(c − u), t = cfg − 1 at every scale.
            XCTAssertEqual(a.constant, Double(Self.cfg - 1), accuracy: 1e-2, "constant at scale \(si)")
        }
        // The rules differ at the first scale (none against cfg − 1) and the last (cfg against cfg − 1).
        XCTAssertGreaterThan(abs(applied[0].constant - applied[0].ramp), 1)
        XCTAssertGreaterThan(abs(applied[n - 1].constant - applied[n - 1].ramp), 0.5)
    }

    func testConstantRuleChangesTheImage() throws {
        let gen = try load()
        let ramp = try sample(gen, options(cfg: Self.cfg, .ramp))
        let constant = try sample(gen, options(cfg: Self.cfg, .constant))
        XCTAssertNotEqual(ramp.tokens, constant.tokens, "the rules drew the same tokens")
        XCTAssertNotEqual(ramp.pixels, constant.pixels, "the rules gave the same image")
        // Both rules without guidance are the same sampler: the constant rule at cfg 1 and the ramp at cfg 0.
        XCTAssertEqual(try sample(gen, options(cfg: 1, .constant)).pixels, try sample(gen, options(cfg: 0, .ramp)).pixels)
    }
}
