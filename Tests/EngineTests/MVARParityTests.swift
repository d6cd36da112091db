import Foundation
import ScalewiseKernels
import XCTest

@testable import ScalewiseEngine

/// Parity with the PyTorch reference (tools/reference/mvar.py: scale-local attention, 7×7 neighbourhood attention
/// from scale 8 on, no KV cache) on the fixtures of tools/reference/make_flex_mvar_fixtures.py (Fixtures/mvar_tiny,
/// over var_tiny's VQVAE). Tolerances: logits 1e-4 relative, tokens identical, pixels ±1/255.
final class MVARParityTests: XCTestCase {
    static let dir = Parity.fixture("mvar_tiny")
    static let labels = [3, 7]

    func loadGenerator() throws -> VARGenerator {
        try XCTUnwrap(try ModelLoader.load(Self.dir + "/mvar.safetensors") as? VARGenerator)
    }

    func expected() throws -> WeightSource { try SafeTensorsFile(path: Self.dir + "/expected.safetensors") }

    /// An MVAR session as the CLI and TUI get it (family dispatch included).
    func session(_ gen: VARGenerator, label: Int, _ opts: SamplingOptions) throws -> VARSession {
        let s = try XCTUnwrap(try gen.makeSession(classIndex: label, options: opts) as? VARSession)
        XCTAssertTrue(s.markov)
        return s
    }

    func testFamilyAndSharedTokenizer() throws {
        let gen = try loadGenerator()
        XCTAssertEqual(gen.family, "mvar")
        XCTAssertEqual(gen.model.tokenizer.vocabSize, 64, "../var_tiny/vqvae.safetensors")
        // MVAR keeps VAR's keys and shapes: without metadata the VAR loader infers the same config.
        // The window rule is read from the metadata (the official values here; the shipped model uses others).
        let w = WithoutMetadata(base: try SafeTensorsFile(path: Self.dir + "/mvar.safetensors"))
        var inferred = try VAR.config(from: w)
        XCTAssertNil(inferred.kernel_size)
        (inferred.kernel_size, inferred.refine_step) = (7, 8)
        XCTAssertEqual(inferred, gen.model.config)
    }

    /// Teacher forcing with var_tiny's encoder tokens: every scale sees only itself (dense below scale 8, 7×7
    /// neighbourhoods from 8 on); conditional logits of all 680 tokens.
    func teacherForcedLogits(_ gen: VARGenerator, _ exp: WeightSource) throws -> [Float] {
        let s = try session(gen, label: Self.labels[0], SamplingOptions(cfg: 0, topK: 1, topP: 0))
        s.keepLogits = true
        var got: [Float] = []
        for si in 0..<s.scales.count {
            _ = try s.step(forcing: Parity.row(try Parity.ints(exp, "tf.idx.\(si)"), 0, of: 2))
            got += s.lastLogits
        }
        return got
    }

    func testTeacherForcedLogits() throws {
        let gen = try loadGenerator(), exp = try expected()
        let err = Parity.relErr(try teacherForcedLogits(gen, exp), try exp.floats("tf.logits"))
        print("parity: mvar teacher-forced logits (label 3): rel err \(err)")
        XCTAssertLessThan(err, 1e-4)
    }

    /// Greedy sampling, no KV cache: tokens of both labels, guided logits of label 3 (cfg 3), pixels.
    func checkGreedy(cfg: Float, tag: String) throws {
        let gen = try loadGenerator(), exp = try expected()
        let png = try exp.floats("greedy.\(tag).png")
        var worstLogits: Float = 0, worstPixels = 0
        for (b, label) in Self.labels.enumerated() {
            let s = try session(gen, label: label, SamplingOptions(cfg: cfg, topK: 1, topP: 0))
            s.keepLogits = true
            for si in 0..<s.scales.count {
                let r = try s.step()
                let want = Parity.row(try Parity.ints(exp, "greedy.\(tag).idx.\(si)"), b, of: 2)
                XCTAssertEqual(r.tokens, want, "\(tag): tokens of scale \(si), label \(label)")
                if b == 0 && exp.has("greedy.\(tag).logits.\(si)") {
                    worstLogits = max(worstLogits, Parity.relErr(s.lastLogits, try exp.floats("greedy.\(tag).logits.\(si)")))
                }
            }
            if cfg == 1 { XCTAssertEqual(s.guidance(at: 9), 0, "official MVAR skips guidance at cfg 1") }
            let img = s.preview(after: s.completed, tier: .decoded)
            worstPixels = max(worstPixels, Parity.maxLevelDiff(img.pixels, Parity.row(png, b, of: 2)))
        }
        let logits = exp.has("greedy.\(tag).logits.0") ? "guided logits rel err \(worstLogits)" : "unguided (logits: tf)"
        print("parity: mvar greedy \(tag): \(logits), pixels ±\(worstPixels)")
        XCTAssertLessThan(worstLogits, 1e-4)
        XCTAssertLessThanOrEqual(worstPixels, 1)
    }

    func testGreedyCFG3() throws { try checkGreedy(cfg: 3, tag: "cfg3") }
    func testGreedyCFG1() throws { try checkGreedy(cfg: 1, tag: "cfg1") }

    /// NATTEN's window rule and the windowed kernel against dense attention with a mask built from the rule.
    func testNeighborhoodAttentionDenseEqualsWindowed() {
        var rng = Rng(seed: 11)
        let heads = 2, d = 8, C = heads * d, k = 7, r = k / 2, scale: Float = 0.9
        for (h, w) in [(13, 13), (16, 16), (13, 16), (7, 9)] {
            for n in [h, w] {
                for i in 0..<n {  // NATTEN get_window_start (dilation 1), literally
                    let literal = max(i - r, 0) + (i + r >= n ? n - i - r - 1 : 0)
                    XCTAssertEqual(neighborhoodWindowStart(i, n: n, kernel: k), literal, "n \(n), i \(i)")
                }
            }
            let L = h * w
            let qkv = (0..<(L * 3 * C)).map { _ in Float(rng.uniform() * 4 - 2) }
            var windowed = [Float](repeating: 0, count: L * C), vectorised = windowed
            neighborhoodAttention(qkv: qkv, h: h, w: w, kernel: k, heads: heads, headDim: d, scale: scale, out: &windowed)
            neighborhoodAttention(qkv: qkv, h: h, w: w, kernel: k, heads: heads, headDim: d, scale: scale, vectorised: true,
                                  out: &vectorised)
            var dense = [Float](repeating: 0, count: L * C), worst: Float = 0
            for q in 0..<L {
                let y0 = neighborhoodWindowStart(q / w, n: h, kernel: k), x0 = neighborhoodWindowStart(q % w, n: w, kernel: k)
                let visible = (0..<L).map { (y0..<(y0 + k)).contains($0 / w) && (x0..<(x0 + k)).contains($0 % w) }
                XCTAssertEqual(visible.filter { $0 }.count, k * k)
                for hd in 0..<heads {
                    let scores = (0..<L).map { key -> Double in
                        guard visible[key] else { return -.infinity }
                        let dot = (0..<d).reduce(0.0) { $0 + Double(qkv[q * 3 * C + hd * d + $1] * qkv[key * 3 * C + C + hd * d + $1]) }
                        return dot * Double(scale)
                    }
                    let m = scores.max()!, e = scores.map { exp($0 - m) }, total = e.reduce(0, +)
                    for c in 0..<d {
                        let o = (0..<L).reduce(0.0) { $0 + e[$1] / total * Double(qkv[$1 * 3 * C + 2 * C + hd * d + c]) }
                        dense[q * C + hd * d + c] = Float(o)
                    }
                }
            }
            worst = Parity.maxAbsErr(windowed, dense)
            let worstVectorised = Parity.maxAbsErr(vectorised, dense)
            print("neighbourhood attention \(h)×\(w): windowed vs dense masked max abs err \(worst), vectorised \(worstVectorised)")
            XCTAssertLessThan(worst, 1e-5, "\(h)×\(w)")
            XCTAssertLessThan(worstVectorised, 1e-5, "\(h)×\(w), vectorised")
        }
    }

    /// The comparison bites: a perturbed weight must break logit parity.
    func testPerturbedModelFailsParity() throws {
        let gen = try loadGenerator(), exp = try expected()
        let w = gen.model.trunk.blocks[1].attn.proj.weight.fp32!
        w.ptr[5] += 0.5
        defer { w.ptr[5] -= 0.5 }
        XCTAssertGreaterThan(Parity.relErr(try teacherForcedLogits(gen, exp), try exp.floats("tf.logits")), 1e-4)
    }

    /// Only f̂ is carried: step back and re-run gives the same image, re-roll keeps the earlier scales.
    func testRewindAndReroll() throws {
        let gen = try loadGenerator()
        let opts = SamplingOptions(cfg: 2, topK: 20, topP: 0.9, seed: 42)
        let a = try session(gen, label: 5, opts)
        while a.completed < a.scales.count { _ = try a.step() }
        let b = try session(gen, label: 5, opts)
        for _ in 0..<9 { _ = try b.step() }
        b.rewind(to: 7)
        while b.completed < b.scales.count { _ = try b.step() }
        XCTAssertEqual(a.results.map(\.tokens), b.results.map(\.tokens))
        b.reroll(from: 8, seed: 7)
        while b.completed < b.scales.count { _ = try b.step() }
        XCTAssertEqual(a.results[..<8].map(\.tokens), b.results[..<8].map(\.tokens))
        XCTAssertNotEqual(a.results[8...].map(\.tokens), b.results[8...].map(\.tokens))
    }
}
