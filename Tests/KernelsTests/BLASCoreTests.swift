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

    /// Natively, CPUID and the kernel's /proc/cpuinfo agree on every flag `better` looks at.
    func testCPUIDFlagsMatchCpuinfo() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("no x86 flags line in /proc/cpuinfo")
        }
        let listed = Set(line.split(separator: ":")[1].split(separator: " ").map(String.init))
        let watched: Set<String> = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd", "avx512_bf16"]
        XCTAssertEqual(BLASCore.cpuFlags(), listed.intersection(watched))
    }

    func testThisProcessNamesItsKernels() {
        XCTAssertFalse(BLASCore.name.isEmpty)
        XCTAssertGreaterThan(BLASCore.sgemmCeiling(), 1)
    }
}
