import Foundation
import ScalewiseEngine
import ScalewiseFuzz
import XCTest

/// Runs the real binary with a deadline; a run still going at the deadline is killed and reported as such.
struct TimedRun {
    var status: Int32
    var signaled: Bool
    var timedOut: Bool
    var seconds: Double
    var stdout: String
    var stderr: String

    static func run(_ args: [String], timeout: Double = 30, environment: [String: String]? = nil) throws -> TimedRun {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = args
        p.environment = CLITests.withTestCache(ProcessInfo.processInfo.environment.merging(environment ?? [:]) { $1 })
        let outFile = NSTemporaryDirectory() + "scalewise-out-\(UUID().uuidString)"
        let errFile = outFile + ".err"
        _ = FileManager.default.createFile(atPath: outFile, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outFile); try? FileManager.default.removeItem(atPath: errFile) }
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outFile))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errFile))
        p.standardInput = FileHandle.nullDevice
        let start = Date()
        try p.run()
        var timedOut = false
        while p.isRunning {
            if Date().timeIntervalSince(start) > timeout {
                timedOut = true
                kill(p.processIdentifier, SIGKILL)
                break
            }
            usleep(20_000)
        }
        p.waitUntilExit()
        let read = { (f: String) in String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: f))) ?? Data(), as: UTF8.self) }
        return TimedRun(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal, timedOut: timedOut,
                        seconds: Date().timeIntervalSince(start), stdout: read(outFile), stderr: read(errFile))
    }

    /// A clean refusal: exit status 1…127 (not a signal, not killed at the deadline), one line on stderr (a
    /// usage error, status 64, may follow its one-line error with the usage text).
    func assertCleanError(_ what: String, within seconds: Double = 15, contains text: String? = nil,
                          file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(timedOut, "\(what): still running at the deadline", file: file, line: line)
        XCTAssertFalse(signaled, "\(what): killed by signal \(status); stderr: \(stderr.suffix(300))", file: file, line: line)
        XCTAssertTrue((1..<128).contains(status), "\(what): exit status \(status); stderr: \(stderr.suffix(300))", file: file, line: line)
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: true)
        if status == 64 {
            XCTAssertTrue(lines.first?.hasPrefix("Error: ") ?? false, "\(what): \(stderr.suffix(600))", file: file, line: line)
        } else {
            XCTAssertEqual(lines.count, 1, "\(what): stderr is not one line: \(stderr.suffix(600))", file: file, line: line)
        }
        XCTAssertLessThan(self.seconds, seconds, "\(what): took \(self.seconds) s", file: file, line: line)
        if let text { XCTAssertTrue(stderr.contains(text), "\(what): stderr lacks '\(text)': \(stderr)", file: file, line: line) }
    }
}

/// Files crafted at test time from the shipped weights (nothing hostile is committed).
enum Craft {
    static let weights: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("weights").path
    }()

    static func shipped(_ name: String) -> String { weights + "/" + name + ".safetensors" }

    /// A copy of a safetensors file with its `__metadata__` changed by `edit` (tensors untouched).
    static func safetensors(from source: String, to path: String, _ edit: (inout [String: String]) -> Void) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: Any]
        var meta = header["__metadata__"] as? [String: String] ?? [:]
        edit(&meta)
        header["__metadata__"] = meta
        var json = try JSONSerialization.data(withJSONObject: header)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: json.count >> (8 * i))) }
        out += json
        out += data.subdata(in: (8 + n)..<data.count)
        try out.write(to: URL(fileURLWithPath: path))
    }

    /// A config JSON object (as stored in metadata) with some fields replaced; `raw` values are JSON text.
    static func config(_ json: String, _ raw: [String: String]) -> String {
        var obj = try! JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        for k in raw.keys { obj.removeValue(forKey: k) }
        var text = String(decoding: try! JSONSerialization.data(withJSONObject: obj), as: UTF8.self)
        text.removeLast()
        for (k, v) in raw { text += (text.count > 1 ? "," : "") + "\"\(k)\":\(v)" }
        return text + "}"
    }

    /// The bytes of a PNG with `source`'s pixels and no text chunks.
    static func stripRecord(_ source: String) throws -> [UInt8] {
        let tmp = source + ".plain"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try PNG.write(try PNG.read(source).0, to: tmp)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: tmp)))
    }

    /// A PNG with the same pixels as `source` and its `scalewise` record changed by `edit` (JSON text in, out).
    static func png(from source: String, to path: String, _ edit: (String) -> String) throws {
        let (image, text) = try PNG.read(source)
        try PNG.write(image, text: [("parameters", text["parameters"] ?? ""), ("scalewise", edit(text["scalewise"]!))], to: path)
    }
}

/// Just enough of `torch.save`'s format to write test checkpoints: a pickle of tensors over one float storage,
/// in a STORED zip.
struct PthBuilder {
    var pickle: [UInt8] = [0x80, 2]

    mutating func op(_ x: UInt8) { pickle.append(x) }
    mutating func le32(_ v: Int) { for i in 0..<4 { pickle.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func str(_ s: String) { let u = Array(s.utf8); op(0x58); le32(u.count); pickle += u }
    mutating func int(_ v: Int) { op(0x4A); le32(v) }
    mutating func global(_ module: String, _ name: String) { op(0x63); pickle += Array("\(module)\n\(name)\n".utf8) }

    /// `_rebuild_tensor_v2(storage "0" of `numel` floats, 0, shape, contiguous strides)`.
    mutating func tensor(_ shape: [Int], numel: Int) {
        global("torch._utils", "_rebuild_tensor_v2")
        op(0x28)
        op(0x28); str("storage"); global("torch", "FloatStorage"); str("0"); str("cpu"); int(numel); op(0x74); op(0x51)
        int(0)
        op(0x28); for d in shape { int(d) }; op(0x74)
        var strides: [Int] = [], step = 1
        for d in shape.reversed() { strides.insert(step, at: 0); step *= max(d, 1) }
        op(0x28); for s in strides { int(s) }; op(0x74)
        op(0x74)
        op(0x52)
    }

    /// A checkpoint whose state dict holds `tensors` (all views of one storage big enough for the largest).
    static func stateDict(_ tensors: [(String, [Int])]) -> [UInt8] {
        let numel = tensors.map { $0.1.reduce(1, *) }.max() ?? 1
        var b = PthBuilder()
        b.op(0x7D)  // EMPTY_DICT
        b.op(0x28)
        for (k, shape) in tensors { b.str(k); b.tensor(shape, numel: numel) }
        b.op(0x75)  // SETITEMS
        b.op(0x2E)
        return zip([("archive/data.pkl", b.pickle), ("archive/data/0", [UInt8](repeating: 0, count: numel * 4))])
    }

    static func zip(_ entries: [(String, [UInt8])]) -> [UInt8] { PthMutator.zip(entries) }
}
