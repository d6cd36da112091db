import Foundation
import ScalewiseEngine

/// One line of the history index: what the browser lists without opening a PNG.
struct HistoryEntry: Codable, Sendable, Equatable {
    var time: String
    var model: String
    /// The file the model was loaded from, when the UI knew it (re-opening prefers it to the name).
    var modelPath: String?
    var classIndex: Int
    var className: String
    var seed: UInt64
    var cfg: Float
    var topK: Int
    var topP: Float
    var precision: String
    /// The PNG, a name inside the history folder.
    var file: String
    /// The first scale with seeds of its own (a re-roll or a kept variation); nil for a plain image.
    var rerolledFrom: Int? = nil

    enum CodingKeys: String, CodingKey {
        case time, model, seed, cfg, precision, file
        case modelPath = "model_path", classIndex = "class", className = "class_name", topK = "top_k", topP = "top_p"
        case rerolledFrom = "rerolled_from"
    }

    /// "seed 0", or "seed 0 + re-roll@7".
    var seedLabel: String { "seed \(seed)" + (rerolledFrom.map { " + re-roll@\($0)" } ?? "") }
}

/// Every image finished in the UI, as a PNG with its generation record plus an index of JSON lines, newest last,
/// under `$XDG_STATE_HOME/scalewise/history` (`~/.local/state/…` by default). Only the newest `limit` are kept.
/// Files are written atomically and never through a symlink; nothing here traps: failures are thrown as one line.
struct History: Sendable {
    static let limit = 500
    static let indexName = "index.jsonl"
    let dir: String
    var limit = History.limit

    /// The folder from the environment; nil when history is off (`SCALEWISE_NO_HISTORY` set and not "0").
    static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> History? {
        if let off = env["SCALEWISE_NO_HISTORY"], !off.isEmpty, off != "0" { return nil }
        let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        // XDG: a relative XDG_STATE_HOME is invalid and ignored.
        let state = env["XDG_STATE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.local/state"
        return History(dir: state + "/scalewise/history")
    }

    /// Logs one image; returns the PNG's path.
    func add(_ image: RGBImage, record: GenerationRecord, modelPath: String?, now: Date = Date()) throws -> String {
        try makeFolder()
        let stamp = History.stamp(now)
        let base = dir + "/" + stamp.file + "-" + String(Saver.baseName(record).dropFirst("scalewise-".count))
        let path = try Saver.writeFresh(base, ".png") { try PNG.write(image, text: try Saver.text(record), to: $0) }
        let entry = HistoryEntry(time: stamp.iso, model: record.model, modelPath: modelPath, classIndex: record.classIndex,
                                 className: record.className, seed: record.seed, cfg: record.cfg, topK: record.topK,
                                 topP: record.topP, precision: record.precision ?? "fp32",
                                 file: (path as NSString).lastPathComponent, rerolledFrom: record.rerolledFrom)
        // Two UIs finishing at once would each read the index, add their line and rename their copy over the
        // other's: the read-modify-write holds an exclusive lock on a file beside the index.
        try locked {
            var entries = try read()
            entries.append(entry)
            let dropped = entries.count > limit ? Array(entries.prefix(entries.count - limit)) : []
            entries.removeFirst(dropped.count)
            try writeIndex(entries)
            // Only after the index no longer names them; a file that is not a plain file in this folder stays.
            for e in dropped { remove(e.file) }
        }
        return path
    }

    static let lockName = "index.lock"

    /// Runs `body` holding `flock(LOCK_EX)` on the lock file (never followed through a symlink); the lock goes
    /// with the descriptor, so a process that dies holding it frees it.
    private func locked(_ body: () throws -> Void) throws {
        let path = dir + "/" + History.lockName
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TUIError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw TUIError("cannot lock \(path): \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        try body()
    }

    /// The index, oldest first. A missing index is empty; lines that do not parse are skipped.
    func read() throws -> [HistoryEntry] {
        let path = dir + "/" + History.indexName
        guard access(path, F_OK) == 0 else { return [] }
        let data = try SafeOpen.readRegularFile(path, limit: 64 << 20)
        let dec = JSONDecoder()
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? dec.decode(HistoryEntry.self, from: Data($0)) }
    }

    /// The full path of an entry's PNG; nil for a name that would leave the folder.
    func path(of e: HistoryEntry) -> String? {
        guard !e.file.isEmpty, !e.file.contains("/"), e.file != ".", e.file != ".." else { return nil }
        return dir + "/" + e.file
    }

    private func writeIndex(_ entries: [HistoryEntry]) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes: [UInt8] = []
        for e in entries {
            bytes += try enc.encode(e)
            bytes.append(UInt8(ascii: "\n"))
        }
        try writeAtomically(bytes, to: dir + "/" + History.indexName, overwrite: true)
    }

    private func remove(_ file: String) {
        guard let p = path(of: HistoryEntry(time: "", model: "", classIndex: 0, className: "", seed: 0, cfg: 0, topK: 0,
                                            topP: 0, precision: "", file: file)) else { return }
        var st = stat()
        guard lstat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return }
        unlink(p)
    }

    /// Creates the folder and its parents as needed; every level must be a real folder, not a symlink to one
    /// (the state folder is the user's, but a link planted there must not redirect the writes).
    private func makeFolder() throws {
        var path = ""
        for part in dir.split(separator: "/", omittingEmptySubsequences: true) {
            path += "/" + part
            var st = stat()
            if lstat(path, &st) == 0 {
                if (st.st_mode & S_IFMT) == S_IFDIR { continue }
                // Above the state folder, system links (/home → /usr/home) are the system's business.
                if (st.st_mode & S_IFMT) == S_IFLNK && !path.hasSuffix("/scalewise") && !path.hasSuffix("/history")
                    && stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { continue }
                throw TUIError("\(path) is not a folder")
            }
            guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
                throw TUIError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// The time as the index shows it (UTC, ISO 8601) and as file names start (sortable, no colons).
    static func stamp(_ d: Date) -> (iso: String, file: String) {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'"
        let iso = f.string(from: d)
        f.dateFormat = "yyyyMMdd-HHmmss"
        return (iso, f.string(from: d))
    }
}
