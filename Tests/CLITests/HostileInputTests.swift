import Foundation
import ScalewiseEngine
import XCTest

/// Hostile files, records and flags: each ends in a one-line error with an exit status below 128, within
/// seconds, and nothing is written. Every file is crafted here from the shipped weights.
final class HostileInputTests: XCTestCase {
    var tmp: String!

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "scalewise-hostile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    func path(_ name: String) -> String { tmp + "/" + name }

    /// `generate` with a crafted generator and the shipped tokenizer it pairs with.
    func generate(_ model: String, tokenizer: String, _ extra: [String] = []) throws -> TimedRun {
        try TimedRun.run(["generate", "-m", model, "--tokenizer", tokenizer, "--class", "0", "-q", "--threads", "2",
                          "-o", path("out.png")] + extra)
    }

    func assertNoOutput(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.png")), "an image was written", file: file, line: line)
    }

    /// A shipped generator whose `config` metadata has fields replaced (JSON text values).
    func generatorWith(_ name: String, config raw: [String: String], as file: String) throws -> String {
        let out = path(file)
        try Craft.safetensors(from: Craft.shipped(name), to: out) { $0["config"] = Craft.config($0["config"]!, raw) }
        return out
    }

    // MARK: pickles

    func testDeeplyNestedPickleIsRefused() throws {
        var b = PthBuilder()
        b.op(0x29)  // EMPTY_TUPLE, then TUPLE1 100,000 times: 100 KB that nests 100,000 deep
        b.pickle += [UInt8](repeating: 0x85, count: 100_000)
        b.op(0x2E)
        let file = path("deep.pth")
        try Data(PthBuilder.zip([("archive/data.pkl", b.pickle)])).write(to: URL(fileURLWithPath: file))
        for args in [["info", file], ["convert", file, "-o", path("c.safetensors")],
                     ["generate", "-m", file, "--tokenizer", Craft.shipped("glyphs-vqvae"), "--class", "0", "-o", path("out.png")]] {
            try TimedRun.run(args).assertCleanError(args[0], contains: "nested deeper")
        }
    }

    func testPickleListsChainedBeforeFillingAreRefused() throws {
        // Empty lists are nested while empty and filled afterwards: the depth must still be caught.
        var b = PthBuilder()
        let n = 50_000
        for i in 0..<n { b.op(0x5D); b.op(0x72); b.le32(i); b.op(0x30) }  // EMPTY_LIST, LONG_BINPUT i, POP
        for i in 0..<(n - 1) { b.op(0x6A); b.le32(i); b.op(0x6A); b.le32(i + 1); b.op(0x61); b.op(0x30) }  // l[i].append(l[i+1])
        b.op(0x6A); b.le32(0); b.op(0x2E)
        let file = path("chain.pth")
        try Data(PthBuilder.zip([("archive/data.pkl", b.pickle)])).write(to: URL(fileURLWithPath: file))
        try TimedRun.run(["info", file]).assertCleanError("info")
    }

    func testPickleContainerHoldingItselfIsRefused() throws {
        // l = []; l.append(l): a cycle that reference counting would never free.
        var b = PthBuilder()
        b.pickle += [0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E]  // EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP
        let file = path("cycle.pth")
        try Data(PthBuilder.zip([("archive/data.pkl", b.pickle)])).write(to: URL(fileURLWithPath: file))
        try TimedRun.run(["info", file]).assertCleanError("info", contains: "cannot contain itself")
    }

    func testPickleOfTooManyValuesIsRefused() throws {
        var b = PthBuilder()
        b.op(0x4E)  // NONE, then 2.1 million DUPs: 2 MB that would hold 100 MB of values
        b.pickle += [UInt8](repeating: 0x32, count: 2_100_000)
        b.op(0x2E)
        let file = path("many.pth")
        try Data(PthBuilder.zip([("archive/data.pkl", b.pickle)])).write(to: URL(fileURLWithPath: file))
        try TimedRun.run(["info", file]).assertCleanError("info", contains: "more than 2000000 values")
    }

    // MARK: sampling values, whatever their source

    func testSamplingFlagsOutOfRangeAreUsageErrors() throws {
        let flex = Craft.shipped("glyphs-flexvar"), img = path("in.png")
        try PNG.write(RGBImage(width: 32, height: 32), to: img)
        let cases: [[String]] = [
            ["generate", "--class", "0", "--cfg", "1e19"], ["generate", "--class", "0", "--temperature", "1e30"],
            ["generate", "--class", "0", "--cfg=-3"], ["generate", "--class", "0", "--top-k=-5"],
            ["generate", "--class", "0", "--top-p", "7"], ["generate", "--class", "0", "--temperature", "0"],
            ["edit", "-m", flex, "--class", "0", "--image", img, "--refine", "4", "--cfg", "inf"],
            ["edit", "-m", flex, "--class", "0", "--image", img, "--refine", "4", "--cfg", "nan"],
            ["edit", "-m", flex, "--class", "0", "--image", img, "--refine", "4", "--top-p", "1e30"],
            ["edit", "-m", flex, "--class", "0", "--image", img, "--refine", "4", "--top-k=-5"],
            ["edit", "-m", flex, "--class", "0", "--image", img, "--refine", "4", "--seed=-2"],
            ["bench", "--cfg=-3"], ["bench", "--cfg", "1e30"],
            ["tui", "--cfg", "1e30"], ["tui", "--top-p", "7"],
        ]
        for args in cases {
            let r = try TimedRun.run(args + ["-o", path("out.png")].filter { _ in args[0] != "bench" && args[0] != "tui" })
            r.assertCleanError(args.joined(separator: " "), within: 10)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
        }
        assertNoOutput()
    }

    func testModelDefaultsAreCheckedLikeFlags() throws {
        let tok = Craft.shipped("glyphs-vqvae")
        for (i, d) in [#"{"cfg": 1e30}"#, #"{"cfg": -3}"#, #"{"top_k": -5}"#, #"{"top_p": 7}"#, #"{"temperature": 0}"#,
                       #"{"top_k": "many"}"#, #"{"cfg": 3, "cfg2": 1}"#].enumerated() {
            let model = path("defaults\(i).safetensors")
            try Craft.safetensors(from: Craft.shipped("glyphs-var"), to: model) { $0["defaults"] = d }
            try generate(model, tokenizer: tok).assertCleanError(d)
            assertNoOutput()
        }
        let model = path("defaults-cfg.safetensors")
        try Craft.safetensors(from: Craft.shipped("glyphs-var"), to: model) { $0["defaults"] = #"{"cfg": -3}"# }
        let r = try generate(model, tokenizer: tok)
        XCTAssertTrue(r.stderr.contains("metadata 'defaults' field 'cfg' must be a finite number in 0…100, got -3 from the defaults of defaults-cfg.safetensors"), r.stderr)
        // The same rule and words as the flag, which the flag's message names instead of the file's key.
        let flag = try TimedRun.run(["generate", "--class", "0", "--cfg=-3"])
        XCTAssertTrue(flag.stderr.contains("cfg must be a finite number in 0…100, got -3 from --cfg"), flag.stderr)
    }

    /// The guidance rule is checked by the same rule whether it comes from a model's defaults or a PNG's record.
    func testGuidanceRuleFromFilesIsChecked() throws {
        let model = path("mode.safetensors")
        try Craft.safetensors(from: Craft.shipped("glyphs-var"), to: model) { $0["defaults"] = #"{"cfg_mode": "sideways"}"# }
        try generate(model, tokenizer: Craft.shipped("glyphs-vqvae"))
            .assertCleanError("defaults cfg_mode", contains: "metadata 'defaults' field 'cfg_mode' must be ramp or constant, got 'sideways' from the defaults of mode.safetensors")
        let source = path("src.png"), png = path("mode.png")
        XCTAssertEqual(try TimedRun.run(["generate", "-m", "glyphs-var", "--class", "0", "-q", "-o", source]).status, 0)
        try Craft.png(from: source, to: png) { $0.replacingOccurrences(of: "\"cfg_mode\":\"ramp\"", with: "\"cfg_mode\":\"sideways\"") }
        try TimedRun.run(["generate", "--from-png", png, "-q", "-o", path("out.png")])
            .assertCleanError("record cfg_mode", contains: "record field 'cfg_mode' must be ramp or constant, got 'sideways' from the record in mode.png")
        assertNoOutput()
    }

    /// `--config` goes through the same checks as a file's metadata, and a config file that is a FIFO is refused.
    func testConfigFlagIsValidated() throws {
        let tok = Craft.shipped("glyphs-vqvae")
        try generate(Craft.shipped("glyphs-var"), tokenizer: tok, ["--config", #"{"num_heads": 0}"#])
            .assertCleanError("--config num_heads 0", contains: "num_heads")
        try generate(Craft.shipped("glyphs-var"), tokenizer: tok, ["--tokenizer-config", #"{"ch_mult": []}"#])
            .assertCleanError("--tokenizer-config ch_mult []", contains: "config")
        let fifo = path("config.json")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try generate(Craft.shipped("glyphs-var"), tokenizer: tok, ["--config", fifo])
            .assertCleanError("--config FIFO", within: 10, contains: "--config")
        assertNoOutput()
    }

    /// A PNG's record: the same rules as flags, and schedules bounded before anything is sized by them.
    func testPNGRecordsAreChecked() throws {
        let source = path("src.png")
        XCTAssertEqual(try TimedRun.run(["generate", "-m", "glyphs-flexvar", "--class", "0", "-q", "-o", source]).status, 0)
        let cases: [(String, (String) -> String)] = [
            ("cfg 1e30", { $0.replacingOccurrences(of: "\"cfg\":3", with: "\"cfg\":1e30") }),
            ("cfg -3", { $0.replacingOccurrences(of: "\"cfg\":3", with: "\"cfg\":-3") }),
            ("top-k -5", { $0.replacingOccurrences(of: "\"top_k\":50", with: "\"top_k\":-5") }),
            ("top-p 7", { $0.replacingOccurrences(of: "\"top_p\":0.95", with: "\"top_p\":7") }),
            ("temperature 0", { $0.replacingOccurrences(of: "\"top_p\"", with: "\"temperature\":0,\"top_p\"") }),
            ("2^32 schedule", { Self.schedule($0, "[{\"h\":1,\"w\":1},{\"h\":4294967296,\"w\":4294967296}]") }),
            ("3000 schedule", { Self.schedule($0, "[{\"h\":1,\"w\":1},{\"h\":3000,\"w\":3000}]") }),
            ("64 schedule", { Self.schedule($0, "[{\"h\":1,\"w\":1},{\"h\":64,\"w\":64}]") }),
        ]
        for (i, (what, edit)) in cases.enumerated() {
            let png = path("rec\(i).png")
            try Craft.png(from: source, to: png) { json in
                let out = edit(json)
                XCTAssertNotEqual(out, json, "\(what): the record was not changed")
                return out
            }
            let r = try TimedRun.run(["generate", "--from-png", png, "-q", "-o", path("out.png")])
            r.assertCleanError(what)
            assertNoOutput()
        }
    }

    static func schedule(_ json: String, _ value: String) -> String {
        guard let r = json.range(of: "\"schedule\":[") else { return json }
        let end = json[r.upperBound...].firstIndex(of: "]")!
        return json.replacingCharacters(in: r.lowerBound...end, with: "\"schedule\":" + value)
    }

    // MARK: configs

    func testGeneratorConfigsAreValidated() throws {
        let tok = Craft.shipped("glyphs-vqvae")
        let cases: [[String: String]] = [
            ["num_heads": "0"], ["mlp_ratio": "1e300"], ["depth": "-1"], ["depth": "2147483648"], ["depth": "0"], ["depth": "1"],
            ["patch_nums": "[1, 2, 3037000500]"], ["num_classes": "9223372036854775807"], ["embed_dim": "0"],
            ["norm_eps": "-1"], ["patch_nums": "[]"], ["vocab_size": "-1"],
        ]
        for (i, c) in cases.enumerated() {
            try generate(try generatorWith("glyphs-var", config: c, as: "g\(i).safetensors"), tokenizer: tok)
                .assertCleanError("\(c)", contains: "config")
            assertNoOutput()
        }
        let mvar = try generatorWith("glyphs-mvar", config: ["kernel_size": "-1"], as: "mvar.safetensors")
        try generate(mvar, tokenizer: tok).assertCleanError("kernel_size -1", contains: "kernel_size")
        let flex = try generatorWith("glyphs-flexvar", config: ["depth": "1"], as: "flex.safetensors")
        try generate(flex, tokenizer: Craft.shipped("glyphs-flexvqvae")).assertCleanError("flexvar depth 1")
        let aim = try generatorWith("glyphs-aim", config: ["num_tokens": "-4"], as: "aim.safetensors")
        try generate(aim, tokenizer: Craft.shipped("glyphs-flexvqvae")).assertCleanError("aim num_tokens -4")
    }

    func testTokenizerConfigsAreValidated() throws {
        let cases: [[String: String]] = [
            ["share_quant_resi": "0"], ["share_quant_resi": "-1"], ["share_quant_resi": "2147483648"],
            ["v_patch_nums": "[]"], ["ch_mult": "[]"], ["ch": "4611686018427387904"], ["num_res_blocks": "-1"],
        ]
        for (i, c) in cases.enumerated() {
            let tok = path("t\(i).safetensors")
            try Craft.safetensors(from: Craft.shipped("glyphs-vqvae"), to: tok) { $0["config"] = Craft.config($0["config"]!, c) }
            try generate(Craft.shipped("glyphs-var"), tokenizer: tok).assertCleanError("\(c)", contains: "config")
            assertNoOutput()
        }
        let flexTok = path("ft.safetensors")
        try Craft.safetensors(from: Craft.shipped("glyphs-flexvqvae"), to: flexTok) { $0["config"] = Craft.config($0["config"]!, ["ch_mult": "[]"]) }
        try generate(Craft.shipped("glyphs-flexvar"), tokenizer: flexTok).assertCleanError("flex ch_mult []", contains: "config")
    }

    /// Config inference from an official-style `.pth` reads dims only where the rank allows.
    func testShapeInferenceChecksRanks() throws {
        let C = 8, tok = Craft.shipped("glyphs64-vqvae")
        func checkpoint(_ overrides: [String: [Int]]) -> [(String, [Int])] {
            var t: [(String, [Int])] = [
                ("class_emb.weight", [63, C]), ("pos_start", [1, 1, C]), ("word_embed.weight", [C, 16]), ("word_embed.bias", [C]),
                ("blocks.0.ada_lin.1.weight", [6 * C, C]), ("blocks.0.ada_lin.1.bias", [6 * C]),
                ("blocks.0.attn.scale_mul_1H11", [1, 2, 1, 1]), ("blocks.0.ffn.fc1.weight", [4 * C, C]),
                ("head.weight", [512, C]), ("pos_1LC", [1, 680, C]),
            ]
            for (k, v) in overrides { t[t.firstIndex { $0.0 == k }!].1 = v }
            return t
        }
        for (what, o) in [("0-dim pos_start", ["pos_start": []]), ("1-D pos_1LC", ["pos_1LC": [680 * C]]),
                          ("scale_mul of shape [1, 0, 1, 1]", ["blocks.0.attn.scale_mul_1H11": [1, 0, 1, 1]])] {
            let file = path("shape.pth")
            try Data(PthBuilder.stateDict(checkpoint(o))).write(to: URL(fileURLWithPath: file))
            try generate(file, tokenizer: tok).assertCleanError(what)
            try TimedRun.run(["convert", file, "-o", path("c.safetensors")]).assertCleanError(what)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("c.safetensors")))
            assertNoOutput()
        }
    }

    // MARK: files

    func testFIFOsAsInputsDoNotBlock() throws {
        let fifo = path("fifo.safetensors")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try generate(Craft.shipped("glyphs-var"), tokenizer: fifo).assertCleanError("FIFO tokenizer", within: 10, contains: "FIFO")
        try TimedRun.run(["info", fifo]).assertCleanError("info FIFO", within: 10, contains: "FIFO")
        // A record naming a FIFO as its model.
        let source = path("src.png"), png = path("rec.png")
        XCTAssertEqual(try TimedRun.run(["generate", "-m", "glyphs-var", "--class", "0", "-q", "-o", source]).status, 0)
        try Craft.png(from: source, to: png) { $0.replacingOccurrences(of: "\"model\":\"glyphs-var\"", with: "\"model\":\"\(fifo)\"") }
        try TimedRun.run(["generate", "--from-png", png, "-q", "-o", path("out.png")]).assertCleanError("FIFO model", within: 10, contains: "FIFO")
        // An input image that is a FIFO.
        let fifoPNG = path("fifo.png")
        XCTAssertEqual(mkfifo(fifoPNG, 0o600), 0)
        try TimedRun.run(["edit", "-m", "glyphs-flexvar", "--class", "0", "--image", fifoPNG, "--refine", "4", "-o", path("out.png")])
            .assertCleanError("FIFO image", within: 10, contains: "FIFO")
        assertNoOutput()
    }

    func testThreadsAreCappedToTheCores() throws {
        let fx = CLITests.fixtures
        let r = try TimedRun.run(["bench", "-m", fx + "/var.safetensors", "--tokenizer", fx + "/vqvae.safetensors", "--threads", "1000", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data((r.stdout.split(separator: "\n").last ?? "").utf8)) as? [String: Any]
        let threads = try XCTUnwrap(json?["threads"] as? Int, r.stdout)
        XCTAssertEqual(threads, min(1000, ProcessInfo.processInfo.activeProcessorCount), "--threads 1000 was not capped to the cores")
        XCTAssertLessThan(r.seconds, 15, "--threads 1000 took \(r.seconds) s")
    }

    /// A 16384² PNG of zeros is about 200 KB; it is refused from its header instead of decoded.
    func testHugeInputImagesAreRefusedFromTheHeader() throws {
        let png = path("huge.png")
        try Data(Self.blankPNG(side: 16384)).write(to: URL(fileURLWithPath: png))
        let r = try TimedRun.run(["edit", "-m", "glyphs-flexvar", "--class", "0", "--image", png, "--refine", "4", "-o", path("out.png")])
        r.assertCleanError("16384² image", within: 5, contains: "pixels")
        assertNoOutput()
    }

    /// A 1-bit grey PNG of side × side black pixels.
    static func blankPNG(side: Int) -> [UInt8] {
        let idat = PNGBytes.zlibZeros(count: (side / 8 + 1) * side)  // per row: filter byte 0, then side/8 bytes of 0
        var ihdr: [UInt8] = []
        for v in [side, side] { ihdr += [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        ihdr += [1, 0, 0, 0, 0]  // depth 1, grey, deflate, filter 0, no interlace
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + PNGBytes.chunk("IHDR", ihdr) + PNGBytes.chunk("IDAT", idat)
            + PNGBytes.chunk("IEND", [])
    }

    func testOutputsThatAreNotRegularFilesAreRefusedEvenWithForce() throws {
        let fifo = path("out-fifo.png")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        var targets = [(fifo, "FIFO")]
        let target = path("target.png"), link = path("link.png")
        try Data("mine".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        targets.append((link, "symlink"))
        if getuid() == 0 {
            let node = path("null-node")
            XCTAssertEqual(mknod(node, S_IFCHR | 0o666, dev_t(1 << 8 | 3)), 0)
            targets.append((node, "character device"))
        }
        for (t, kind) in targets {
            for cmd in [["generate", "-m", "glyphs-var", "--class", "0", "-q", "--force", "-o", t],
                        ["generate", "-m", "glyphs-var", "--class", "0", "-q", "--force", "-o", path("ok.png"), "--tokens-out", t],
                        ["convert", Craft.shipped("glyphs-vqvae"), "--force", "-o", t]] {
                try TimedRun.run(cmd).assertCleanError("\(cmd[0]) to a \(kind)", contains: kind)
            }
            var st = stat()
            XCTAssertEqual(lstat(t, &st), 0)
            let expected: mode_t = kind == "FIFO" ? S_IFIFO : kind == "symlink" ? S_IFLNK : S_IFCHR
            XCTAssertEqual(st.st_mode & S_IFMT, expected, "\(kind) was replaced")
        }
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "mine", "the symlink's target was written")
    }

    func testInfoEscapesControlCharacters() throws {
        let model = path("esc.safetensors")
        try Craft.safetensors(from: Craft.shipped("glyphs-var"), to: model) {
            $0["note"] = "\u{1B}]0;owned\u{07}\u{1B}[2J\u{9B}31m"
            $0["\u{1B}[31mkey"] = "x"
        }
        let r = try TimedRun.run(["info", model])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("note: \\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{9b}31m"), r.stdout)
        XCTAssertFalse(r.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B }, "raw control bytes printed")
    }
}

/// PNG chunk assembly for crafted inputs (CRC-32 and zlib from the CPNG module's zlib).
enum PNGBytes {
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let n = data.count, t = Array(type.utf8)
        let crc = crc32(t + data)
        return [UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + t + data
            + [UInt8(crc >> 24 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    /// A zlib stream of `count` zero bytes (count ≥ 1): one fixed-Huffman deflate block (RFC 1951 §3.2.6)
    /// of a literal 0 and then copies of 258 bytes at distance 1.
    static func zlibZeros(count: Int) -> [UInt8] {
        var bits = BitWriter()
        bits.write(1, 1)  // BFINAL
        bits.write(1, 2)  // fixed Huffman
        func literal0() { bits.writeReversed(0b00110000, 8) }  // literal 0: codes 0–143 are 00110000 + value
        literal0()
        var left = count - 1
        while left > 0 {
            if left >= 258 + 3 || left == 258 {
                bits.writeReversed(0b11000101, 8)  // length code 285 (258): codes 280–287 are 11000000 + (code − 280)
                bits.writeReversed(0, 5)  // distance code 0 = distance 1
                left -= 258
            } else {
                literal0(); left -= 1
            }
        }
        bits.writeReversed(0, 7)  // end of block (256): 0000000
        var out: [UInt8] = [0x78, 0x01] + bits.bytes
        let adler = UInt32(count % 65521) << 16 | 1  // Adler-32 of zeros: a stays 1, b counts the bytes
        out += [UInt8(adler >> 24), UInt8(adler >> 16 & 0xFF), UInt8(adler >> 8 & 0xFF), UInt8(adler & 0xFF)]
        return out
    }

    struct BitWriter {
        var bytes: [UInt8] = []
        var bit = 0
        /// `count` bits of `value`, least significant first (deflate's extra bits and header fields).
        mutating func write(_ value: UInt32, _ count: Int) {
            for i in 0..<count { put(value >> UInt32(i) & 1) }
        }
        /// A Huffman code, most significant bit first.
        mutating func writeReversed(_ code: UInt32, _ count: Int) {
            for i in (0..<count).reversed() { put(code >> UInt32(i) & 1) }
        }
        private mutating func put(_ b: UInt32) {
            if bit == 0 { bytes.append(0) }
            bytes[bytes.count - 1] |= UInt8(b) << UInt8(bit)
            bit = (bit + 1) % 8
        }
    }
}
