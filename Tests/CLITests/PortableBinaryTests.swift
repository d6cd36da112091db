import Foundation
import XCTest

/// The default build runs on any x86-64: the binary the tests built, run under QEMU's user-mode emulation of a
/// CPU without AVX (Westmere, 2010: SSE4.2 only), generates an image, and `auto` falls back to fp32 there.
final class PortableBinaryTests: XCTestCase {
    #if arch(x86_64)
    func testRunsOnCPUWithoutAVX() throws {
        let qemu = ["/usr/bin/qemu-x86_64", "/usr/local/bin/qemu-x86_64"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let qemu else { return XCTFail("qemu-x86_64 not found: tools/setup.sh installs qemu-user") }
        let tmp = NSTemporaryDirectory() + "scalewise-westmere-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let westmere = ["-cpu", "Westmere", CLITests.binary.path]
        let info = try CLITests.run(URL(fileURLWithPath: qemu), westmere + ["info", "glyphs-var"], environment: nil)
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("precision:  fp32 (auto"), info.stdout)
        let out = tmp + "/a.png"
        let gen = try CLITests.run(URL(fileURLWithPath: qemu), westmere + ["generate", "-m", "glyphs-var", "--class", "A",
                                                                          "--seed", "3", "-o", out], environment: nil)
        XCTAssertEqual(gen.status, 0, gen.stderr)
        let png = try Data(contentsOf: URL(fileURLWithPath: out))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }
    #endif
}
