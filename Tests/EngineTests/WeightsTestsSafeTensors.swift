import Foundation
import XCTest
@testable import ScalewiseEngine

final class WeightsTestsSafeTensors: XCTestCase {
    /// Offsets are deliberately unaligned (header length 163 is not a multiple of 8).
    func testReadsHandBuiltFileWithEveryDType() throws {
        let dir = try TempDir()
        var data: [UInt8] = []
        func put(_ b: [UInt8]) -> String { defer { data += b }; return "[\(data.count),\(data.count + b.count)]" }
        let f32 = put(bytesOf([1, -2.5, 3e-3, .infinity, 0, 7]))
        let f16 = put(le(0x3E00, 2) + le(0xC000, 2))           // 1.5, -2
        let bf16 = put(le(0x3F80, 2) + le(0xC060, 2))          // 1.0, -3.5
        let i8 = put([0x01, 0xFF, 0x80])
        let i32 = put(le(-5, 4) + le(Int(Int32.max), 4))
        let i64 = put(le(1 << 40, 8))
        let u8 = put([0, 200])
        let bool = put([1, 0, 1])
        let header = """
        {"w":{"dtype":"F32","shape":[2,3],"data_offsets":\(f32)},"h":{"dtype":"F16","shape":[2],"data_offsets":\(f16)},\
        "b":{"dtype":"BF16","shape":[2],"data_offsets":\(bf16)},"c":{"dtype":"I8","shape":[3],"data_offsets":\(i8)},\
        "i":{"dtype":"I32","shape":[1,2],"data_offsets":\(i32)},"l":{"dtype":"I64","shape":[],"data_offsets":\(i64)},\
        "u":{"dtype":"U8","shape":[2],"data_offsets":\(u8)},"m":{"dtype":"BOOL","shape":[3],"data_offsets":\(bool)},\
        "__metadata__":{"format":"pt","note":"é\\n\\u732b"}}
        """
        let path = try dir.write("a.safetensors", safetensors(header, data))
        let st = try SafeTensorsFile(path: path)
        XCTAssertEqual(st.keys, ["w", "h", "b", "c", "i", "l", "u", "m"])
        XCTAssertEqual(st.metadata, ["format": "pt", "note": "é\n猫"])
        XCTAssertEqual(try st.shape("w"), [2, 3])
        XCTAssertEqual(try st.floats("w", shape: [2, 3]), [1, -2.5, 3e-3, .infinity, 0, 7])
        XCTAssertEqual(try st.floats("h"), [1.5, -2])
        XCTAssertEqual(try st.floats("b"), [1, -3.5])
        XCTAssertEqual(try st.floats("c"), [1, -1, -128])
        XCTAssertEqual(try st.ints("c"), [1, -1, -128])
        XCTAssertEqual(try st.ints("i"), [-5, Int(Int32.max)])
        XCTAssertEqual(try st.shape("l"), [])
        XCTAssertEqual(try st.ints("l"), [1 << 40])
        XCTAssertEqual(try st.ints("u"), [0, 200])
        XCTAssertEqual(try st.ints("m"), [1, 0, 1])
        XCTAssertEqual(try st.dtype("b"), .bf16)
        XCTAssertThrowsError(try st.ints("w")) { XCTAssertEqual(($0 as? WeightsError)?.kind, .wrongDType) }
    }

    func testInt8WithQscaleIsDequantizedAndScalesAreHidden() throws {
        let dir = try TempDir()
        let q: [UInt8] = [1, 2, 0xFE, 4, 0x80, 6].map { $0 }     // [[1, 2, -2], [4, -128, 6]]
        let scale = bytesOf([0.5, 0.25])
        let header = """
        {"q":{"dtype":"I8","shape":[2,3],"data_offsets":[0,6]},"q.qscale":{"dtype":"F32","shape":[2],"data_offsets":[6,14]},\
        "r":{"dtype":"I8","shape":[2,1],"data_offsets":[14,16]},"r.qscale":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},\
        "bad":{"dtype":"I8","shape":[3],"data_offsets":[20,23]},"bad.qscale":{"dtype":"F32","shape":[2],"data_offsets":[23,31]}}
        """
        let data = q + scale + [3, 0xFD] + le(0x3800, 2) + le(0x4000, 2) + [1, 2, 3] + bytesOf([1, 1])
        let st = try SafeTensorsFile(path: try dir.write("q.safetensors", safetensors(header, data)))
        XCTAssertEqual(st.keys, ["q", "r", "bad"])
        XCTAssertTrue(st.has("q.qscale"))
        XCTAssertEqual(try st.floats("q"), [0.5, 1, -1, 1, -32, 1.5])
        XCTAssertEqual(try st.floats("r"), [1.5, -6])            // scales 0.5 and 2 stored as F16
        XCTAssertEqual(try st.ints("q"), [1, 2, -2, 4, -128, 6])  // raw values stay reachable
        XCTAssertThrowsError(try st.floats("bad")) { error in
            XCTAssertEqual("\(error)", "\(st.path): tensor 'bad.qscale': shape [2] does not give one scale per row of [3]")
        }
    }

    func testMissingKeyAndWrongShapeNameKeyAndFile() throws {
        let dir = try TempDir()
        let path = try dir.write("m.safetensors", safetensors(#"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#, bytesOf([Float](repeating: 1, count: 6))))
        let st = try SafeTensorsFile(path: path)
        XCTAssertThrowsError(try st.floats("w", shape: [3, 2])) { error in
            XCTAssertEqual((error as? WeightsError)?.kind, .wrongShape)
            XCTAssertEqual("\(error)", "\(path): tensor 'w': shape [2, 3], expected [3, 2]")
        }
        XCTAssertThrowsError(try st.floats("blocks.0.attn")) { error in
            XCTAssertEqual("\(error)", "\(path): tensor 'blocks.0.attn': not found")
        }
        XCTAssertFalse(st.has("blocks.0.attn"))
    }

    func testMalformedFilesEachGiveOneLineError() throws {
        let dir = try TempDir()
        let ok = bytesOf([1, 2])
        let cases: [(String, [UInt8], WeightsError.Kind, String)] = [
            ("short", [1, 2, 3], .fileTooShort, "file too short (3 bytes) for a safetensors header"),
            ("absurd", le(1 << 40, 8), .badHeader, "header length 1099511627776 is absurd (limit 100000000)"),
            ("pastEOF", le(50, 8) + Array("{}".utf8), .badHeader, "header length 50 runs past the end of the file (10 bytes)"),
            ("json", safetensors(#"{"w":{"dtype":"F32",}"#, ok), .invalidJSON, "invalid JSON header at byte 28: expected a string key"),
            ("notObject", safetensors("[1]", []), .invalidJSON, "JSON header is not an object"),
            ("dtype", safetensors(#"{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#, [0, 0]), .unknownDType,
             "tensor 'w': unknown dtype 'F8_E4M3'"),
            ("negative", safetensors(#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, ok), .badShape,
             "tensor 'w': shape [-2] has a negative dim or too many elements"),
            ("overflow", safetensors(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, ok), .badShape,
             "tensor 'w': shape [4294967296, 4294967296] has a negative dim or too many elements"),
            ("hugeNumber", safetensors(#"{"w":{"dtype":"F32","shape":[1e30],"data_offsets":[0,8]}}"#, ok), .badHeader,
             "tensor 'w': 'shape' holds a non-integer"),
            ("range", safetensors(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, ok), .badOffsets,
             "tensor 'w': data_offsets [8, 16] run past the end of the data (8 bytes)"),
            ("reversed", safetensors(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, ok), .badOffsets,
             "tensor 'w': data_offsets [8, 0] are not [begin, end] with 0 ≤ begin ≤ end"),
            ("count", safetensors(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, ok), .badOffsets,
             "tensor 'w': data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 3 × 4"),
            ("overlap", safetensors(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, ok),
             .badOffsets, "tensor 'b': data_offsets [4, 8] overlap 'a' [0, 8]"),
            ("duplicate", safetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, ok),
             .badHeader, "tensor 'a': appears twice in the header"),
            ("metadata", safetensors(#"{"__metadata__":{"epoch":3}}"#, []), .badHeader, "__metadata__ value for 'epoch' is not a string"),
            ("noShape", safetensors(#"{"w":{"dtype":"F32","data_offsets":[0,8]}}"#, ok), .badHeader, "tensor 'w': header entry has no 'shape'"),
            ("newlineKey", safetensors(#"{"a\nb":{"dtype":"X","shape":[],"data_offsets":[0,0]}}"#, []), .unknownDType,
             "tensor 'a\\nb': unknown dtype 'X'"),
        ]
        for (name, bytes, kind, detail) in cases {
            let path = try dir.write(name, bytes)
            XCTAssertThrowsError(try SafeTensorsFile(path: path), name) { error in
                guard let e = error as? WeightsError else { return XCTFail("\(name): \(error)") }
                XCTAssertEqual(e.kind, kind, name)
                XCTAssertEqual(e.description, "\(path): \(detail)", name)
                XCTAssertFalse(e.description.contains("\n"), name)
            }
        }
        XCTAssertThrowsError(try SafeTensorsFile(path: dir.file("absent"))) { error in
            XCTAssertEqual("\(error)", "\(dir.file("absent")): cannot open: No such file or directory")
        }
    }

    func testWriterRoundTripsEveryDTypeAndMetadata() throws {
        let dir = try TempDir()
        let values: [Float] = [0.1, -1.0 / 3, 65520, 1e-8, -0.0, 3.25]
        var w = SafeTensorsWriter(metadata: ["scalewise": "{\"v\":1}", "format": "pt"])
        try w.add("a.f32", shape: [2, 3], values: values)
        try w.add("a.f16", shape: [6], values: values, as: .f16)
        try w.add("a.bf16", shape: [3, 2], values: values, as: .bf16)
        try w.add("lazy", shape: [1], as: .f32) { [42] }
        try w.add("ids", shape: [2], dtype: .i64) { le(-3, 8) + le(1 << 33, 8) }
        let path = dir.file("out.safetensors")
        try w.write(to: path)
        let st = try SafeTensorsFile(path: path)
        XCTAssertEqual(Set(st.keys), ["a.f32", "a.f16", "a.bf16", "lazy", "ids"])
        XCTAssertEqual(st.metadata, ["scalewise": "{\"v\":1}", "format": "pt"])
        XCTAssertEqual(try st.floats("a.f32", shape: [2, 3]), values)
        XCTAssertEqual(try st.dtype("a.f16"), .f16)
        // Expected values are torch's `.half()` / `.bfloat16()` of the same inputs (65520 → inf in F16).
        XCTAssertEqual(try st.floats("a.f16"), [0.0999755859375, -0.333251953125, .infinity, 0, -0.0, 3.25])
        XCTAssertEqual(try st.floats("a.bf16", shape: [3, 2]), [0.10009765625, -0.333984375, 65536, 1.0011717677116394e-08, -0.0, 3.25])
        XCTAssertEqual(try st.floats("lazy"), [42])
        XCTAssertEqual(try st.ints("ids"), [-3, 1 << 33])
        let bytes = try readBytes(path)
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        XCTAssertEqual(headerLength % 8, 0, "header padded so the data is 8-byte aligned")
        XCTAssertEqual(dir.contents, ["out.safetensors"], "no temporary file left behind")
    }

    func testWriterOutputLoadsInOfficialPythonReader() throws {
        let dir = try TempDir()
        var w = SafeTensorsWriter(metadata: ["k": "v"])
        try w.add("x", shape: [3], values: [1, 2, 3], as: .f16)
        try w.add("y", shape: [2, 2], values: [0.5, -1, 2, 4])
        try w.add("z", shape: [1], dtype: .u8) { [9] }
        let path = dir.file("py.safetensors")
        try w.write(to: path)
        let script = """
        import sys
        try:
            from safetensors import safe_open
        except ImportError:
            sys.exit(77)
        with safe_open(sys.argv[1], "numpy") as f:
            print(f.metadata(), *[(k, f.get_tensor(k).dtype.name, f.get_tensor(k).tolist()) for k in sorted(f.keys())])
        """
        guard let (status, output) = python(script, args: [path]) else { throw XCTSkip("python3 with safetensors not available") }
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(output, "{'k': 'v'} ('x', 'float16', [1.0, 2.0, 3.0]) ('y', 'float32', [[0.5, -1.0], [2.0, 4.0]]) ('z', 'uint8', [9])\n")
    }

    func testWriterRefusesToOverwriteUnlessAsked() throws {
        let dir = try TempDir()
        let path = dir.file("w.safetensors")
        var first = SafeTensorsWriter()
        try first.add("a", shape: [1], values: [1])
        try first.write(to: path)
        var second = SafeTensorsWriter()
        try second.add("a", shape: [1], values: [2])
        XCTAssertThrowsError(try second.write(to: path)) { error in
            XCTAssertEqual(error as? FileWriteError, FileWriteError(kind: .exists, path: path, detail: ""))
            XCTAssertEqual("\(error)", "\(path): already exists (use --force to overwrite)")
        }
        XCTAssertEqual(try SafeTensorsFile(path: path).floats("a"), [1])
        try second.write(to: path, overwrite: true)
        XCTAssertEqual(try SafeTensorsFile(path: path).floats("a"), [2])
        XCTAssertEqual(dir.contents, ["w.safetensors"])
    }

    func testWriterFailureLeavesNothingBehind() throws {
        struct Boom: Error {}
        let dir = try TempDir()
        var w = SafeTensorsWriter()
        try w.add("a", shape: [2], values: [1, 2])
        try w.add("b", shape: [2], as: .f16) { throw Boom() }
        XCTAssertThrowsError(try w.write(to: dir.file("x.safetensors"))) { XCTAssertTrue($0 is Boom) }
        try w.add("c", shape: [3], as: .f32) { [1] }
        XCTAssertEqual(dir.contents, [])
        XCTAssertThrowsError(try w.add("a", shape: [1], values: [0])) { XCTAssertEqual("\($0)", "(writer): tensor 'a': added twice") }
        XCTAssertThrowsError(try w.add("d", shape: [2, 2], values: [0])) { XCTAssertEqual("\($0)", "(writer): tensor 'd': 1 values for shape [2, 2]") }
        XCTAssertThrowsError(try w.add("e", shape: [1], values: [0], as: .i32))
    }

    /// Truncations and header corruptions must throw or load — never crash or read out of bounds.
    func testFuzzTruncatedAndCorruptedFiles() throws {
        let dir = try TempDir()
        var w = SafeTensorsWriter(metadata: ["a": "b"])
        for i in 0..<12 { try w.add("t\(i)", shape: [i % 3 + 1, 5], values: (0..<(5 * (i % 3 + 1))).map(Float.init), as: i % 2 == 0 ? .f32 : .bf16) }
        let good = dir.file("good.safetensors")
        try w.write(to: good)
        let bytes = try readBytes(good)
        let headerEnd = 8 + Int(bytes[0]) + Int(bytes[1]) << 8
        func exercise(_ path: String) -> Bool {
            guard let st = try? SafeTensorsFile(path: path) else { return false }
            for k in st.keys { _ = try? st.floats(k) }
            return true
        }
        XCTAssertTrue(exercise(good))
        for cut in stride(from: 0, to: bytes.count, by: 97) {
            let path = try dir.write("cut", Array(bytes[..<cut]))
            XCTAssertFalse(exercise(path), "truncated at \(cut) must be rejected")
        }
        var rng = SplitMix64(state: 97)
        var loaded = 0
        for _ in 0..<3000 {
            var corrupt = bytes
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                corrupt[Int.random(in: 0..<headerEnd, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if exercise(try dir.write("flip", corrupt)) { loaded += 1 }
        }
        XCTAssertLessThan(loaded, 3000, "corruption never detected: the fuzz did not reach the validator")
    }
}
