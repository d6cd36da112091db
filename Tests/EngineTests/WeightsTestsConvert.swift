import Foundation
import XCTest
@testable import ScalewiseEngine

final class WeightsTestsConvert: XCTestCase {
    func testConvertCheckpointToF16KeepsIntegerBuffersAndDequantizes() throws {
        let dir = try TempDir()
        let input = try fixturePath("pth/fixture.pth")
        let output = dir.file("var.safetensors")
        let summary = try convertToSafeTensors(inputs: [input], output: output, dtype: .f16, metadata: ["model": "var-d16"])
        XCTAssertEqual(summary.tensors, 312)
        let st = try SafeTensorsFile(path: output)
        let source = try PthFile(path: input)
        XCTAssertEqual(Set(st.keys), Set(source.keys))
        XCTAssertFalse(st.has("q.qscale"), "quantized tensors are written dequantized")
        XCTAssertEqual(st.metadata, ["model": "var-d16"])
        for key in source.keys {
            XCTAssertEqual(try st.shape(key), try source.shape(key), key)
            let stored = try source.dtype(key)
            if stored.isFloatingPoint || key == "q" {
                XCTAssertEqual(try st.dtype(key), .f16, key)
                XCTAssertEqual(try st.floats(key), try source.floats(key).map { Float(Float16($0)) }, key)
            } else {
                XCTAssertEqual(try st.dtype(key), stored, key)
                XCTAssertEqual(try st.ints(key), try source.ints(key), key)
            }
        }
        XCTAssertEqual(try st.ints("lvl_1L"), [0, 1, 1 << 40, -7])
        XCTAssertEqual(try st.floats("bf16"), [1, -3.5, .infinity, 0.10009765625])  // 2^100 overflows F16; the BF16 value fits exactly
        XCTAssertEqual(try st.floats("noncontig", shape: [4, 3]), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
    }

    func testConvertMergesSourcesAndRejectsDuplicateKeys() throws {
        let dir = try TempDir()
        var extra = SafeTensorsWriter(metadata: ["from": "extra", "format": "pt"])
        try extra.add("head.weight", shape: [2], values: [0.5, -0.5])
        let extraPath = dir.file("extra.safetensors")
        try extra.write(to: extraPath)
        let vae = try fixturePath("pth/fixture.pth")
        let merged = dir.file("merged.safetensors")
        try convertToSafeTensors(inputs: [extraPath, vae], output: merged, metadata: ["format": "scalewise"])
        let st = try SafeTensorsFile(path: merged)
        XCTAssertEqual(st.metadata, ["from": "extra", "format": "scalewise"])
        XCTAssertEqual(try st.floats("head.weight"), [0.5, -0.5])
        XCTAssertEqual(try st.floats("blocks.299.w"), [299, 299.25, 299.5])
        XCTAssertEqual(try st.dtype("blocks.299.w"), .f32)
        XCTAssertEqual(st.keys.count, 313)

        XCTAssertThrowsError(try convertToSafeTensors(inputs: [extraPath, merged], output: dir.file("dup.safetensors"))) { error in
            XCTAssertEqual("\(error)", "\(merged): tensor 'head.weight': also present in \(extraPath)")
        }
        XCTAssertThrowsError(try convertToSafeTensors(inputs: [extraPath], output: merged)) { error in
            XCTAssertEqual("\(error)", "\(merged): already exists (use --force to overwrite)")
        }
        XCTAssertThrowsError(try convertToSafeTensors(inputs: [extraPath], output: dir.file("x"), dtype: .i8)) { error in
            XCTAssertEqual((error as? WeightsError)?.kind, .badArgument)
        }
        try convertToSafeTensors(inputs: [extraPath], output: merged, dtype: .bf16, overwrite: true)
        XCTAssertEqual(try SafeTensorsFile(path: merged).keys, ["head.weight"])
        XCTAssertEqual(dir.contents, ["extra.safetensors", "merged.safetensors"])
    }
}
