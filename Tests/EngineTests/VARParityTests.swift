import Foundation
import ScalewiseKernels
import XCTest

@testable import ScalewiseEngine

/// Parity with the PyTorch reference (tools/reference/var.py, checked against the official code) on the
/// random-weight fixtures written by tools/reference/make_fixtures.py.
/// Tolerances: logits 1e-4 relative (max-abs error over max-abs value), tokens identical, pixels ±1/255.
final class VARParityTests: XCTestCase {
    static let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("var_tiny").path
    static let labels = [3, 7]

    func loadGenerator(_ file: String = "var.safetensors") throws -> VARGenerator {
        try XCTUnwrap(try ModelLoader.load(Self.dir + "/" + file) as? VARGenerator)
    }

    func expected() throws -> WeightSource { try SafeTensorsFile(path: Self.dir + "/expected.safetensors") }

    func ints(_ w: WeightSource, _ key: String) throws -> [Int32] { try w.ints(key).map { Int32($0) } }

    /// Teacher forcing: feed the reference's token pyramid, compare the conditional logits of every scale.
    func checkTeacherForced(model file: String, logitsKey: String) throws {
        let gen = try loadGenerator(file), exp = try expected()
        let want = try exp.floats(logitsKey)  // [2, 680, V]
        let V = gen.model.config.vocab_size, L = gen.model.beginEnds.last!
        for (b, label) in Self.labels.enumerated() {
            let s = try VARSession(model: gen.model, classIndex: label, options: SamplingOptions(cfg: 0, topK: 1, topP: 0))
            s.keepLogits = true
            var got: [Float] = []
            for si in 0..<gen.model.scales.count {
                let ids = try ints(exp, "tf.idx.\(si)")
                let l = ids.count / 2
                _ = try s.step(forcing: Array(ids[(b * l)..<((b + 1) * l)]))
                got += s.lastLogits
            }
            let ref = Array(want[(b * L * V)..<((b + 1) * L * V)])
            let err = relativeError(got, ref)
            print("parity: \(file) teacher-forced logits, label \(label): rel err \(err)")
            XCTAssertLessThan(err, 1e-4, "\(file) label \(label)")
        }
    }

    func testTeacherForcedLogits() throws { try checkTeacherForced(model: "var.safetensors", logitsKey: "tf.logits") }

    func testTeacherForcedLogitsLegacyAttention() throws {
        try checkTeacherForced(model: "var_legacy.safetensors", logitsKey: "tf_legacy.logits")
    }

    /// Greedy sampling through the KV cache with the cfg ramp: identical tokens at every scale, logits and pixels.
    func checkGreedy(cfg: Float, tag: String) throws {
        let gen = try loadGenerator(), exp = try expected()
        let png = try exp.floats("greedy.\(tag).png")  // [2, H, W, 3] bytes
        for (b, label) in Self.labels.enumerated() {
            let s = try VARSession(model: gen.model, classIndex: label, options: SamplingOptions(cfg: cfg, topK: 1, topP: 0))
            s.keepLogits = true
            for si in 0..<gen.model.scales.count {
                let r = try s.step()
                let ids = try ints(exp, "greedy.\(tag).idx.\(si)"), l = ids.count / 2
                XCTAssertEqual(r.tokens, Array(ids[(b * l)..<((b + 1) * l)]), "tokens, scale \(si), label \(label)")
                let lg = try exp.floats("greedy.\(tag).logits.\(si)"), n = lg.count / 2
                XCTAssertLessThan(relativeError(s.lastLogits, Array(lg[(b * n)..<((b + 1) * n)])), 1e-4, "logits scale \(si)")
            }
            let img = s.preview(after: s.completed, tier: .decoded)
            let ref = png[(b * img.pixels.count)..<((b + 1) * img.pixels.count)]
            let worst = zip(img.pixels, ref).map { abs(Int($0) - Int($1)) }.max()!
            XCTAssertLessThanOrEqual(worst, 1, "pixels, label \(label)")
        }
    }

    func testGreedyCFG3() throws { try checkGreedy(cfg: 3, tag: "cfg3") }
    func testGreedyCFG1() throws { try checkGreedy(cfg: 1, tag: "cfg1") }

    /// f̂ after each scale and the decoded image from the teacher-forced pyramid.
    func testTokenizerDecode() throws {
        let gen = try loadGenerator(), exp = try expected(), vq = gen.model.tokenizer
        let side = vq.latentSide, C = vq.Cvae
        for b in 0..<2 {
            let fHat = Tensor(shape: [C, side, side])
            for (si, pn) in vq.config.v_patch_nums.enumerated() {
                let ids = try ints(exp, "tf.idx.\(si)"), l = ids.count / 2
                vq.accumulate(fHat: fHat, code: vq.embed(Array(ids[(b * l)..<((b + 1) * l)]), h: pn, w: pn), scale: si)
                let want = try exp.floats("tf.fhat.\(si)"), n = want.count / 2
                XCTAssertLessThan(relativeError(fHat.array, Array(want[(b * n)..<((b + 1) * n)])), 1e-5, "f̂ scale \(si)")
            }
            let img = vq.decode(fHat: fHat).array
            let want = try exp.floats("tf.img"), n = want.count / 2
            let err = zip(img, want[(b * n)..<((b + 1) * n)]).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(err, 1 / 255, "decoded pixels")
        }
    }

    /// Image → f → residual multi-scale tokens equals the reference encoder.
    func testTokenizerEncode() throws {
        let gen = try loadGenerator(), exp = try expected(), vq = gen.model.tokenizer
        let img = try exp.floats("enc.img"), n = img.count / 2
        let f = try exp.floats("enc.f"), nf = f.count / 2
        for b in 0..<2 {
            let side = Int((Double(n / 3)).squareRoot())
            let x = Tensor(shape: [3, side, side], data: Array(img[(b * n)..<((b + 1) * n)]))
            XCTAssertLessThan(relativeError(try vq.encodeF(x).array, Array(f[(b * nf)..<((b + 1) * nf)])), 1e-4)
            let tokens = try vq.encode(x)
            for si in 0..<tokens.count {
                let ids = try ints(exp, "tf.idx.\(si)"), l = ids.count / 2
                XCTAssertEqual(tokens[si], Array(ids[(b * l)..<((b + 1) * l)]), "encoded tokens, scale \(si)")
            }
        }
    }

    /// The comparison bites: a perturbed weight must break logit parity.
    func testPerturbedModelFailsParity() throws {
        let gen = try loadGenerator(), exp = try expected()
        gen.model.trunk.blocks[0].fc1.weight.fp32!.ptr[0] += 0.5
        defer { gen.model.trunk.blocks[0].fc1.weight.fp32!.ptr[0] -= 0.5 }
        let s = try VARSession(model: gen.model, classIndex: 3, options: SamplingOptions(cfg: 0, topK: 1, topP: 0))
        s.keepLogits = true
        var got: [Float] = []
        for si in 0..<gen.model.scales.count {
            let ids = try ints(exp, "tf.idx.\(si)")
            _ = try s.step(forcing: Array(ids[0..<(ids.count / 2)]))
            got += s.lastLogits
        }
        let want = try exp.floats("tf.logits")
        XCTAssertGreaterThan(relativeError(got, Array(want[0..<got.count])), 1e-4)
    }

    /// Step back and re-run: identical to an uninterrupted run; re-roll keeps earlier scales.
    func testRewindAndReroll() throws {
        let gen = try loadGenerator()
        try checkRewindAndReroll({
            try VARSession(model: gen.model, classIndex: 5, options: SamplingOptions(cfg: 2, topK: 20, topP: 0.9, seed: 42))
        }, ahead: 6, back: 3, reroll: 4)
    }

    /// The official .pth (a real torch.save) loads to the same tensors as the safetensors copy.
    func testPthMatchesSafetensors() throws {
        let pth = try PthFile(path: Self.dir + "/var.pth"), st = try SafeTensorsFile(path: Self.dir + "/var.safetensors")
        for key in st.keys { XCTAssertEqual(try pth.floats(key), try st.floats(key), key) }
        XCTAssertEqual(ModelLoader.family(of: pth), "var")
        XCTAssertEqual(try VAR.config(from: pth), try VAR.config(from: st))
    }
}
