import Foundation
import ScalewiseKernels
import XCTest

@testable import ScalewiseEngine

/// AiM against the reference on token ids and logits (the tokenizer is FlexVAR's, tested there): the chunked
/// full-sequence forward, the one-token steps of the session, both position conventions, greedy sampling under
/// constant CFG, adaLN and adaLN-group, the tied head stored under either name, and stepping back.
final class MambaAiMParityTests: XCTestCase {
    func load(_ file: String = "aim.safetensors") throws -> AiMGenerator {
        try XCTUnwrap(try ModelLoader.load(MambaFixture.dir + "/" + file) as? AiMGenerator)
    }

    func code(_ b: Int) throws -> [Int32] { try MambaFixture.halfInts(try MambaFixture.expected(), "aim.tf.code", b) }

    /// Session steps (one token at a time, one row per step) fed the reference tokens, unguided: the logits
    /// of every token.
    func stepLogits(_ model: AiM, label b: Int, posShift: Int) throws -> [Float] {
        let s = try AiMSession(model: model, classIndex: MambaFixture.labels[b], options: SamplingOptions(cfg: 1, topK: 1, topP: 0))
        s.keepLogits = true
        s.posShift = posShift
        let tokens = try code(b), side = model.config.side
        var got: [Float] = []
        for row in 0..<side {
            _ = try s.step(forcing: Array(tokens[(row * side)..<((row + 1) * side)]))
            got += s.lastLogits
        }
        return got
    }

    func testLoadsOfficialLayout() throws {
        for file in ["aim.safetensors", "aim_group.safetensors"] {
            let gen = try load(file), w = try MambaFixture.weights(file)
            XCTAssertEqual(ModelLoader.family(of: w), "aim")
            XCTAssertEqual(gen.model.config.posShift, 0, "ours sample as trained")
            XCTAssertEqual(gen.schedules[0], [ScaleShape](repeating: ScaleShape(1, 16), count: 16))
            let c = gen.model.layers[0].mixer.config
            XCTAssertEqual([c.d_inner, c.nheads, c.headdim, c.d_state], [128, 4, 32, 32])
            let vq = try XCTUnwrap(gen.model.tokenizer, "the tokenizer under `vqvae.`")
            XCTAssertEqual(vq.vocabSize, 64)
        }
        // Each file stores the tied head under one name only.
        XCTAssertFalse(try MambaFixture.weights("aim.safetensors").has("mamba.lm_head.weight"))
        XCTAssertFalse(try MambaFixture.weights("aim_group.safetensors").has(AiM.tiedNames[0]))
        // Without metadata (an official file) the config comes from the shapes, sampling with shift 1.
        let inferred = try AiM.config(from: WithoutMetadata(base: try MambaFixture.weights("aim_group.safetensors")))
        var want = try load("aim_group.safetensors").model.config
        want.norm_epsilon = nil
        want.sample_pos_shift = 1
        XCTAssertEqual(inferred, want)
    }

    func testTeacherForcedChunkedForward() throws {
        let exp = try MambaFixture.expected()
        for (file, name, shifts) in [("aim.safetensors", "aim", [0, 1]), ("aim_group.safetensors", "aim_group", [0])] {
            let model = try load(file).model
            for shift in shifts {
                for b in 0..<2 {
                    let got = model.teacherForcedLogits(tokens: try code(b), label: MambaFixture.labels[b], posShift: shift)
                    let err = relativeError(got, try MambaFixture.half(exp, "\(name).tf.logits.shift\(shift)", b))
                    print("parity: \(name) chunked forward, shift \(shift), label \(MambaFixture.labels[b]): rel err \(err)")
                    XCTAssertLessThan(err, 1e-4)
                }
            }
        }
    }

    /// One-token steps == full-sequence forward == reference, for both position conventions.
    func testStepsMatchFullForward() throws {
        let model = try load().model, exp = try MambaFixture.expected()
        for shift in [0, 1] {
            for b in 0..<2 {
                let steps = try stepLogits(model, label: b, posShift: shift)
                let full = model.teacherForcedLogits(tokens: try code(b), label: MambaFixture.labels[b], posShift: shift)
                let eRef = relativeError(steps, try MambaFixture.half(exp, "aim.tf.logits.shift\(shift)", b))
                print("parity: aim token steps, shift \(shift): vs reference \(eRef), vs chunked \(relativeError(steps, full))")
                XCTAssertLessThan(eRef, 1e-4)
                XCTAssertLessThan(relativeError(steps, full), 1e-5)
            }
        }
    }

    /// Greedy (top-k 1) under constant CFG u + 3(c − u): identical tokens; guided logits 1e-4.
    func testGreedyCFG() throws {
        let exp = try MambaFixture.expected()
        for (file, name) in [("aim.safetensors", "aim"), ("aim_group.safetensors", "aim_group")] {
            let model = try load(file).model
            for (b, label) in MambaFixture.labels.enumerated() {
                let s = try AiMSession(model: model, classIndex: label, options: SamplingOptions(cfg: 3, topK: 1, topP: 0))
                s.keepLogits = true
                var logits: [Float] = []
                while s.completed < s.scales.count {
                    _ = try s.step()
                    logits += s.lastLogits
                }
                XCTAssertEqual(s.tokens, try MambaFixture.halfInts(exp, "\(name).greedy.idx", b), "\(name) label \(label)")
                if name == "aim" {
                    let err = relativeError(logits, try MambaFixture.half(exp, "aim.greedy.logits", b))
                    print("parity: aim greedy cfg 3, label \(label): logits rel err \(err)")
                    XCTAssertLessThan(err, 1e-4)
                }
            }
        }
    }

    /// The comparison bites: a perturbed mixer weight breaks logit parity.
    func testPerturbedModelFailsParity() throws {
        let model = try load().model, w = model.layers[1].mixer.inProj.weight.fp32!
        w.ptr[5] += 0.5
        defer { w.ptr[5] -= 0.5 }
        let err = relativeError(try stepLogits(model, label: 0, posShift: 0),
                                try MambaFixture.half(try MambaFixture.expected(), "aim.tf.logits.shift0", 0))
        XCTAssertGreaterThan(err, 1e-3)
    }

    /// Step back (states rebuilt by a chunked prefill over the kept tokens) and re-run: identical to an
    /// uninterrupted run; re-roll keeps the earlier rows.
    func testRewindAndReroll() throws {
        let gen = try load()
        try checkRewindAndReroll({
            try gen.makeSession(classIndex: 5, options: SamplingOptions(cfg: 2, topK: 20, topP: 0.9, seed: 42))
        }, ahead: 9, back: 5, reroll: 6)
        let s = try gen.makeSession(classIndex: 5, options: gen.defaults)
        for _ in 0..<8 { _ = try s.step() }
        let img = s.preview(after: 8, tier: .decoded)
        XCTAssertEqual([img.width, img.height], [16, 16])
    }
}
