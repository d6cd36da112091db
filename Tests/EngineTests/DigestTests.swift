import Foundation
import ScalewiseEngine
import XCTest

/// Weight files' SHA-256 (what PNG records keep) and the cache that reads each file version once.
final class DigestTests: XCTestCase {
    var tmp: String!

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "scalewise-digest-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = tmp + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// `sha256sum`'s answer for `path`.
    func sha256sum(_ path: String) throws -> String {
        let p = Process(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(text.prefix(64))
    }

    func testSHA256MatchesSha256sum() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/sha256sum"), "no sha256sum")
        let random = try XCTUnwrap(FileHandle(forReadingAtPath: "/dev/urandom"))
        defer { try? random.close() }
        // Empty, one byte, and more than two read chunks with a ragged end.
        for (i, n) in [0, 1, 17 << 20 | 12345].enumerated() {
            let path = try write("f\(i)", [UInt8](try random.read(upToCount: n) ?? Data()))
            XCTAssertEqual(try FileDigest.sha256(path: path), try sha256sum(path), "\(n) bytes")
        }
        XCTAssertEqual(try FileDigest.sha256(path: try write("abc", Array("abc".utf8))),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testCacheAnswersTheSameFileVersionAndRehashesAChangedOne() throws {
        let cache = DigestCache(directory: tmp + "/cache")
        let path = try write("w", Array(repeating: 7, count: 4096))
        let first = try cache.sha256(of: path)
        XCTAssertFalse(first.cached)
        let second = try cache.sha256(of: path)
        XCTAssertTrue(second.cached, "the second call read the file again")
        XCTAssertEqual(second.hex, first.hex)

        // The answer comes from the cache, not the file: an entry edited for the same file version is believed.
        let file = tmp + "/cache/sha256"
        let planted = String(repeating: "ab", count: 32)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        try text.replacingOccurrences(of: first.hex, with: planted).write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try cache.sha256(of: path).hex, planted)

        // Other bytes of the same size, with the old modification time put back: hashed again.
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        let fd = open(path, O_WRONLY)
        XCTAssertEqual(pwrite(fd, [8], 1, 100), 1)
        close(fd)
        var times = [st.st_atim, st.st_mtim]
        XCTAssertEqual(utimensat(AT_FDCWD, path, &times, 0), 0)
        let third = try cache.sha256(of: path)
        XCTAssertFalse(third.cached)
        XCTAssertEqual(third.hex, try FileDigest.sha256(path: path))
        XCTAssertNotEqual(third.hex, first.hex)
        XCTAssertTrue(try cache.sha256(of: path).cached)

        // A file renamed over it (another inode) is another version too.
        let other = try write("other", Array(repeating: 9, count: 4096))
        XCTAssertEqual(rename(other, path), 0)
        let fourth = try cache.sha256(of: path)
        XCTAssertFalse(fourth.cached)
        XCTAssertEqual(fourth.hex, try FileDigest.sha256(path: path))
    }

    func testCorruptOrHostileCacheIsIgnored() throws {
        let path = try write("w", Array(repeating: 1, count: 1000))
        let truth = try FileDigest.sha256(path: path)
        let dir = tmp + "/cache", file = dir + "/sha256"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let junk: [[UInt8]] = [
            Array("garbage\n\n \(truth) x y z\n\(truth) -1 1.2 3.4 5 6 \(path)\n".utf8),
            (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 131) },
            Array(repeating: UInt8(ascii: "a"), count: 2 << 20),
        ]
        for bytes in junk {
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            XCTAssertEqual(try DigestCache(directory: dir).sha256(of: path).hex, truth)
            XCTAssertTrue(try DigestCache(directory: dir).sha256(of: path).cached, "the rewritten cache holds it")
        }
        // A FIFO or a folder where the cache file goes: neither read (no hang) nor replaced.
        for make in [{ mkfifo(file, 0o600) }, { mkdir(file, 0o700) }] {
            _ = unlink(file)
            _ = rmdir(file)
            XCTAssertEqual(make(), 0)
            let r = try DigestCache(directory: dir).sha256(of: path)
            XCTAssertEqual(r.hex, truth)
            XCTAssertFalse(r.cached)
        }
        // A cache folder that cannot be made: still the right answer.
        XCTAssertEqual(try DigestCache(directory: path + "/sub").sha256(of: path).hex, truth)
    }

    func testCacheIsBounded() throws {
        let dir = tmp + "/cache"
        let cache = DigestCache(directory: dir)
        let first = try write("first", [1]), last = try write("last", [2])
        _ = try cache.sha256(of: first)
        // 600 more entries, as other files would leave them, then one file hashed.
        let old = try String(contentsOfFile: dir + "/sha256", encoding: .utf8)
        let more = (0..<600).map { "\(String(repeating: "0", count: 64)) 1 1.0 1.0 \($0) 1 /absent/f\($0)\n" }.joined()
        try (old + more).write(toFile: dir + "/sha256", atomically: true, encoding: .utf8)
        _ = try cache.sha256(of: last)
        let lines = try String(contentsOfFile: dir + "/sha256", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 512)
        XCTAssertTrue(lines.last!.hasSuffix("/last"))
        XCTAssertTrue(try cache.sha256(of: last).cached)
        XCTAssertFalse(try cache.sha256(of: first).cached, "the oldest entries are dropped")
    }

    func testMissingOrNonRegularFileIsAnError() throws {
        XCTAssertThrowsError(try FileDigest.sha256(path: tmp + "/absent"))
        XCTAssertThrowsError(try DigestCache(directory: tmp).sha256(of: tmp))
    }
}
