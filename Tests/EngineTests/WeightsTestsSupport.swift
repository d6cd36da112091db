import Foundation
import XCTest

/// A fresh directory per test, removed afterwards. On tmpfs when there is one: the fuzz tests write
/// thousands of small files, and disk I/O shared with parallel builds made them 20× slower.
final class TempDir {
    let path: String
    init() throws {
        let base = access("/dev/shm", W_OK) == 0 ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        path = base.appendingPathComponent("scalewise-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path).sorted()) ?? [] }
}

func readBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

/// Deterministic bytes for fuzzing (SplitMix64), so a failure reproduces.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func le(_ v: UInt64, _ width: Int) -> [UInt8] { (0..<width).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
func le(_ v: Int, _ width: Int) -> [UInt8] { le(UInt64(bitPattern: Int64(v)), width) }
func bytesOf(_ floats: [Float]) -> [UInt8] { floats.flatMap { le(UInt64($0.bitPattern), 4) } }

/// A safetensors file from a literal header, independent of `SafeTensorsWriter`.
func safetensors(_ header: String, _ data: [UInt8]) -> [UInt8] {
    le(header.utf8.count, 8) + Array(header.utf8) + data
}

/// The committed torch.save fixture (see Fixtures/pth/make_fixture.py).
func fixturePath(_ relative: String) throws -> String {
    let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    return root.appendingPathComponent(relative).path
}

/// Writes a zip of STORED entries, either classic or with every size and offset in ZIP64 form
/// (0xFFFFFFFF placeholders + extra field, ZIP64 end record and locator), as miniz does for files
/// over 4 GB. CRCs are left zero: the reader does not check them (nor does torch).
func makeZip(_ entries: [(name: String, data: [UInt8])], zip64: Bool, method: UInt16 = 0) -> [UInt8] {
    var out: [UInt8] = []
    var central: [UInt8] = []
    for (name, data) in entries {
        let offset = out.count
        let nameBytes = Array(name.utf8)
        let sizes = zip64 ? le(0xFFFF_FFFF as UInt64, 4) + le(0xFFFF_FFFF as UInt64, 4) : le(data.count, 4) + le(data.count, 4)
        let localExtra = zip64 ? le(1, 2) + le(16, 2) + le(data.count, 8) + le(data.count, 8) : []
        // Pad the local extra so data starts 64-aligned, like torch's writer.
        var padding: [UInt8] = []
        let dataStart = offset + 30 + nameBytes.count + localExtra.count
        let pad = (64 - (dataStart + 4) % 64) % 64
        if dataStart % 64 != 0 { padding = le(0x4655, 2) + le(pad, 2) + [UInt8](repeating: 0x5A, count: pad) }
        out += le(0x0403_4b50, 4) + le(45, 2) + le(0, 2) + le(Int(method), 2) + le(0, 4) + le(0, 4) + sizes
        out += le(nameBytes.count, 2) + le(localExtra.count + padding.count, 2) + nameBytes + localExtra + padding + data
        let centralExtra = zip64 ? le(1, 2) + le(24, 2) + le(data.count, 8) + le(data.count, 8) + le(offset, 8) : []
        central += le(0x0201_4b50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(Int(method), 2) + le(0, 4) + le(0, 4) + sizes
        central += le(nameBytes.count, 2) + le(centralExtra.count, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4)
        central += (zip64 ? le(0xFFFF_FFFF as UInt64, 4) : le(offset, 4)) + nameBytes + centralExtra
    }
    let cdOffset = out.count
    out += central
    if zip64 {
        let zip64EOCD = out.count
        out += le(0x0606_4b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4)
        out += le(entries.count, 8) + le(entries.count, 8) + le(central.count, 8) + le(cdOffset, 8)
        out += le(0x0706_4b50, 4) + le(0, 4) + le(zip64EOCD, 8) + le(1, 4)
        out += le(0x0605_4b50, 4) + le(0, 2) + le(0, 2) + le(0xFFFF, 2) + le(0xFFFF, 2)
        out += le(0xFFFF_FFFF as UInt64, 4) + le(0xFFFF_FFFF as UInt64, 4) + le(0, 2)
    } else {
        out += le(0x0605_4b50, 4) + le(0, 2) + le(0, 2) + le(entries.count, 2) + le(entries.count, 2)
        out += le(central.count, 4) + le(cdOffset, 4) + le(0, 2)
    }
    return out
}

/// Runs python3 with a script; nil when python3 or a needed module is missing (the test then skips).
func python(_ script: String, args: [String] = []) -> (status: Int32, output: String)? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", script] + args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    guard (try? p.run()) != nil else { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    if p.terminationStatus == 77 { return nil }  // the script's "module missing" signal
    return (p.terminationStatus, text)
}
