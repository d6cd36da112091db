import Foundation
import XCTest

@testable import ScalewiseEngine

/// An official-style FlexVAR tokenizer checkpoint, written here without Python: `torch.save` of a dict whose
/// `model` entry is the fp16 state dict (beside an epoch and optimizer state), 4096 codes and channel
/// multipliers other than LlamaGen's defaults. Its config must be inferred from the shapes alone.
final class FlexTokenizerPthTests: XCTestCase {
    static let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("weights/glyphs-flexvqvae.safetensors").path
    static let codes = 4096

    /// A pickle (protocol 2) of `{"epoch": 7, "optimizer": {}, "model": {key: fp16 tensor, …}}`, each tensor over
    /// its own HalfStorage, as `torch.save` lays them out.
    struct HalfCheckpoint {
        var pickle: [UInt8] = [0x80, 2]
        var storages: [(name: String, data: [UInt8])] = []

        mutating func str(_ s: String) { let u = Array(s.utf8); pickle += [0x58] + le(u.count, 4) + u }
        mutating func int(_ v: Int) { pickle += [0x4A] + le(v, 4) }
        mutating func global(_ module: String, _ name: String) { pickle += [0x63] + Array("\(module)\n\(name)\n".utf8) }

        /// `_rebuild_tensor_v2((storage, HalfStorage, key, cpu, numel) persistent id, 0, shape, strides)`.
        mutating func tensor(_ shape: [Int], values: [Float]) {
            let key = String(storages.count)
            storages.append(("archive/data/\(key)", values.flatMap { le(Int(Float16($0).bitPattern), 2) }))
            global("torch._utils", "_rebuild_tensor_v2")
            pickle.append(0x28)  // MARK of the argument tuple
            pickle.append(0x28); str("storage"); global("torch", "HalfStorage"); str(key); str("cpu"); int(values.count)
            pickle += [0x74, 0x51]  // TUPLE, BINPERSID
            int(0)
            pickle.append(0x28); for d in shape { int(d) }; pickle.append(0x74)
            var strides: [Int] = [], step = 1
            for d in shape.reversed() { strides.insert(step, at: 0); step *= d }
            pickle.append(0x28); for s in strides { int(s) }; pickle.append(0x74)
            pickle += [0x89, 0x7D, 0x74, 0x52]  // requires_grad False, empty hooks dict, TUPLE, REDUCE
        }

        static func write(_ tensors: [(String, [Int], [Float])]) -> [UInt8] {
            var b = HalfCheckpoint()
            b.pickle += [0x7D, 0x28]  // outer dict, MARK
            b.str("epoch"); b.int(7)
            b.str("optimizer"); b.pickle.append(0x7D)
            b.str("model"); b.pickle += [0x7D, 0x28]
            for (k, shape, values) in tensors { b.str(k); b.tensor(shape, values: values) }
            b.pickle += [0x75, 0x75, 0x2E]  // SETITEMS (model), SETITEMS (outer), STOP
            return makeZip([("archive/data.pkl", b.pickle)] + b.storages, zip64: false)
        }
    }

    /// The shipped tokenizer's tensors, its codebook grown to 4096 rows (the first 512 its own): an official
    /// layout with ch 32, ch_mult [1, 2, 2], one residual block, 16-dimensional codes.
    func checkpoint() throws -> (path: String, dir: TempDir) {
        let src = try SafeTensorsFile(path: Self.shipped)
        var tensors: [(String, [Int], [Float])] = []
        for k in src.keys {
            var shape = try src.shape(k), values = try src.floats(k)
            if k == "quantize.embedding.weight" {
                let D = shape[1]
                values += (0..<((Self.codes - shape[0]) * D)).map { Float(($0 * 37) % 101) / 100 - 0.5 }
                shape[0] = Self.codes
            }
            tensors.append((k, shape, values))
        }
        let dir = try TempDir()
        return (try dir.write("FlexVAE.pth", HalfCheckpoint.write(tensors)), dir)
    }

    func testFP16NestedCheckpointConfigIsInferred() throws {
        let (path, dir) = try checkpoint()
        defer { withExtendedLifetime(dir) {} }
        let w = try ModelLoader.openWeights(path)
        XCTAssertEqual((w as? PthFile)?.statePath, ["model"])
        XCTAssertEqual(try w.dtype("quantize.embedding.weight"), .f16)
        XCTAssertEqual(ModelLoader.family(of: w), "flexvqvae")
        let c = try flexVQConfig(w, override: nil)
        XCTAssertEqual(c.codebook_size, 4096)
        XCTAssertEqual(c.codebook_embed_dim, 16)
        XCTAssertEqual(c.z_channels, 64)
        XCTAssertEqual(c.ch, 32)
        XCTAssertEqual(c.ch_mult, [1, 2, 2])
        XCTAssertNotEqual(c.ch_mult, FlexVQVAE.Config().ch_mult)
        XCTAssertEqual(c.num_res_blocks, 1)
        XCTAssertNil(c.encoder_ch_mult)
        XCTAssertNil(c.decoder_ch_mult)

        // It loads, and decodes codes the shipped tokenizer also has as that tokenizer does (fp16 rounding aside).
        let tok = try FlexVQVAE(w, config: c)
        let ref = try FlexVQVAE(try SafeTensorsFile(path: Self.shipped), config: try flexVQConfig(try SafeTensorsFile(path: Self.shipped), override: nil))
        let tokens: [Int32] = (0..<16).map { Int32(($0 * 29) % 512) }
        let a = tok.decode(codes: tok.embed(tokens, h: 4, w: 4)), b = ref.decode(codes: ref.embed(tokens, h: 4, w: 4))
        XCTAssertEqual(a.shape, b.shape)
        XCTAssertLessThan(Parity.maxAbsErr(Array(UnsafeBufferPointer(start: a.ptr, count: a.count)),
                                           Array(UnsafeBufferPointer(start: b.ptr, count: b.count))), 0.05)
        // Codes beyond the shipped 512 are this checkpoint's own.
        XCTAssertEqual(tok.vocabSize, 4096)
        _ = tok.decode(codes: tok.embed([4095, 4000, 512, 3000], h: 2, w: 2))
    }
}
