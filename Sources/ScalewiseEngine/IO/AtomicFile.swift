import Foundation

/// Why an output file could not be written. One line, naming the file.
public struct FileWriteError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    public enum Kind: Sendable, Equatable { case exists, io }
    public let kind: Kind
    public let path: String
    public let detail: String

    public var description: String {
        switch kind {
        case .exists: "\(terminalSafe(path)): already exists (use --force to overwrite)"
        case .io: "\(terminalSafe(path)): \(detail)"
        }
    }
    public var errorDescription: String? { description }

    static func io(_ path: String, _ what: String) -> FileWriteError {
        FileWriteError(kind: .io, path: path, detail: "\(what): \(errnoText())")
    }
}

/// Outputs appear whole or not at all: the content goes to a temporary file in the destination's
/// directory (same filesystem, so the final rename is atomic), is fsynced, and is then published.
/// Without `overwrite` the publish is `link(2)`, which fails rather than replace a file that appeared
/// meanwhile; an interrupted run leaves at most a `.<name>.tmp-*` file, never a half-written output.
enum AtomicFile {
    static func write(to path: String, overwrite: Bool, _ body: (_ fd: Int32, _ tempPath: String) throws -> Void) throws {
        if let problem = SafeOpen.outputProblem(path) { throw FileWriteError(kind: .io, path: path, detail: problem) }
        if !overwrite, access(path, F_OK) == 0 { throw FileWriteError(kind: .exists, path: path, detail: "") }
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var temp = ""
        var fd: Int32 = -1
        for _ in 0..<16 {
            temp = dir + "/." + url.lastPathComponent + ".tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw FileWriteError.io(path, "cannot create a temporary file in \(dir)") }
        var published = false
        defer {
            if fd >= 0 { close(fd) }
            if !published { unlink(temp) }
        }
        try body(fd, temp)
        guard fsync(fd) == 0 else { throw FileWriteError.io(path, "fsync failed") }
        guard close(fd) == 0 else { fd = -1; throw FileWriteError.io(path, "close failed") }
        fd = -1
        try publish(temp, as: path, overwrite: overwrite)
        published = true
        let dirFD = open(dir, O_RDONLY | O_CLOEXEC)
        if dirFD >= 0 { _ = fsync(dirFD); close(dirFD) }  // make the new directory entry durable too
    }

    private static func publish(_ temp: String, as path: String, overwrite: Bool) throws {
        if overwrite {
            // Checked again just before the rename: what appeared meanwhile is not replaced either.
            if let problem = SafeOpen.outputProblem(path) { throw FileWriteError(kind: .io, path: path, detail: problem) }
            guard rename(temp, path) == 0 else { throw FileWriteError.io(path, "rename failed") }
            return
        }
        if link(temp, path) == 0 {
            unlink(temp)
            return
        }
        if errno == EEXIST { throw FileWriteError(kind: .exists, path: path, detail: "") }
        // Filesystems without hard links: fall back to check-then-rename.
        guard access(path, F_OK) != 0 else { throw FileWriteError(kind: .exists, path: path, detail: "") }
        guard rename(temp, path) == 0 else { throw FileWriteError.io(path, "rename failed") }
    }

    /// Writes all of `bytes` to `fd`, retrying short writes.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, min(bytes.count - done, 1 << 30))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw FileWriteError.io(path, "write failed") }
            done += n
        }
    }
}
