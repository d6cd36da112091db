import Foundation
@testable import ScalewiseKernels
import XCTest

final class BLASCoreTests: XCTestCase {
    let avx512: Set<String> = ["sse3", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]

    func testGenericFallbackIsReplacedByTheBestSupportedKernels() {
        // Debian 12's OpenBLAS on a 5th-generation Xeon reports Prescott (measured: 58 vs 287 GFLOP/s).
        XCTAssertEqual(BLASCore.better(than: "Prescott", flags: avx512.union(["avx512_bf16"])), "Cooperlake")
        XCTAssertEqual(BLASCore.better(than: "Prescott", flags: avx512), "SkylakeX")
        XCTAssertEqual(BLASCore.better(than: "Nehalem", flags: ["sse3", "avx2", "fma"]), "Haswell")
        XCTAssertNil(BLASCore.better(than: "Prescott", flags: ["sse3", "avx"]), "no AVX2: nothing better to ask for")
        XCTAssertNil(BLASCore.better(than: "Prescott", flags: ["avx512f", "avx2"]), "partial AVX-512 is not SkylakeX")
    }

    func testRecognisedCoresAreLeftAlone() {
        for core in ["SkylakeX", "Cooperlake", "SapphireRapids", "Haswell", "Zen"] {
            XCTAssertNil(BLASCore.better(than: core, flags: avx512.union(["avx512_bf16"])), core)
        }
    }

    func testCPUFlagsAreReadFromCpuinfo() throws {
        let path = NSTemporaryDirectory() + "cpuinfo-\(UUID().uuidString)"
        try "processor\t: 0\nmodel\t\t: 207\nflags\t\t: fpu sse3 avx2 fma avx512f\nbugs\t\t: spectre_v1\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(BLASCore.cpuFlags(cpuinfo: path), ["fpu", "sse3", "avx2", "fma", "avx512f"])
        XCTAssertEqual(BLASCore.cpuFlags(cpuinfo: path + ".missing"), [])
    }

    func testThisProcessNamesItsKernels() {
        XCTAssertFalse(BLASCore.name.isEmpty)
        XCTAssertGreaterThan(BLASCore.sgemmCeiling(), 1)
    }
}
