import Foundation
import XCTest
@testable import ScalewiseEngine

final class WeightsTestsPth: XCTestCase {
    /// Every tensor of fixture.pth against the formulas in make_fixture.py.
    static func checkStateDict(_ p: PthFile, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(p.statePath, ["trainer", "var_wo_ddp"], file: file, line: line)
        let extra = ["half", "bf16", "lvl_1L", "int32", "noncontig", "slice", "param", "q", "mask", "bytes", "scalar", "empty"]
        XCTAssertEqual(p.keys, (0..<300).map { "blocks.\($0).w" } + extra, file: file, line: line)
        for i in 0..<300 {
            XCTAssertEqual(try p.floats("blocks.\(i).w", shape: [3]), [Float(i), Float(i) + 0.25, Float(i) + 0.5], file: file, line: line)
        }
        XCTAssertEqual(try p.dtype("half"), .f16, file: file, line: line)
        XCTAssertEqual(try p.floats("half"), [1.5, -2, 0.0999755859375, 65504], file: file, line: line)
        XCTAssertEqual(try p.floats("bf16"), [1, -3.5, 0x1p100, 0.10009765625], file: file, line: line)
        XCTAssertEqual(try p.dtype("lvl_1L"), .i64, file: file, line: line)
        XCTAssertEqual(try p.ints("lvl_1L"), [0, 1, 1 << 40, -7], file: file, line: line)
        XCTAssertEqual(try p.ints("int32"), [Int(Int32.min), Int(Int32.max)], file: file, line: line)
        XCTAssertEqual(try p.floats("noncontig", shape: [4, 3]), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11], file: file, line: line)
        XCTAssertEqual(try p.floats("slice", shape: [4]), [5, 6, 7, 8], file: file, line: line)
        XCTAssertEqual(try p.floats("param", shape: [2, 2]), [1, 2, 3, 4], file: file, line: line)
        XCTAssertEqual(try p.floats("q", shape: [2, 3]), [0.5, -1, 1.5, 31.75, -32, 0], file: file, line: line)
        XCTAssertEqual(try p.ints("mask"), [1, 0, 1], file: file, line: line)
        XCTAssertEqual(try p.dtype("mask"), .bool, file: file, line: line)
        XCTAssertEqual(try p.ints("bytes"), [0, 255, 7], file: file, line: line)
        XCTAssertEqual(try p.floats("scalar", shape: []), [2.5], file: file, line: line)
        XCTAssertEqual(try p.floats("empty", shape: [0, 3]), [], file: file, line: line)
    }

    func testRealTorchSaveFixtureValuesExactly() throws {
        let path = try fixturePath("pth/fixture.pth")
        let p = try PthFile(path: path)
        try Self.checkStateDict(p)
        XCTAssertTrue(p.has("q.qscale"))
        XCTAssertEqual(p.metadata, [:])
        // The fixture really exercises the LONG memo opcodes (0x72 LONG_BINPUT, 0x6A LONG_BINGET).
        let zip = try ZipArchive(file: MappedFile(path: path))
        let pkl = try zip.storedRange(of: XCTUnwrap(zip.entry(named: "fixture/data.pkl")))
        let data = try XCTUnwrap(zip.file.bytes(pkl.offset, pkl.length))
        XCTAssertTrue(data.contains(0x72) && data.contains(0x6A))
        XCTAssertThrowsError(try p.floats("half", shape: [2, 2])) { error in
            XCTAssertEqual("\(error)", "\(path): tensor 'half': shape [4], expected [2, 2]")
        }
    }

    func testPreferChoosesTheWrappedStateDict() throws {
        let path = try fixturePath("pth/fixture.pth")
        let vae = try PthFile(path: path, prefer: [["model"], ["trainer", "var_wo_ddp"]])
        XCTAssertEqual(vae.statePath, ["model"])
        XCTAssertEqual(vae.keys, ["weight", "bias", "shared"])
        XCTAssertEqual(try vae.floats("weight", shape: [3, 2]), [1, -1, 0.5, 2, 0, 3])
        XCTAssertEqual(try vae.floats("bias", shape: [3]), [0.125, -0.25, 4])
        XCTAssertEqual(try vae.floats("shared"), [0, 0.25, 0.5])
        XCTAssertThrowsError(try PthFile(path: path, prefer: [["mvar_wo_ddp"], []])) { error in
            XCTAssertEqual((error as? WeightsError)?.kind, .noStateDict)
            XCTAssertEqual("\(error)", "\(path): no dict of tensors at mvar_wo_ddp, (top level); top-level keys: trainer, model, args, epoch, lr, big")
        }
    }

    private func fixtureEntries() throws -> [(name: String, data: [UInt8])] {
        let zip = try ZipArchive(file: MappedFile(path: try fixturePath("pth/fixture.pth")))
        return try zip.entries.map { e in
            let r = try zip.storedRange(of: e)
            return (e.name, [UInt8](zip.file.bytes(r.offset, r.length)!))
        }
    }

    /// Official checkpoints over 4 GB are ZIP64; the same entries repacked with every size and offset in
    /// ZIP64 form (the 32-bit fields hold 0xFFFFFFFF) must give identical tensors.
    func testZip64ArchiveReadsTheSame() throws {
        let dir = try TempDir()
        let path = try dir.write("big.pth", makeZip(try fixtureEntries(), zip64: true))
        try Self.checkStateDict(try PthFile(path: path))
        let script = """
        import sys, zipfile
        z = zipfile.ZipFile(sys.argv[1])
        print(len(z.namelist()), z.testzip() is None or 'crc-ignored')
        """
        if let (status, output) = python(script, args: [path]) {  // cross-check that the test's writer makes real ZIP64
            XCTAssertEqual(status, 0, output)
            XCTAssertTrue(output.hasPrefix("321 "), output)
        }
    }

    func testCompressedAndLegacyFilesAreRejectedClearly() throws {
        let dir = try TempDir()
        let deflated = try dir.write("deflated.pth", makeZip(try fixtureEntries(), zip64: false, method: 8))
        XCTAssertThrowsError(try PthFile(path: deflated)) { error in
            XCTAssertEqual((error as? WeightsError)?.kind, .unsupported)
            XCTAssertEqual("\(error)", "\(deflated): zip entry 'fixture/data.pkl' is compressed (method 8); PyTorch checkpoints store entries uncompressed, so re-save with torch.save")
        }
        let legacy = try dir.write("legacy.pth", [0x80, 0x02, 0x8A, 0x0A] + [UInt8](repeating: 0, count: 20))
        XCTAssertThrowsError(try openWeights(legacy)) { error in
            XCTAssertEqual("\(error)", "\(legacy): legacy (pre-1.6, non-zip) torch.save format; re-save it with a newer PyTorch")
        }
        let noPickle = try dir.write("nopkl.pth", makeZip([("x/data/0", [1, 2, 3, 4])], zip64: false))
        XCTAssertThrowsError(try PthFile(path: noPickle)) { error in
            XCTAssertEqual("\(error)", "\(noPickle): no data.pkl entry: not a torch.save checkpoint")
        }
    }

    /// Protocol-4 opcodes (FRAME, SHORT_BINUNICODE, BINUNICODE8, STACK_GLOBAL, MEMOIZE, LONG1, BINFLOAT…)
    /// written by hand, plus an `os.system` call that must never run.
    func testProtocol4PickleAndInertGlobals() throws {
        let dir = try TempDir()
        let marker = dir.file("marker")
        func s(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }       // SHORT_BINUNICODE
        let memoize: [UInt8] = [0x94], mark: [UInt8] = [0x28], tuple: [UInt8] = [0x74], setitem: [UInt8] = [0x73]
        var p: [UInt8] = [0x80, 4, 0x95] + le(0, 8) + [0x7D] + memoize                               // {} → memo 0
        p += s("w") + memoize + s("torch._utils") + memoize + s("_rebuild_tensor_v2") + memoize + [0x93] + memoize  // memo 1…4
        p += mark + mark + s("storage") + s("torch") + s("FloatStorage") + [0x93]
        p += [0x8D] + le(1, 8) + Array("0".utf8) + s("cpu") + [0x4D] + le(6, 2) + tuple + [0x51]    // BINUNICODE8, BININT2, BINPERSID
        p += [0x4A] + le(0, 4) + [0x4B, 2, 0x4B, 3, 0x86, 0x4B, 3, 0x4B, 1, 0x86, 0x89, 0x7D] + tuple + [0x52] + memoize + setitem  // memo 5
        p += s("alias") + [0x6A] + le(5, 4) + setitem                                                  // LONG_BINGET of the tensor
        p += s("evil") + [0x63] + Array("os\nsystem\n".utf8) + s("touch \(marker)") + [0x85, 0x52] + setitem
        p += s("misc") + [0x5D] + mark + [0x8A, 9] + [UInt8](repeating: 0xFF, count: 8) + [0x7F]    // LONG1: 2^71 - 1
        p += [0x4E, 0x47] + (0..<8).map { UInt8(truncatingIfNeeded: Double(0.5).bitPattern >> (56 - 8 * UInt64($0))) }
        p += [0x32, 0x30, 0x65] + setitem + [0x2E]                                                    // DUP, POP, APPENDS, STOP
        let zip = makeZip([("archive/data.pkl", p), ("archive/data/0", bytesOf([0, 1, 2, 3, 4, 5]))], zip64: false)
        let f = try PthFile(path: try dir.write("p4.pth", zip))
        XCTAssertEqual(f.statePath, [])
        XCTAssertEqual(f.keys, ["w", "alias"])
        XCTAssertEqual(try f.floats("w", shape: [2, 3]), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try f.floats("alias"), [0, 1, 2, 3, 4, 5])
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a GLOBAL was executed")
    }

    func testHostileStorageReferencesThrow() throws {
        let dir = try TempDir()
        // size [4] with stride [1] and offset 3 reaches element 6 of a 6-element storage.
        var p: [UInt8] = [0x80, 2, 0x7D, 0x8C, 1, 0x77, 0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8)
        p += [0x28, 0x28, 0x8C, 7] + Array("storage".utf8) + [0x63] + Array("torch\nFloatStorage\n".utf8)
        p += [0x8C, 1, 0x30, 0x8C, 3] + Array("cpu".utf8) + [0x4B, 6, 0x74, 0x51, 0x4B, 3, 0x4B, 4, 0x85, 0x4B, 1, 0x85, 0x89, 0x7D, 0x74, 0x52, 0x73, 0x2E]
        let path = try dir.write("h.pth", makeZip([("a/data.pkl", p), ("a/data/0", bytesOf([0, 1, 2, 3, 4, 5]))], zip64: false))
        XCTAssertThrowsError(try PthFile(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): storage '0': size [4], stride [1], offset 3 reach past its 6 elements")
        }
        let short = try dir.write("s.pth", makeZip([("a/data.pkl", p), ("a/data/0", bytesOf([0, 1]))], zip64: false))
        XCTAssertThrowsError(try PthFile(path: short)) { error in
            XCTAssertEqual("\(error)", "\(short): storage 'a/data/0' holds 8 bytes, fewer than 6 × F32")
        }
        let truncated = try dir.write("t.pth", makeZip([("a/data.pkl", Array(p.dropLast(9))), ("a/data/0", bytesOf([0, 1, 2, 3, 4, 5]))], zip64: false))
        XCTAssertThrowsError(try PthFile(path: truncated)) { error in
            XCTAssertEqual("\(error)", "\(truncated) (a/data.pkl): pickle offset 87: truncated")
        }
    }

    func testFuzzTruncatedAndCorruptedCheckpoints() throws {
        let dir = try TempDir()
        let original = try fixturePath("pth/fixture.pth")
        let bytes = try readBytes(original)
        func exercise(_ path: String) -> Bool {
            guard let p = try? PthFile(path: path) else { return false }
            for k in p.keys { _ = try? p.floats(k); _ = try? p.ints(k) }
            return true
        }
        for cut in stride(from: 0, to: bytes.count, by: 97) {
            XCTAssertFalse(exercise(try dir.write("cut.pth", Array(bytes[..<cut]))), "truncated at \(cut) must be rejected")
        }
        let zip = try ZipArchive(file: MappedFile(path: original))
        let pkl = try zip.storedRange(of: XCTUnwrap(zip.entry(named: "fixture/data.pkl")))
        let centralStart = try XCTUnwrap(zip.entries.map { $0.localHeaderOffset }.max()) + 200
        var rng = SplitMix64(state: 2024)
        var loaded = 0
        for i in 0..<800 {
            var corrupt = bytes
            // Alternate between the pickle and the zip structures (central directory, local headers).
            let region = i % 2 == 0 ? pkl.offset..<(pkl.offset + pkl.length) : centralStart..<bytes.count
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                corrupt[Int.random(in: region, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if exercise(try dir.write("flip.pth", corrupt)) { loaded += 1 }
        }
        XCTAssertLessThan(loaded, 800, "corruption never detected: the fuzz did not reach the parsers")
    }
}
