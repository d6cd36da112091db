import Foundation
import ScalewiseKernels
import XCTest

@testable import ScalewiseEngine

/// Parity with the PyTorch reference (tools/reference/{flexvar,flexvqvae}.py, checked against the official code) on
/// the random-weight fixtures written by tools/reference/make_flex_mvar_fixtures.py (Fixtures/flex_tiny).
/// Tolerances: logits 1e-4 relative (max-abs error over max-abs value), tokens identical, pixels ±1/255.
final class FlexVARParityTests: XCTestCase {
    static let dir = Parity.fixture("flex_tiny")
    static let labels = [3, 7]

    func loadGenerator() throws -> FlexVARGenerator {
        try XCTUnwrap(try ModelLoader.load(Self.dir + "/flexvar.safetensors") as? FlexVARGenerator)
    }

    func expected() throws -> WeightSource { try SafeTensorsFile(path: Self.dir + "/expected.safetensors") }

    /// A schedule of the fixture (metadata `schedules`: name → [[h, w], …]).
    func schedule(_ exp: WeightSource, _ name: String) throws -> [ScaleShape] {
        let all = try JSONDecoder().decode([String: [[Int]]].self, from: Data(try XCTUnwrap(exp.metadata["schedules"]).utf8))
        return try XCTUnwrap(all[name]).map { ScaleShape($0[0], $0[1]) }
    }

    /// The reference encoder's tokens of image `b` at one size.
    func groundTruth(_ exp: WeightSource, _ s: ScaleShape, row b: Int) throws -> [Int32] {
        Parity.row(try Parity.ints(exp, "enc.idx.\(s.h)x\(s.w)"), b, of: 2)
    }

    func testConfigFromMetadata() throws {
        let gen = try loadGenerator(), c = gen.model.config
        XCTAssertEqual(gen.family, "flexvar")
        XCTAssertEqual(c.pos_side, 32, "the reference writes pos_hw")
        XCTAssertEqual([c.depth, c.embed_dim, c.num_heads, c.vocab_size, c.Cvae, c.max_pn], [2, 64, 2, 32, 8, 16])
        XCTAssertEqual(gen.model.tokenizer.downsample, 2)
        XCTAssertEqual(gen.classNames.first, "c0")
    }

    /// An official checkpoint has no metadata: family and config come from the keys and shapes.
    func testConfigInferredFromShapes() throws {
        let gen = try loadGenerator()
        let w = WithoutMetadata(base: try SafeTensorsFile(path: Self.dir + "/flexvar.safetensors"))
        let tw = WithoutMetadata(base: try SafeTensorsFile(path: Self.dir + "/flexvqvae.safetensors"))
        XCTAssertEqual(ModelLoader.family(of: w), "flexvar")
        XCTAssertEqual(ModelLoader.family(of: tw), "flexvqvae")
        XCTAssertEqual(try FlexVAR.config(from: w), gen.model.config)
    }

    /// Conditional logits of every step of the 10-step schedule, teacher-forced with the encoder's tokens (label 3).
    func teacherForcedLogits(_ gen: FlexVARGenerator, _ exp: WeightSource) throws -> [Float] {
        let steps = try schedule(exp, "s10")
        let s = try FlexVARSession(model: gen.model, classIndex: Self.labels[0],
                                   options: SamplingOptions(cfg: 0, topK: 1, topP: 0), schedule: steps)
        s.keepLogits = true
        var got: [Float] = []
        for shape in steps {
            _ = try s.step(forcing: try groundTruth(exp, shape, row: 0))
            got += s.lastLogits
        }
        return got
    }

    func testTeacherForcedLogits() throws {
        let gen = try loadGenerator(), exp = try expected()
        let err = Parity.relErr(try teacherForcedLogits(gen, exp), try exp.floats("tf.logits"))
        print("parity: flexvar teacher-forced logits (s10, label 3): rel err \(err)")
        XCTAssertLessThan(err, 1e-4)
    }

    /// Greedy sampling through the KV cache: identical tokens at every step, guided logits, decoded pixels.
    func checkGreedy(_ name: String, mode: String) throws {
        let gen = try loadGenerator(), exp = try expected(), steps = try schedule(exp, name)
        let cfgs = try JSONDecoder().decode([String: Float].self, from: Data(try XCTUnwrap(exp.metadata["cfgs"]).utf8))
        let opts = SamplingOptions(cfg: try XCTUnwrap(cfgs[mode]), topK: 1, topP: 0, constantCFG: mode == "llamagen")
        let tag = "greedy.\(name).\(mode)", png = try exp.floats("\(tag).png")
        var worstLogits: Float = 0, worstPixels = 0
        for (b, label) in Self.labels.enumerated() {
            let s = try FlexVARSession(model: gen.model, classIndex: label, options: opts, schedule: steps)
            s.keepLogits = b == 0  // the fixture keeps the logits of row 0 only
            for si in steps.indices {
                let r = try s.step()
                let want = Parity.row(try Parity.ints(exp, "\(tag).idx.\(si)"), b, of: 2)
                XCTAssertEqual(r.tokens, want, "\(tag): tokens of step \(si) (\(steps[si])), label \(label)")
                if b == 0 { worstLogits = max(worstLogits, Parity.relErr(s.lastLogits, try exp.floats("\(tag).logits.\(si)"))) }
            }
            let img = s.preview(after: s.completed, tier: .decoded)
            XCTAssertEqual([img.height, img.width], [2 * steps.last!.h, 2 * steps.last!.w])
            worstPixels = max(worstPixels, Parity.maxLevelDiff(img.pixels, Parity.row(png, b, of: 2)))
        }
        print("parity: flexvar \(tag): guided logits rel err \(worstLogits), pixels ±\(worstPixels)")
        XCTAssertLessThan(worstLogits, 1e-4, tag)
        XCTAssertLessThanOrEqual(worstPixels, 1, tag)
    }

    func testGreedy10StepsRamp() throws { try checkGreedy("s10", mode: "ramp") }
    func testGreedy10StepsLlamaGen() throws { try checkGreedy("s10", mode: "llamagen") }
    func testGreedy13StepsRamp() throws { try checkGreedy("s13", mode: "ramp") }
    func testGreedy13StepsLlamaGen() throws { try checkGreedy("s13", mode: "llamagen") }
    func testGreedyNonSquareRamp() throws { try checkGreedy("rect", mode: "ramp") }
    func testGreedyNonSquareLlamaGen() throws { try checkGreedy("rect", mode: "llamagen") }

    /// The official rule: sides outside {1,2,3,4,5,6,8,10,13,16,23,24,32} (and beyond max_pn) are taken greedily
    /// even when sampling; the others are drawn.
    func testOfficialGreedySides() throws {
        let gen = try loadGenerator(), exp = try expected(), steps = try schedule(exp, "s13")
        let s = try FlexVARSession(model: gen.model, classIndex: 5, options: SamplingOptions(cfg: 2, topK: 0, topP: 0, seed: 3),
                                   schedule: steps)
        s.keepLogits = true
        var drawnOffArgmax = 0
        for shape in steps {
            let r = try s.step()
            let argmax = Parity.argmax(s.lastLogits, vocab: gen.model.config.vocab_size)
            let greedy = [7, 9, 12, 14].contains(shape.h)
            XCTAssertEqual(gen.model.isGreedy(shape), greedy, "\(shape)")
            if greedy {
                XCTAssertEqual(r.tokens, argmax, "step \(shape) must be greedy")
            } else {
                drawnOffArgmax += zip(r.tokens, argmax).filter { $0 != $1 }.count
            }
        }
        XCTAssertGreaterThan(drawnOffArgmax, 0, "the other steps must be sampled")
        XCTAssertTrue(gen.model.isGreedy(ScaleShape(11, 16)) && gen.model.isGreedy(ScaleShape(8, 12)))
        XCTAssertFalse(gen.model.isGreedy(ScaleShape(6, 8)))
        XCTAssertTrue(gen.model.isGreedy(ScaleShape(23, 23)), "beyond max_pn 16")
        // Guidance: the ramp over min(n − 1, 9) steps (above 1 after step 9), the full cfg beyond max_pn.
        let m = gen.model
        XCTAssertEqual(m.guidance(cfg: 3, step: 12, of: 13, shape: ScaleShape(16, 16), constant: false), 4)
        XCTAssertEqual(m.guidance(cfg: 3, step: 4, of: 13, shape: ScaleShape(23, 23), constant: false), 3)
        XCTAssertEqual(m.guidance(cfg: 3, step: 4, of: 13, shape: ScaleShape(5, 5), constant: true), 2)
    }

    /// Image → f → tokens at every size the fixture encodes (square and not).
    func testTokenizerEncode() throws {
        let gen = try loadGenerator(), exp = try expected(), vq = gen.model.tokenizer
        let img = try exp.floats("enc.img"), f = try exp.floats("enc.f")
        var worst: Float = 0, sizes = 0
        for b in 0..<2 {
            let got = try vq.encodeF(Tensor(shape: [3, 32, 32], data: Parity.row(img, b, of: 2)))
            worst = max(worst, Parity.relErr(got.array, Parity.row(f, b, of: 2)))
            for key in exp.keys where key.hasPrefix("enc.idx.") {
                let hw = key.dropFirst("enc.idx.".count).split(separator: "x").compactMap { Int($0) }
                XCTAssertEqual(vq.tokens(of: got, h: hw[0], w: hw[1]), Parity.row(try Parity.ints(exp, key), b, of: 2),
                               "\(key), image \(b)")
                sizes += 1
            }
        }
        print("parity: flexvqvae encoder f rel err \(worst), tokens at \(sizes / 2) sizes")
        XCTAssertLessThan(worst, 1e-4)
        XCTAssertGreaterThan(sizes, 20)
    }

    /// Any code map decodes on its own: 16×16, 11×16 and 3×5 maps of the encoder's tokens.
    func testTokenizerDecode() throws {
        let gen = try loadGenerator(), exp = try expected(), vq = gen.model.tokenizer
        var worst: Float = 0
        for key in exp.keys where key.hasPrefix("dec.") {
            let hw = key.dropFirst("dec.".count).split(separator: "x").compactMap { Int($0) }
            let want = try exp.floats(key)
            for b in 0..<2 {
                let ids = try groundTruth(exp, ScaleShape(hw[0], hw[1]), row: b)
                let img = vq.decode(codes: vq.embed(ids, h: hw[0], w: hw[1]))
                XCTAssertEqual(img.shape, [3, 2 * hw[0], 2 * hw[1]])
                worst = max(worst, Parity.maxAbsErr(img.array, Parity.row(want, b, of: 2)))
            }
        }
        print("parity: flexvqvae decoded pixels max abs err \(worst) (of range 2)")
        XCTAssertLessThan(worst, 1 / 255)
    }

    /// In-painting (paper §4.4): outside the mask, every step's tokens are the image's own (the reference
    /// encoder's) tokens at that size; inside, they are sampled.
    func testInpaintingKeepsGroundTruthOutsideMask() throws {
        let gen = try loadGenerator(), exp = try expected(), steps = try schedule(exp, "s10")
        let pixels = Parity.row(try exp.ints("enc.png"), 0, of: 2).map { UInt8($0) }
        let image = RGBImage(width: 32, height: 32, pixels: pixels)
        var mask = RGBImage(width: 32, height: 32)
        for y in 6..<22 { for x in 12..<30 { for c in 0..<3 { mask.pixels[(y * 32 + x) * 3 + c] = 255 } } }
        let (s, keep) = try FlexVAREditor(generator: gen).prepare(
            image: image, plan: .inpaint(mask: mask), classIndex: Self.labels[0],
            options: SamplingOptions(cfg: 2.5, topK: 8, topP: 0.9, seed: 7), schedule: steps)
        while s.completed < s.scales.count { _ = try s.step() }
        var kept = 0, sampled = 0, departed = 0
        for (si, shape) in steps.enumerated() {
            let gt = try groundTruth(exp, shape, row: 0), tokens = s.results[si].tokens
            XCTAssertEqual(keep[si].count, shape.count)
            for p in 0..<shape.count {
                if keep[si][p] {
                    XCTAssertEqual(tokens[p], gt[p], "step \(si) (\(shape)), token \(p) lies outside the mask")
                    kept += 1
                } else {
                    sampled += 1
                    if tokens[p] != gt[p] { departed += 1 }
                }
            }
        }
        print("in-painting: \(kept) tokens kept, \(sampled) sampled (\(departed) differ from the image)")
        XCTAssertTrue(keep.last!.contains(true) && keep.last!.contains(false))
        XCTAssertGreaterThan(departed, 0, "sampling inside the mask never departed from the image")
    }

    /// The comparisons bite: a perturbed generator weight breaks logit parity, a perturbed decoder weight pixels.
    func testPerturbedModelFailsParity() throws {
        let gen = try loadGenerator(), exp = try expected()
        let w = gen.model.trunk.blocks[0].fc1.weight.fp32!
        w.ptr[0] += 0.5
        defer { w.ptr[0] -= 0.5 }
        XCTAssertGreaterThan(Parity.relErr(try teacherForcedLogits(gen, exp), try exp.floats("tf.logits")), 1e-4)

        let vq = gen.model.tokenizer, conv = vq.decoder.convOut.weight!
        conv.ptr[0] += 0.1
        defer { conv.ptr[0] -= 0.1 }
        let img = vq.decode(codes: vq.embed(try groundTruth(exp, ScaleShape(16, 16), row: 0), h: 16, w: 16))
        XCTAssertGreaterThan(Parity.maxAbsErr(img.array, Parity.row(try exp.floats("dec.16x16"), 0, of: 2)), 1 / 255)
    }

    /// Stepping back and re-running gives the same tokens as an uninterrupted run.
    func testRewindAndReroll() throws {
        let gen = try loadGenerator(), steps = try schedule(try expected(), "rect")
        let opts = SamplingOptions(cfg: 2, topK: 10, topP: 0.9, seed: 42)
        let a = try FlexVARSession(model: gen.model, classIndex: 1, options: opts, schedule: steps)
        while a.completed < steps.count { _ = try a.step() }
        let b = try FlexVARSession(model: gen.model, classIndex: 1, options: opts, schedule: steps)
        for _ in 0..<6 { _ = try b.step() }
        b.rewind(to: 3)
        while b.completed < steps.count { _ = try b.step() }
        XCTAssertEqual(a.results.map(\.tokens), b.results.map(\.tokens))
        XCTAssertEqual(a.preview(after: steps.count, tier: .decoded), b.preview(after: steps.count, tier: .decoded))
        b.reroll(from: 4, seed: 9)
        while b.completed < steps.count { _ = try b.step() }
        XCTAssertEqual(a.results[..<4].map(\.tokens), b.results[..<4].map(\.tokens))
        XCTAssertNotEqual(a.results[4...].map(\.tokens), b.results[4...].map(\.tokens))
    }
}
