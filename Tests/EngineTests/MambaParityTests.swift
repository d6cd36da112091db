import Foundation
import ScalewiseKernels
import XCTest

@testable import ScalewiseEngine

/// The Mamba-family fixtures written by tools/reference/make_mamba_fixtures.py (float64 reference outputs of
/// tools/reference/{mamba2,mambavar,aim}.py on random F16-representable weights).
enum MambaFixture {
    static let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("mamba_tiny").path
    static let labels = [3, 7]

    static func expected() throws -> WeightSource { try SafeTensorsFile(path: dir + "/expected.safetensors") }
    static func weights(_ file: String) throws -> WeightSource { try SafeTensorsFile(path: dir + "/" + file) }

    /// Row `b` of a tensor stored [2, …].
    static func half(_ w: WeightSource, _ key: String, _ b: Int) throws -> [Float] {
        let v = try w.floats(key), n = v.count / 2
        return Array(v[(b * n)..<((b + 1) * n)])
    }

    static func halfInts(_ w: WeightSource, _ key: String, _ b: Int) throws -> [Int32] {
        let v = try w.ints(key), n = v.count / 2
        return v[(b * n)..<((b + 1) * n)].map { Int32($0) }
    }
}

/// The Mamba-2 layer alone: reference output, and the two scan forms against each other with the state
/// carried across VAR's scale segments.
final class Mamba2LayerTests: XCTestCase {
    static let segments = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16].map { $0 * $0 }

    func layer() throws -> Mamba2 { try Mamba2(try MambaFixture.weights("mambavar.safetensors"), "blocks.0.mamba", dModel: 64) }

    /// Runs `u` [rows, L, 64] through the layer in segments, carrying one state; returns output and state.
    func run(_ m: Mamba2, _ u: [Float], rows: Int, segments: [Int], scan: Mamba2.Scan,
             resetBetween: Bool = false) -> (y: [Float], state: Mamba2State) {
        let L = segments.reduce(0, +), D = m.config.d_model, work = Mamba2Workspace()
        var state = Mamba2State(m.config, rows: rows)
        var y = [Float](repeating: 0, count: rows * L * D)
        var t0 = 0
        for l in segments {
            if resetBetween { state = Mamba2State(m.config, rows: rows) }
            var seg = [Float](), out = [Float](repeating: 0, count: rows * l * D)
            for r in 0..<rows { seg += u[((r * L + t0) * D)..<((r * L + t0 + l) * D)] }
            m(seg, rows: rows, tokens: l, state: state, scan: scan, work: work, into: &out)
            for r in 0..<rows {
                for i in 0..<(l * D) { y[(r * L + t0) * D + i] = out[r * l * D + i] }
            }
            t0 += l
        }
        return (y, state)
    }

    func testMatchesReference() throws {
        let m = try layer(), exp = try MambaFixture.expected()
        let u = try exp.floats("mamba.u"), want = try exp.floats("mamba.y"), L = u.count / 2 / 64
        for scan in [Mamba2.Scan.chunked(64), .chunked(7), .recurrent] {
            let err = relativeError(run(m, u, rows: 2, segments: [L], scan: scan).y, want)
            print("parity: Mamba2 layer vs reference (\(scan)): rel err \(err)")
            XCTAssertLessThan(err, 1e-5, "\(scan)")
        }
    }

    /// Token by token == chunked over the whole sequence == chunked per scale with the carried state.
    func testStepEqualsChunkedEqualsCarriedState() throws {
        let m = try layer(), L = Self.segments.reduce(0, +)
        var rng = Rng(seed: 1)
        let u = (0..<(2 * L * 64)).map { _ in Float(rng.uniform() * 4 - 2) }
        let step = run(m, u, rows: 2, segments: [Int](repeating: 1, count: L), scan: .recurrent)
        let forms: [(String, (y: [Float], state: Mamba2State))] = [
            ("recurrent, one call", run(m, u, rows: 2, segments: [L], scan: .recurrent)),
            ("chunked 64, one call", run(m, u, rows: 2, segments: [L], scan: .chunked(64))),
            ("chunked 256, per scale", run(m, u, rows: 2, segments: Self.segments, scan: .chunked(256))),
            ("chunked 5, per scale", run(m, u, rows: 2, segments: Self.segments, scan: .chunked(5))),
        ]
        for (name, r) in forms {
            let ey = relativeError(r.y, step.y), es = relativeError(r.state.ssm.array, step.state.ssm.array)
            let ec = relativeError(r.state.conv.array, step.state.conv.array)  // in_proj by GEMM vs GEMV: rounding
            print("parity: Mamba2 \(name) vs token steps: output \(ey), SSM state \(es), conv window \(ec)")
            XCTAssertLessThan(ey, 1e-5, name)
            XCTAssertLessThan(es, 1e-5, name)
            XCTAssertLessThan(ec, 1e-6, name)
        }
        // The carried state matters: restarting each scale from zero is far off.
        let reset = run(m, u, rows: 2, segments: Self.segments, scan: .chunked(64), resetBetween: true)
        XCTAssertGreaterThan(relativeError(reset.y, step.y), 1e-2)
    }
}

/// M-VAR against the reference: teacher-forced logits, greedy sampling with the carried per-scale Mamba state,
/// decoded pixels, and stepping back.
final class MambaVARParityTests: XCTestCase {
    func load() throws -> VARGenerator {
        try XCTUnwrap(try ModelLoader.load(MambaFixture.dir + "/mambavar.safetensors") as? VARGenerator)
    }

    func teacherForced(_ model: VAR, label b: Int) throws -> [Float] {
        let exp = try MambaFixture.expected()
        let s = try VARSession(model: model, classIndex: MambaFixture.labels[b], options: SamplingOptions(cfg: 0, topK: 1, topP: 0))
        s.keepLogits = true
        var got: [Float] = []
        for si in 0..<model.scales.count {
            _ = try s.step(forcing: try MambaFixture.halfInts(exp, "tf.idx.\(si)", b))
            got += s.lastLogits
        }
        return got
    }

    func testLoadsAsMambaVAR() throws {
        let gen = try load()
        XCTAssertEqual(gen.family, "mambavar")
        XCTAssertTrue(gen.model.isMambaVAR)
        let c = try XCTUnwrap(gen.model.trunk.blocks[0].mamba?.config)
        XCTAssertEqual([c.d_inner, c.nheads, c.headdim, c.d_state, c.d_conv], [128, 4, 32, 32, 4])
        XCTAssertEqual(ModelLoader.family(of: try MambaFixture.weights("mambavar.safetensors")), "mambavar")
        // Per scale: every block's conv window [3, 128+64] and SSM state [4, 32, 32], fp32, ×2 blocks ×2 rows.
        XCTAssertEqual(gen.model.recurrentStateBytes(rows: 2), 2 * 2 * 4 * (3 * 192 + 4 * 32 * 32))
    }

    func testTeacherForcedLogits() throws {
        let gen = try load(), want = try MambaFixture.expected()
        for b in 0..<2 {
            let err = relativeError(try teacherForced(gen.model, label: b), try MambaFixture.half(want, "tf.logits", b))
            print("parity: M-VAR teacher-forced logits, label \(MambaFixture.labels[b]): rel err \(err)")
            XCTAssertLessThan(err, 1e-4)
        }
    }

    /// Greedy with the cfg ramp: identical tokens at every scale, guided logits 1e-4, pixels ±1/255.
    func checkGreedy(cfg: Float, tag: String, logits: Bool) throws {
        let gen = try load(), exp = try MambaFixture.expected()
        for (b, label) in MambaFixture.labels.enumerated() {
            let s = try VARSession(model: gen.model, classIndex: label, options: SamplingOptions(cfg: cfg, topK: 1, topP: 0))
            s.keepLogits = true
            var worst: Float = 0
            for si in 0..<gen.model.scales.count {
                let r = try s.step()
                XCTAssertEqual(r.tokens, try MambaFixture.halfInts(exp, "greedy.\(tag).idx.\(si)", b), "scale \(si)")
                if logits {
                    worst = max(worst, relativeError(s.lastLogits, try MambaFixture.half(exp, "greedy.\(tag).logits.\(si)", b)))
                }
            }
            let img = s.preview(after: s.completed, tier: .decoded)
            let ref = try MambaFixture.half(exp, "greedy.\(tag).png", b)
            let px = zip(img.pixels, ref).map { abs(Int($0) - Int($1)) }.max()!
            print("parity: M-VAR greedy \(tag), label \(label): tokens identical, "
                  + (logits ? "logits rel err \(worst), " : "") + "pixels max |diff| \(px)")
            XCTAssertLessThan(worst, 1e-4)
            XCTAssertLessThanOrEqual(px, 1)
        }
    }

    func testGreedyCFG3() throws { try checkGreedy(cfg: 3, tag: "cfg3", logits: true) }
    func testGreedyCFG1() throws { try checkGreedy(cfg: 1, tag: "cfg1", logits: false) }

    /// The comparison bites: one Mamba parameter changed breaks logit parity.
    func testPerturbedMambaFailsParity() throws {
        let gen = try load(), mamba = try XCTUnwrap(gen.model.trunk.blocks[0].mamba)
        mamba.dtBias.ptr[0] += 0.5
        defer { mamba.dtBias.ptr[0] -= 0.5 }
        let err = relativeError(try teacherForced(gen.model, label: 0), try MambaFixture.half(try MambaFixture.expected(), "tf.logits", 0))
        XCTAssertGreaterThan(err, 1e-3)
    }

    /// Step back and re-run: identical to an uninterrupted run (the per-scale state snapshots); re-roll keeps
    /// the earlier scales.
    func testRewindAndReroll() throws {
        let gen = try load()
        try checkRewindAndReroll({
            try VARSession(model: gen.model, classIndex: 5, options: SamplingOptions(cfg: 2, topK: 20, topP: 0.9, seed: 42))
        }, ahead: 7, back: 3, reroll: 4)
    }
}
