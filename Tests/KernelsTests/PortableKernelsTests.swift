import Foundation
import XCTest

/// The C kernels (Sources/CKernels) built for arm64 with the toolchain's clang and Debian's arm64 C library, and
/// run under QEMU's user-mode emulation: `Portable/kernels_check.c` checks bf16 rounding, int8 quantisation
/// and the portable bf16 attention kernel against plain formulas. The Swift code has no
/// architecture-specific parts; these are the loops that do.
final class PortableKernelsTests: XCTestCase {
    func testCKernelsOnArm64() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let fm = FileManager.default
        let sysroot = "/usr/aarch64-linux-gnu"
        guard let qemu = ["/usr/bin/qemu-aarch64", "/usr/local/bin/qemu-aarch64"].first(where: fm.isExecutableFile),
              fm.fileExists(atPath: sysroot + "/lib/libc.a"),
              let clang = Self.tool("clang") else {
            return XCTFail("qemu-aarch64, clang or the arm64 C library missing: tools/setup.sh installs qemu-user, "
                           + "libc6-dev-arm64-cross and libgcc-12-dev-arm64-cross")
        }
        let out = NSTemporaryDirectory() + "scalewise-kernels-arm64-\(UUID().uuidString)"
        defer { try? fm.removeItem(atPath: out) }
        let src = root.appendingPathComponent("Sources/CKernels").path
        let build = try Self.run(clang, ["--target=aarch64-linux-gnu", "--sysroot=" + sysroot, "--gcc-toolchain=/usr",
                                         "-fuse-ld=lld", "-static", "-O2", "-Wall", "-Werror", "-I", src + "/include",
                                         src + "/kernels.c", src + "/attention.c",
                                         root.appendingPathComponent("Tests/KernelsTests/Portable/kernels_check.c").path,
                                         "-lm", "-o", out])
        XCTAssertEqual(build.status, 0, build.output)
        guard build.status == 0 else { return }
        let check = try Self.run(qemu, [out])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertEqual(check.output.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
    }

    /// `name` on PATH, or next to the running Swift toolchain.
    static func tool(_ name: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/opt/swift/usr/bin", "/usr/bin"]
        return dirs.map { $0 + "/" + name }.first(where: FileManager.default.isExecutableFile)
    }

    static func run(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
