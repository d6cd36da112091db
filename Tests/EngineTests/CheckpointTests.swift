import Foundation
import ScalewiseKernels
import XCTest

@testable import ScalewiseEngine

/// The tensor names and shapes of a state dict, nothing else: what a config is read from.
struct ShapeTable: WeightSource {
    let path: String
    let shapes: [String: [Int]]
    var keys: [String] { shapes.keys.sorted() }
    var metadata: [String: String] { [:] }
    func has(_ key: String) -> Bool { shapes[key] != nil }
    func shape(_ key: String) throws -> [Int] {
        guard let s = shapes[key] else { throw WeightsError(.missingKey, file: path, key: key, "missing") }
        return s
    }
    func dtype(_ key: String) throws -> DType { .f32 }
    func floats(_ key: String) throws -> [Float] { throw WeightsError(.unsupported, file: path, key: key, "shapes only") }
    func ints(_ key: String) throws -> [Int] { throw WeightsError(.unsupported, file: path, key: key, "shapes only") }
}

/// Official checkpoints as users have them: no metadata, any width, found in the Hugging Face cache, paired with
/// their tokenizer by the release's file names. The weights are the parity fixtures' (tools/reference), stored
/// without their metadata in F16 under the official names, so the expected tokens and pixels are the references'.
final class CheckpointTests: XCTestCase {
    private var savedEnv: [String: String?] = [:]

    override func setUp() {
        for k in ["HF_HUB_CACHE", "HF_HOME", "SCALEWISE_MODELS", "XDG_DATA_HOME"] {
            savedEnv[k] = ProcessInfo.processInfo.environment[k]
        }
    }

    override func tearDown() {
        for (k, v) in savedEnv {
            if let v { setenv(k, v, 1) } else { unsetenv(k) }
        }
    }

    /// A fixture's tensors without its metadata (an official checkpoint's content), as F16.
    func officialCopy(_ fixture: String, to path: String, metadata: [String: String] = [:]) throws {
        let src = try SafeTensorsFile(path: Parity.fixture(fixture))
        var writer = SafeTensorsWriter(metadata: metadata)
        for key in src.keys {
            let dtype = try src.dtype(key), shape = try src.shape(key)
            if dtype.isFloatingPoint || dtype == .i8 {
                try writer.add(key, shape: shape, as: .f16) { try src.floats(key) }
            } else {
                let values = try src.ints(key)
                try writer.add(key, shape: shape, dtype: .i64) {
                    values.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
                }
            }
        }
        try writer.write(to: path)
    }

    /// A Hugging Face hub cache holding `files` (name → writer) in models--OWNER--NAME/snapshots/REV.
    func hubRepo(_ hub: String, _ repo: String, rev: String = "0123abcd") throws -> String {
        let base = hub + "/models--" + repo.replacingOccurrences(of: "/", with: "--")
        let snap = base + "/snapshots/" + rev
        try FileManager.default.createDirectory(atPath: snap, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/refs", withIntermediateDirectories: true)
        try Data(rev.utf8).write(to: URL(fileURLWithPath: base + "/refs/main"))
        return snap
    }

    func isolate(_ dir: TempDir) {
        setenv("HF_HUB_CACHE", dir.file("hub"), 1)
        setenv("XDG_DATA_HOME", dir.file("data"), 1)
        unsetenv("SCALEWISE_MODELS")
    }

    // MARK: configs from shapes

    func shapeCases() throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Parity.fixture("checkpoints/shapes.json")))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
    }

    func encoded<C: Encodable>(_ c: C) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as? [String: Any])
    }

    /// Every tokenizer and generator of the official architectures, built with other widths, level multipliers,
    /// φ sharing and attention placements: the config read back from the shapes is the constructor's.
    func testConfigsFromShapesOfOfficialArchitectures() throws {
        var checked = 0
        for (name, c) in try shapeCases().sorted(by: { $0.key < $1.key }) {
            let shapes = try XCTUnwrap(c["shapes"] as? [String: [Int]], name)
            let w = ShapeTable(path: name, shapes: shapes), expect = try XCTUnwrap(c["expect"] as? [String: Any])
            let got: [String: Any]
            switch c["kind"] as? String {
            case "vqvae": got = try encoded(try VQVAE.inferConfig(w, [:]))
            case "flexvqvae": got = try encoded(try FlexVQVAE.inferConfig(w, [:]))
            case "flexvar": got = try encoded(try FlexVAR.config(from: w))
            case "var" where name == "var_unreleased_schedule":
                XCTAssertThrowsError(try VAR.config(from: w)) { error in
                    let text = "\(error)"
                    XCTAssertTrue(text.contains("pos_1LC") && text.contains("--config") && text.contains("patch_nums"), text)
                }
                got = try encoded(try VAR.config(from: w, override: #"{"patch_nums": [1, 2, 4, 8, 16]}"#))
            default: got = try encoded(try VAR.config(from: w))
            }
            for (key, value) in expect {
                XCTAssertEqual("\(got[key] ?? "nil")", "\(value)", "\(name).\(key)")
            }
            checked += 1
        }
        XCTAssertEqual(checked, 11)
    }

    /// The φ a scale uses: K = 4 keeps the 1/(3K) margins, other K the 1/(2K) ones (`models/quant.py`).
    func testPhiTicksOfOtherSharing() {
        XCTAssertEqual((0..<10).map { VQVAE.phiIndex(forScale: $0, of: 10, k: 4) }, [0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
        XCTAssertEqual((0..<10).map { VQVAE.phiIndex(forScale: $0, of: 10, k: 3) }, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])  // numpy: si/9 = 1/3 ties, float64 decides
        XCTAssertEqual((0..<6).map { VQVAE.phiIndex(forScale: $0, of: 6, k: 6) }, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(VQVAE.phiIndex(forScale: 7, of: 10, k: 1), 0)
    }

    func testMissingJSONKeysTakeReferenceDefaults() throws {
        let c = try ConfigSource.decode(["depth": 2, "embed_dim": 64], over: VAR.Config(), file: "x", what: "--config")
        XCTAssertEqual([c.depth, c.embed_dim, c.num_heads, c.num_classes], [2, 64, 16, 1000])
        let t = try ConfigSource.decode(["ch": 32], over: VQVAE.Config(), file: "x", what: "metadata 'config'")
        XCTAssertEqual(t.ch, 32)
        XCTAssertEqual(t.ch_mult, [1, 1, 2, 2, 4])
        XCTAssertEqual(t.share_quant_resi, 4)
    }

    /// A `config` that is not JSON, or has a key of the wrong type, is an error naming it, not silently replaced.
    func testMalformedMetadataConfigIsAnError() throws {
        let dir = try TempDir()
        for (json, words) in [("{depth: 2", "metadata 'config' is not a JSON object"), (#"{"depth": "two"}"#, "key 'depth'")] {
            let p = dir.file("bad-\(words.count).safetensors")
            try officialCopy("var_tiny/var.safetensors", to: p, metadata: ["family": "var", "config": json])
            XCTAssertThrowsError(try ModelLoader.load(p, tokenizer: Parity.fixture("var_tiny/vqvae.safetensors"))) { error in
                XCTAssertTrue("\(error)".contains(words), "\(error)")
            }
        }
    }

    // MARK: official files in the Hugging Face cache

    /// VAR's files as `hf_hub_download` leaves them (var_d*.pth, vae_ch160v4096z32.pth) with a tokenizer of width 32:
    /// found, paired, configured from shapes, and sampled greedily to the reference's tokens and pixels.
    func testVARFromHuggingFaceCacheMatchesReference() throws {
        let dir = try TempDir()
        isolate(dir)
        let snap = try hubRepo(dir.file("hub"), "FoundationVision/var")
        try FileManager.default.copyItem(atPath: Parity.fixture("var_tiny/var.pth"), toPath: snap + "/var_d2.pth")
        try officialCopy("var_tiny/vqvae.safetensors", to: snap + "/vae_ch160v4096z32.pth")

        let entry = try XCTUnwrap(ModelLoader.catalog().first { $0.name == "var_d2" })
        XCTAssertEqual(entry.folder, "hf:FoundationVision/var")
        XCTAssertEqual(entry.family, "VAR")
        XCTAssertEqual(entry.tokenizer, "vae_ch160v4096z32.pth (next to it)")
        XCTAssertFalse(ModelLoader.catalog().contains { $0.name.hasPrefix("vae_") }, "tokenizers are not listed")

        let gen = try XCTUnwrap(try ModelLoader.load("var_d2") as? VARGenerator)
        let t = gen.model.tokenizer.config
        XCTAssertEqual([t.ch, t.num_res_blocks, t.z_channels, t.vocab_size, t.share_quant_resi], [32, 1, 8, 64, 4])
        XCTAssertEqual(t.ch_mult, [1, 2])
        let exp = try SafeTensorsFile(path: Parity.fixture("var_tiny/expected.safetensors"))
        for (cfg, tag) in [(Float(3), "cfg3"), (1, "cfg1")] {
            let png = try exp.floats("greedy.\(tag).png")
            for (b, label) in [3, 7].enumerated() {
                let s = try gen.makeSession(classIndex: label, options: SamplingOptions(cfg: cfg, topK: 1, topP: 0))
                for si in 0..<s.scales.count {
                    XCTAssertEqual(try s.step().tokens, Parity.row(try Parity.ints(exp, "greedy.\(tag).idx.\(si)"), b, of: 2),
                                   "\(tag) scale \(si) label \(label)")
                }
                let img = s.preview(after: s.completed, tier: .decoded)
                XCTAssertLessThanOrEqual(Parity.maxLevelDiff(img.pixels, Parity.row(png, b, of: 2)), 1, tag)
            }
        }
    }

    /// A file moved away from the tokenizer its metadata names finds it in the model folders, or says where it looked.
    func testMetadataTokenizerResolvedThroughModelFolders() throws {
        let dir = try TempDir()
        isolate(dir)
        try FileManager.default.createDirectory(atPath: dir.file("moved"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Parity.fixture("var_tiny/var.safetensors"), toPath: dir.file("moved/var.safetensors"))
        XCTAssertThrowsError(try ModelLoader.load(dir.file("moved/var.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("vqvae.safetensors is neither next to it nor in the search paths"), "\(error)")
        }
        try FileManager.default.createDirectory(atPath: dir.file("models"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Parity.fixture("var_tiny/vqvae.safetensors"), toPath: dir.file("models/vqvae.safetensors"))
        setenv("SCALEWISE_MODELS", dir.file("models"), 1)
        XCTAssertEqual(try ModelLoader.load(dir.file("moved/var.safetensors")).family, "var")
    }

    /// A `torch.save` file named `.bin` (as AiM's releases are) reads like a `.pth`; files are read by content.
    func testBinReadsLikePth() throws {
        let dir = try TempDir()
        try FileManager.default.copyItem(atPath: Parity.fixture("var_tiny/var.pth"), toPath: dir.file("model.bin"))
        let bin = try ModelLoader.openWeights(dir.file("model.bin"))
        XCTAssertTrue(bin is PthFile)
        XCTAssertEqual(bin.keys, try ModelLoader.openWeights(Parity.fixture("var_tiny/var.pth")).keys)
        setenv("SCALEWISE_MODELS", dir.path, 1)
        XCTAssertEqual(try ModelLoader.resolve("model"), dir.file("model.bin"))
        XCTAssertTrue(ModelLoader.availableModels().contains(dir.file("model.bin")))
    }

    /// FlexVAR's files (FlexVARd*.pth, FlexVAE.pth) with a 32-code tokenizer, the tokenizer in another model folder:
    /// found through the search path, and greedy under both guidance rules equals the reference sampler's.
    func testFlexVARPairsAcrossFoldersAndMatchesBothRules() throws {
        let dir = try TempDir()
        isolate(dir)
        let snap = try hubRepo(dir.file("hub"), "jiaosiyu1999/FlexVAR")
        try officialCopy("flex_tiny/flexvar.safetensors", to: snap + "/FlexVARd2.pth")
        try FileManager.default.createDirectory(atPath: dir.file("models"), withIntermediateDirectories: true)
        setenv("SCALEWISE_MODELS", dir.file("models"), 1)
        try officialCopy("flex_tiny/flexvqvae.safetensors", to: dir.file("models/FlexVAE.pth"))

        let entry = try XCTUnwrap(ModelLoader.catalog().first { $0.name == "FlexVARd2" })
        XCTAssertEqual(entry.tokenizer, "FlexVAE.pth ($SCALEWISE_MODELS)")
        let gen = try XCTUnwrap(try ModelLoader.load("FlexVARd2") as? FlexVARGenerator)
        XCTAssertEqual(gen.model.tokenizer.vocabSize, 32)
        XCTAssertEqual(gen.defaults.cfgMode, .constant, "FlexVAR's demo rule")
        let exp = try SafeTensorsFile(path: Parity.fixture("flex_tiny/expected.safetensors"))
        let cfgs = try JSONDecoder().decode([String: Float].self, from: Data(try XCTUnwrap(exp.metadata["cfgs"]).utf8))
        for (mode, rule) in [("ramp", CFGMode.ramp), ("llamagen", .constant)] {
            var o = SamplingOptions(cfg: try XCTUnwrap(cfgs[mode]), topK: 1, topP: 0)
            o.cfgMode = rule
            let png = try exp.floats("greedy.s10.\(mode).png")
            for (b, label) in [3, 7].enumerated() {
                let s = try gen.makeSession(classIndex: label, options: o, schedule: gen.defaultSchedule)
                for si in 0..<s.scales.count {
                    let r = try s.step()
                    XCTAssertEqual(r.tokens, Parity.row(try Parity.ints(exp, "greedy.s10.\(mode).idx.\(si)"), b, of: 2),
                                   "\(mode) step \(si)")
                    if rule == .constant { XCTAssertEqual(r.guidance, o.cfg, "the constant rule applies cfg at every step") }
                }
                let img = s.preview(after: s.completed, tier: .decoded)
                XCTAssertLessThanOrEqual(Parity.maxLevelDiff(img.pixels, Parity.row(png, b, of: 2)), 1, mode)
            }
        }
    }

    /// A generator and its tokenizer converted into one file load from anywhere and sample as the pair did.
    func testOneFileModel() throws {
        let dir = try TempDir()
        let inputs = [Parity.fixture("var_tiny/vqvae.safetensors"), Parity.fixture("var_tiny/var.safetensors")]
        let ordered = try ModelLoader.conversionOrder(inputs: inputs)
        XCTAssertEqual(ordered, inputs.reversed(), "the generator goes first")
        let plan = try ModelLoader.conversionPlan(inputs: ordered)
        let out = dir.file("one.safetensors")
        try convertToSafeTensors(inputs: ordered, output: out, metadata: plan.metadata, prefixes: plan.prefixes)
        let file = try SafeTensorsFile(path: out)
        XCTAssertEqual(file.metadata["family"], "var")
        XCTAssertNil(file.metadata["tokenizer"])
        XCTAssertTrue(file.has("tokenizer.quantize.embedding.weight"))
        let one = try XCTUnwrap(try ModelLoader.load(out) as? VARGenerator)
        let pair = try XCTUnwrap(try ModelLoader.load(inputs[1]) as? VARGenerator)
        XCTAssertEqual(one.model.tokenizer.config, pair.model.tokenizer.config)
        for gen in [one, pair] as [Generator] {
            let s = try gen.makeSession(classIndex: 3, options: SamplingOptions(cfg: 3, topK: 1, topP: 0))
            while s.completed < s.scales.count { _ = try s.step() }
            XCTAssertEqual(s.preview(after: s.completed, tier: .decoded).pixels.count, 32 * 32 * 3)
        }
        let a = try one.makeSession(classIndex: 3, options: SamplingOptions(cfg: 3, topK: 1, topP: 0))
        let b = try pair.makeSession(classIndex: 3, options: SamplingOptions(cfg: 3, topK: 1, topP: 0))
        while a.completed < a.scales.count { XCTAssertEqual(try a.step().tokens, try b.step().tokens) }
        XCTAssertEqual(a.preview(after: a.completed, tier: .decoded), b.preview(after: b.completed, tier: .decoded))
        let img = Tensor(shape: [3, 32, 32], data: (0..<3072).map { Float(sin(Double($0) * 0.37)) })
        XCTAssertEqual(try one.model.tokenizer.encode(img), try pair.model.tokenizer.encode(img), "the encoder reads the prefix too")
        XCTAssertThrowsError(try ModelLoader.conversionPlan(inputs: [inputs[0], inputs[1], inputs[1]])) { error in
            XCTAssertTrue("\(error)".contains("GENERATOR TOKENIZER"), "\(error)")
        }
    }

    /// AiM's official files hold their LlamaGen VQ under `vqvae.`: its config comes from those shapes.
    func testAiMBuiltInTokenizerFromShapes() throws {
        let dir = try TempDir()
        let ours = try XCTUnwrap(try ModelLoader.load(Parity.fixture("mamba_tiny/aim.safetensors")) as? AiMGenerator)
        try officialCopy("mamba_tiny/aim.safetensors", to: dir.file("aim_tiny.bin"))
        let official = try XCTUnwrap(try ModelLoader.load(dir.file("aim_tiny.bin")) as? AiMGenerator)
        XCTAssertEqual(official.model.tokenizer?.config, ours.model.tokenizer?.config)
        XCTAssertEqual(official.model.config.d_model, ours.model.config.d_model)
        XCTAssertEqual(official.model.config.sample_pos_shift, 1, "official checkpoints sample with shift 1")
    }

    // MARK: guidance rules

    /// VAR, MVAR and M-VAR honour the constant rule (u + cfg·(c − u), t = cfg − 1 at every scale) and the ramp;
    /// AiM has only the constant rule, which its sessions run and report.
    func testGuidanceRulesPerFamily() throws {
        for file in ["var_tiny/var.safetensors", "mvar_tiny/mvar.safetensors", "mamba_tiny/mambavar.safetensors"] {
            let gen = try ModelLoader.load(Parity.fixture(file))
            XCTAssertEqual(gen.defaults.cfgMode, .ramp, file)
            var tokens: [CFGMode: [[Int32]]] = [:]
            for mode in CFGMode.allCases {
                var o = SamplingOptions(cfg: 3, topK: 1, topP: 0)
                o.cfgMode = mode
                let s = try XCTUnwrap(try gen.makeSession(classIndex: 3, options: o) as? VARSession)
                var got: [[Int32]] = []
                while s.completed < s.scales.count {
                    let r = try s.step()
                    got.append(r.tokens)
                    let want: Float = mode == .constant ? 3 : 3 * Float(r.index) / Float(s.scales.count - 1)
                    XCTAssertEqual(r.guidance, want, accuracy: 1e-6, "\(file) \(mode) scale \(r.index)")
                    XCTAssertEqual(s.guidance(at: r.index), mode == .constant ? 2 : want, accuracy: 1e-6)
                }
                tokens[mode] = got
            }
            XCTAssertNotEqual(tokens[.ramp], tokens[.constant], "\(file): the rules sample differently")
        }
        let aim = try ModelLoader.load(Parity.fixture("mamba_tiny/aim.safetensors"))
        XCTAssertEqual(aim.family, "aim")
        XCTAssertEqual(ModelFamily.aim.cfgModes, [.constant])
        var o = aim.defaults
        XCTAssertEqual(o.cfgMode, .constant)
        o.cfgMode = .ramp
        XCTAssertEqual(try aim.makeSession(classIndex: 1, options: o).options.cfgMode, .constant, "its one rule, recorded as such")
    }

    /// The rule is recorded; records from before it are read with the rule their family ran then.
    func testRecordKeepsTheRule() throws {
        let gen = try ModelLoader.load(Parity.fixture("var_tiny/var.safetensors"))
        var o = SamplingOptions(cfg: 2, topK: 1, topP: 0)
        o.cfgMode = .constant
        let s = try gen.makeSession(classIndex: 1, options: o)
        let rec = GenerationRecord(generator: gen, session: s)
        let json = try rec.json
        XCTAssertTrue(json.contains(#""cfg_mode":"constant""#), json)
        XCTAssertTrue(rec.a1111.contains("CFG mode: constant"))
        XCTAssertEqual(try GenerationRecord.parse(rec.json).options.cfgMode, .constant)
        func legacy(_ family: String, constant: Bool?) throws -> CFGMode {
            var r = try GenerationRecord.parse(rec.json)
            r.cfgMode = nil
            r.family = family
            r.constantCFG = constant
            return try GenerationRecord.parse(r.json).options.cfgMode
        }
        XCTAssertEqual(try legacy("var", constant: true), .ramp, "VAR ran its ramp whatever the flag said")
        XCTAssertEqual(try legacy("flexvar", constant: true), .constant)
        XCTAssertEqual(try legacy("flexvar", constant: nil), .ramp)
        XCTAssertEqual(try legacy("aim", constant: nil), .constant)
    }
}
