import Foundation

/// Each weight file's SHA-256, kept in `$XDG_CACHE_HOME/scalewise/sha256` (default `~/.cache/scalewise/`) so a
/// checkpoint of gigabytes is read for its hash once, not at every load. An entry counts only while the file's
/// absolute path, size, modification and change times (nanoseconds), inode and device are all as they were: a file
/// rewritten, replaced or renamed over is hashed again (the change time also moves when a tool restores the old
/// modification time). The cache is only a shortcut: a missing, corrupt or hostile cache file is ignored, and one
/// that cannot be written is not written.
public struct DigestCache: Sendable {
    /// The cache file; nil: nothing is cached.
    public let file: String?
    /// Entries kept (the newest); each is a line of about 200 bytes.
    static let maxEntries = 512
    /// A larger cache file is not read at all.
    static let maxBytes = 1 << 20

    public init(directory: String?) {
        file = directory.map { $0 + "/sha256" }
    }

    /// `$XDG_CACHE_HOME/scalewise`, else `$HOME/.cache/scalewise` (relative values are ignored, as XDG says).
    public static var standard: DigestCache {
        let env = ProcessInfo.processInfo.environment
        if let x = env["XDG_CACHE_HOME"], x.hasPrefix("/") { return DigestCache(directory: x + "/scalewise") }
        if let h = env["HOME"], h.hasPrefix("/") { return DigestCache(directory: h + "/.cache/scalewise") }
        return DigestCache(directory: nil)
    }

    /// The SHA-256 of the file at `path`, and whether it came from the cache.
    public func sha256(of path: String) throws -> (hex: String, cached: Bool) {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        return try FileDigest.withInput(absolute) { fd in
            // The key of the open file, so the bytes hashed are the ones the key describes.
            let before = Key(fd: fd)
            if let before, let hit = entries().last(where: { $0.path == absolute && $0.key == before }) {
                return (hit.hex, true)
            }
            let hex = try FileDigest.sha256(fd: fd, path: absolute)
            // A file that changed while it was read has no hash worth keeping.
            if let before, Key(fd: fd) == before { store(Entry(hex: hex, key: before, path: absolute)) }
            return (hex, false)
        }
    }

    /// What identifies one version of a file.
    struct Key: Equatable {
        var size: Int64, mtime: String, ctime: String, inode: UInt64, device: UInt64

        init?(fd: Int32) {
            var st = stat()
            guard fstat(fd, &st) == 0 else { return nil }
            size = Int64(st.st_size)
            mtime = "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
            ctime = "\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
            inode = UInt64(st.st_ino)
            device = UInt64(st.st_dev)
        }

        init?(_ fields: [Substring]) {
            guard fields.count == 5, let s = Int64(fields[0]), s >= 0, let i = UInt64(fields[3]), let d = UInt64(fields[4]),
                  Self.isTime(fields[1]), Self.isTime(fields[2]) else { return nil }
            (size, mtime, ctime, inode, device) = (s, String(fields[1]), String(fields[2]), i, d)
        }

        static func isTime(_ t: Substring) -> Bool {
            let parts = t.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 2 && Int64(parts[0]) != nil && Int64(parts[1]) != nil
        }

        var text: String { "\(size) \(mtime) \(ctime) \(inode) \(device)" }
    }

    /// One line of the cache file: `HEX SIZE MTIME CTIME INODE DEVICE PATH` (the path last: it may hold spaces).
    struct Entry {
        var hex: String, key: Key, path: String

        init(hex: String, key: Key, path: String) {
            (self.hex, self.key, self.path) = (hex, key, path)
        }

        init?(line: Substring) {
            let f = line.split(separator: " ", maxSplits: 6, omittingEmptySubsequences: false)
            guard f.count == 7, FileDigest.isSHA256(String(f[0])), let key = Key(Array(f[1...5])), f[6].hasPrefix("/") else { return nil }
            (hex, self.key, path) = (String(f[0]), key, String(f[6]))
        }

        var line: String { "\(hex) \(key.text) \(path)\n" }
    }

    /// The cache's entries, oldest first; lines that do not parse are dropped.
    func entries() -> [Entry] {
        guard let file, let data = try? SafeOpen.readRegularFile(file, limit: Self.maxBytes) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap(Entry.init(line:))
    }

    /// Adds `entry` (replacing the path's older one), keeping the newest `maxEntries`; failures are ignored.
    func store(_ entry: Entry) {
        guard let file, !entry.path.contains("\n") else { return }
        let kept = entries().filter { $0.path != entry.path }.suffix(Self.maxEntries - 1) + [entry]
        let dir = (file as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        try? writeAtomically(Array(kept.map(\.line).joined().utf8), to: file, overwrite: true)
    }
}
