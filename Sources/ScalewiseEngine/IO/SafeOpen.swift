import Foundation

/// Opening files named from outside without blocking or clobbering what is not ours.
///
/// Inputs: `open(2)` on a FIFO blocks until a writer appears, and reading a device may never end, so an
/// input is opened with O_NONBLOCK (which makes a FIFO open return at once) and must then be a regular file.
/// Outputs: only an absent path or a regular file may be replaced; a device node, FIFO, socket, directory
/// or symlink is refused whatever `--force` says (renaming over `/dev/null` would replace the device node).
public enum SafeOpen {
    /// What kind of thing `st` describes, for messages.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symlink"
        default: "not a regular file"
        }
    }

    /// A read-only descriptor of the regular file at `path` (symlinks followed) and its size, or the reason
    /// it cannot be one. Never blocks.
    public static func openInput(_ path: String) -> Result<(fd: Int32, size: Int), InputOpenError> {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return .failure(InputOpenError(path: path, detail: "cannot open: \(errnoText())", cannotOpen: errnoText())) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = InputOpenError(path: path, detail: "cannot stat: \(errnoText())")
            close(fd)
            return .failure(e)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return .failure(InputOpenError(path: path, detail: "is \(kind(st.st_mode)), not a regular file"))
        }
        // Regular files never block; clear the flag so reads behave as usual.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return .success((fd, Int(st.st_size)))
    }

    /// The bytes of the regular file at `path` (a config, a manifest, a cache reference), at most `limit` of
    /// them; a FIFO, device or directory, or a larger file, is an error instead of a hang or a huge read.
    public static func readRegularFile(_ path: String, limit: Int) throws -> Data {
        let (fd, size): (Int32, Int)
        switch openInput(path) {
        case .success(let r): (fd, size) = r
        case .failure(let e): throw InputError("\(path): \(e.detail)")
        }
        defer { close(fd) }
        guard size <= limit else { throw InputError("\(path): \(size) bytes, more than the \(limit) allowed") }
        var data = Data(count: size)
        var done = 0
        while done < size {
            let n = data.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        return data.prefix(done)
    }

    /// Nil when `path` may be written as an output (absent, or a regular file that is not a symlink), else
    /// what it is.
    public static func outputProblem(_ path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return errno == ENOENT ? nil : "cannot stat: \(errnoText())" }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            return "is \(kind(st.st_mode)); only regular files are written or replaced"
        }
        return nil
    }

    /// Opens `path` for appending (a log): created when absent, refused when it is not a regular file.
    public static func openAppend(_ path: String) -> UnsafeMutablePointer<FILE>? {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0o644)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { close(fd); return nil }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        guard let f = fdopen(fd, "a") else { close(fd); return nil }
        return f
    }
}

public struct InputOpenError: Error, Sendable {
    public let path: String
    public let detail: String
    /// strerror when open(2) itself failed.
    public var cannotOpen: String? = nil
}
